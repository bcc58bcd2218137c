"""The sandbox on a real socket (loopback), for tests that must cross one and for `make sandbox`."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from partner_console.sandbox.app import SandboxApp

# How long a "timeout" fault keeps the connection silent before closing it.
DEFAULT_HANG_SECONDS = 30.0


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, app: SandboxApp, host: str = "127.0.0.1", port: int = 0,
                 hang_seconds: float = DEFAULT_HANG_SECONDS) -> None:
        self.app = app
        self.hang_seconds = hang_seconds
        super().__init__((host, port), _Handler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}/"

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="sandbox-server", daemon=True)
        thread.start()
        return thread


class _Handler(BaseHTTPRequestHandler):
    server: SandboxServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without TCP_NODELAY a kept-alive client waits
    # ~40 ms for the body (Nagle's algorithm against delayed ACKs).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # the app keeps its own call log, without keys

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        response = self.server.app.handle(self.command, self.path, dict(self.headers), body)
        if response.fault == "timeout":
            time.sleep(self.server.hang_seconds)
        if response.fault is not None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    do_GET = _serve
    do_POST = _serve
    do_PATCH = _serve
    do_DELETE = _serve
