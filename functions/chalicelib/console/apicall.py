"""In-process API calls: the console's only way to read or change anything.

A call runs the API route's own view function (the very one API Gateway invokes for ``route``) on a
request built here, authenticated with the session key as ``Authorization: Bearer``: the API's rules,
validation and error ``loc`` paths apply unchanged, and there is no second authorization path.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote


@dataclass
class Answer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def errors(self) -> list[dict]:
        return self.body.get("errors", []) if isinstance(self.body, dict) else []

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


def call(app: Any, method: str, route: str, *, key: str | None, params: dict[str, str] | None = None,
         body: Any = None, query: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> Answer:
    """Run ``method route`` (a route template such as ``/v1/registrations/{reg_id}``) as an API request."""
    entry = app.routes[route][method]
    params = params or {}
    raw = body if isinstance(body, (bytes, type(None))) else json.dumps(body, ensure_ascii=False).encode()
    hdrs = {"content-type": "application/json", **({"authorization": f"Bearer {key}"} if key else {}),
            **{k.lower(): v for k, v in (headers or {}).items()}}
    path = route
    for name, value in params.items():
        path = path.replace(f"{{{name}}}", quote(value, safe=""))
    event = {
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "headers": hdrs,
        "pathParameters": params or None,
        "requestContext": {"httpMethod": method, "resourcePath": route, "path": path,
                           "identity": {"sourceIp": "127.0.0.1"}},
        "body": raw.decode() if raw is not None else None,
        "isBase64Encoded": False,
        "stageVariables": None,
    }
    from chalice.app import Request

    previous = getattr(app, "current_request", None)  # unset outside a request (a bench, a job)
    app.current_request = Request(event)
    try:
        response = entry.view_function(**{name: params[name] for name in entry.view_args})
    finally:
        app.current_request = previous
    text = response.body
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = text
    return Answer(response.status_code, parsed)
