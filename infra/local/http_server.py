"""The local API server (``make run`` and the tests): Chalice's local server, with two corrections.

Chalice's ``LocalGateway`` answers a path that matches no route with a 403 whose message *echoes the
Authorization header* (it imitates one API Gateway message), and its request handler writes every request
line, query string included, to the access log. Here an unknown route answers 404 in the product's error
shape (``{code, message, errors}``, nothing echoed), and the access log shows the path without the query
values. In AWS the same 404 body comes from the API's gateway responses (``infra/resources.py``).
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from chalice.local import ChaliceRequestHandler, LocalDevServer, LocalGateway, LocalGatewayException

LISTEN_BACKLOG = 128
NOT_FOUND_BODY = json.dumps({"code": "not_found", "message": "no such route", "errors": []}).encode()


class UnknownRoute(LocalGatewayException):
    CODE = 404

    def __init__(self) -> None:
        super().__init__({"Content-Type": "application/json; charset=utf-8"}, NOT_FOUND_BODY)


class ProductGateway(LocalGateway):
    def handle_request(self, method: str, path: str, headers: Any, body: bytes | None) -> Any:
        try:
            self.event_converter.create_lambda_event(method=method, path=path, headers=headers, body=body)
        except ValueError:  # no route matches the path
            raise UnknownRoute() from None
        return super().handle_request(method, path, headers, body)


def redacted_request_line(line: str) -> str:
    """``GET /v1/x?api_key=drk_…&limit=5 HTTP/1.1`` → ``GET /v1/x?api_key=…&limit=… HTTP/1.1``."""
    parts = line.split(" ")
    if len(parts) != 3 or "?" not in parts[1]:
        return line
    url = urlsplit(parts[1])
    names = "&".join(f"{name}=…" for name, _ in parse_qsl(url.query, keep_blank_values=True))
    return f"{parts[0]} {url.path}?{names} {parts[2]}"


class ProductRequestHandler(ChaliceRequestHandler):
    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Any, config: Any) -> None:
        self._app_object, self._config = app_object, config
        super().__init__(request, client_address, server, app_object=app_object, config=config)

    def setup(self) -> None:
        super().setup()
        self.local_gateway = ProductGateway(self._app_object, self._config)

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        self.log_message('"%s" %s %s', redacted_request_line(self.requestline), str(getattr(code, "value", code)),
                         str(size))


def create_server(app: Any, host: str, port: int, *, lambda_timeout: int = 60) -> LocalDevServer:
    """Chalice's local server for ``app`` on ``host:port`` with the corrections above."""
    import functools

    from chalice.config import Config
    from chalice.local import create_local_server

    config = Config.create(chalice_stage="dev", lambda_timeout=lambda_timeout)
    server = create_local_server(app, config, host, port)
    server.server.RequestHandlerClass = functools.partial(ProductRequestHandler, app_object=server.app_object,
                                                          config=config)
    # socketserver listens with a backlog of 5: a burst of clients (the tests' races, a partner's batch) beyond
    # that waits for the kernel's SYN retry (1 s, 3 s, ...) or is reset. Listening again sets the queue length.
    server.server.request_queue_size = LISTEN_BACKLOG
    server.server.socket.listen(LISTEN_BACKLOG)
    return server
