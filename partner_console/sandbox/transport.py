"""The sandbox in-process: an httpx transport, so the app needs no extra process."""

from __future__ import annotations

import httpx

from partner_console.sandbox.app import SandboxApp


class SandboxTransport(httpx.BaseTransport):
    def __init__(self, app: SandboxApp) -> None:
        self.app = app

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # The base URL may carry a path prefix: the sandbox answers from the first of its own
        # resources on ("/organizations/{orgId}/users/...", else "/users/...").
        path = request.url.path
        found = [at for at in (path.find("/organizations/"), path.find("/users/")) if at >= 0]
        response = self.app.handle(
            request.method, path[min(found):] if found else path,
            dict(request.headers), request.read(),
        )
        if response.fault == "timeout":
            raise httpx.ReadTimeout("The sandbox did not answer in time.", request=request)
        if response.fault == "drop":
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        return httpx.Response(
            response.status, headers=response.headers, content=response.body, request=request
        )
