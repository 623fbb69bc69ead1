"""Gateway: the edge. AIGES JSON over HTTP and raw gRPC in, loader.v1 calls out to workers."""
