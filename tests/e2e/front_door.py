"""A load balancer in miniature: one TCP port in front of several `streamlit run` replicas,
sending each new connection (page loads, the websocket) to the replica chosen now. Raw TCP, so
HTTP, cookies and websockets pass through untouched, as they do through a real one."""

from __future__ import annotations

import contextlib
import socket
import threading


class FrontDoor:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._open: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def send_to(self, port: int) -> None:
        """New connections go to this replica from now on."""
        self.target_port = port

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                backend = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            backend.settimeout(None)
            self._open += [client, backend]
            for source, sink in ((client, backend), (backend, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed = True
        self._server.close()
        for sock in self._open:
            with contextlib.suppress(OSError):
                sock.close()
