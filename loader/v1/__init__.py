"""The loader.v1 contract both hops import: messages, AIGES codes, status details, wire names.

It depends on grpc and protobuf only. `loader_pb2*` is generated from proto/loader/v1 by
`make proto` and never edited; `codes`, `status` and `wire` are written by hand.
"""
