"""PyTriton echo server: model "echo" returns its BYTES input INPUT as OUTPUT.

Run with the triton venv's interpreter:

    bench/.venvs/triton/bin/python bench/peers/triton/pytriton_echo.py \
        --http-port 8000 --grpc-port 8001 [--instances N]

Ready when GET http://127.0.0.1:HTTP_PORT/v2/health/ready returns 200.
Blocks until SIGTERM or SIGINT, then stops tritonserver and the Python
backend stubs (PyTriton's own shutdown) and exits 0.
"""

import argparse
import logging
import os
import signal
import sys
import sysconfig


def _prefer_own_libpython():
    # PyTriton starts the Python-backend stub, which links libpython3.X.so,
    # with this process's environment. Put this interpreter's libpython first
    # so the stub embeds the same Python build as the venv (otherwise the
    # loader may pick a distro libpython of the same minor version).
    libdir = sysconfig.get_config_var("LIBDIR")
    if libdir:
        current = os.environ.get("LD_LIBRARY_PATH", "")
        os.environ["LD_LIBRARY_PATH"] = f"{libdir}:{current}" if current else libdir


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--http-port", type=int, required=True)
    ap.add_argument("--grpc-port", type=int, required=True)
    ap.add_argument("--instances", type=int, default=1, help="model instances (default 1)")
    ap.add_argument("--address", default="127.0.0.1", help="bind address for HTTP and gRPC")
    ap.add_argument("--verbose", action="store_true", help="PyTriton debug logging")
    args = ap.parse_args()

    # serve() stops Triton on KeyboardInterrupt (SIGINT); map SIGTERM onto it.
    def on_sigterm(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)

    if args.instances < 1:
        ap.error("--instances must be >= 1")

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    _prefer_own_libpython()

    # Imported after LD_LIBRARY_PATH is set (PyTriton copies os.environ).
    import numpy as np
    from pytriton.model_config import ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig, TritonLifecyclePolicy

    def echo(requests):
        return [{"OUTPUT": request["INPUT"]} for request in requests]

    config = TritonConfig(
        http_address=args.address,
        http_port=args.http_port,
        grpc_address=args.address,
        grpc_port=args.grpc_port,
        allow_metrics=False,
        allow_gpu_metrics=False,
        allow_cpu_metrics=False,
        allow_sagemaker=False,
        allow_vertex_ai=False,
        exit_timeout_secs=5,
        log_verbose=0,
    )
    # Default PyTriton starts tritonserver with an empty repository and loads
    # the model afterwards, so /v2/health/ready answers 200 before "echo"
    # exists. With a local model store the model is written to the repository
    # first and loaded by tritonserver at startup (before its HTTP/gRPC
    # endpoints open), so server readiness implies the model is loaded.
    triton = Triton(
        config=config,
        triton_lifecycle_policy=TritonLifecyclePolicy(
            launch_triton_on_startup=False, local_model_store=True
        ),
    )
    try:
        triton.bind(
            model_name="echo",
            infer_func=[echo] * args.instances,
            inputs=[Tensor(name="INPUT", dtype=np.bytes_, shape=(1,))],
            outputs=[Tensor(name="OUTPUT", dtype=np.bytes_, shape=(1,))],
            config=ModelConfig(batching=False),
        )
        triton.serve()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        triton.stop()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # signalled before the server was started
        sys.exit(0)
