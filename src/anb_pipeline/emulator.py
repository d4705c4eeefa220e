"""A local AWS emulator (moto server) for SQS and S3, so one machine runs the production path.

``python -m anb_pipeline.emulator --port 4566`` runs it in the foreground; ``anb up`` and the
tests start it this way or in-process with ``start_emulator``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import threading

from moto.server import ThreadedMotoServer

#: moto accepts any credentials; boto3 refuses to sign without some.
EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "anb-local", "AWS_SECRET_ACCESS_KEY": "anb-local"}


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now, for tests that need a closed port or pass a port to a
    separate program; it may be taken before it is used, so servers here bind port 0."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def use_emulator_credentials() -> None:
    """Set the emulator's dummy AWS credentials unless the environment has its own."""
    for name, value in EMULATOR_CREDENTIALS.items():
        os.environ.setdefault(name, value)


def start_emulator(host: str = "127.0.0.1", port: int = 0) -> tuple[ThreadedMotoServer, str]:
    """Start moto in a thread of this process; returns the server and its endpoint URL.

    With ``port`` 0 the system picks a free port while binding, and the URL names it.
    """
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    return server, f"http://{bound_host}:{bound_port}"


def main() -> None:
    """``python -m anb_pipeline.emulator``: serve moto (SQS and S3) on ``--host``:``--port``
    (default 127.0.0.1:4566) until SIGTERM or SIGINT.
    """
    parser = argparse.ArgumentParser(description="Run the local SQS/S3 emulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    args = parser.parse_args()
    server, url = start_emulator(args.host, args.port)
    print(f"emulator listening on {url}", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
