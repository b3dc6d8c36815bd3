"""An openpersonalize server inside the current process (a background thread), for the demo and notebooks."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from .api.transport import uvicorn_options
from .server import ServerConfig, build_app, load_credentials


@dataclass
class EmbeddedServer:
    """A running in-process server and what a boto3 client needs to reach it."""

    url: str
    access_key_id: str
    secret_access_key: str
    _server: uvicorn.Server
    _thread: threading.Thread

    def client(self, service: str, region: str = "us-east-1"):
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(retries={"max_attempts": 2}, read_timeout=600),
        )

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(15)


def start(data_dir: Path, allowed: list[Path], port: int = 0, host: str = "127.0.0.1") -> EmbeddedServer:
    """Start a server on ``host:port`` (0 = a free port) and wait until it accepts connections."""
    if port == 0:
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
    config = ServerConfig(data_dir=str(data_dir), allowed_paths=[str(p) for p in allowed])
    app = build_app(config)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", **uvicorn_options()))
    thread = threading.Thread(target=server.run, name="openpersonalize-server", daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("the embedded server did not start")
        time.sleep(0.05)
    creds, _ = load_credentials(data_dir)
    key, secret = next(iter(creds.items()))
    return EmbeddedServer(f"http://{host}:{port}", key, secret, server, thread)
