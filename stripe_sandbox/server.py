"""Run the sandbox: from the command line, or in a background thread for tests."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

from .app import SandboxApp


def config_for(app: SandboxApp, **kwargs: Any) -> uvicorn.Config:
    return uvicorn.Config(app, http="httptools", lifespan="on", access_log=False,
                          log_level="warning", **kwargs)


class SandboxServer:
    """The sandbox on a free loopback port, in a daemon thread.

    >>> with SandboxServer() as sandbox:
    ...     sandbox.url  # e.g. "http://127.0.0.1:40123"
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, **app_options: Any) -> None:
        self.app = SandboxApp(**app_options)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        self._server = uvicorn.Server(config_for(self.app))
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._socket]}, daemon=True,
                                        name="stripe-sandbox")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the Stripe sandbox did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
