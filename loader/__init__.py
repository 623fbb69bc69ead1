"""Loader worker: hosts one AIGES wrapper behind the loader.v1 gRPC service."""
