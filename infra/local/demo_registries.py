"""Demo business registries for local mode (issue 12 item 17): GLEIF, Companies House and 企查查 served on
127.0.0.1 from the connectors' own contract fixtures (``tests/fixtures/sources/<name>/``, written by us with
fictional companies), so look-ups work in ``make run`` and ``dealreg … --local`` without a network.

Each provider lives under ``http://127.0.0.1:<port>/<name>/`` and is routed by the connector's declared
``lookup_path``/``search_path``; which fixture answers is found by parsing the fixtures with the connector
itself: a look-up gets the one-company document holding that identifier (or exact name), a search gets the
multi-company page when one of its companies' names contains the query, anything else gets the provider's
"no result" document if it has one (企查查's 201 envelope) or a 404. Nothing here ships in a Lambda bundle.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "sources"
PROVIDERS = ("qcc", "gleif", "companies_house")  # asked in this order (USCC, LEI, UK number)
# Demo credentials: the connectors need some; the demo server does not check them.
DEMO_SECRETS = {"qcc": '{"app_key": "demo", "secret_key": "demo"}', "companies_house": '{"api_key": "demo"}'}


@dataclass
class _Provider:
    search_prefix: str | None
    lookups: dict[str, bytes] = field(default_factory=dict)  # casefolded identifier or name -> document
    pages: list[tuple[tuple[str, ...], bytes]] = field(default_factory=list)  # (casefolded names, page)
    not_found: bytes | None = None


def _index(name: str, root: Path = FIXTURES) -> _Provider:
    from connectors.base import Fetched, split_parsed
    from connectors.registry import REGISTRY

    cls = REGISTRY[name]
    connector = cls(cls.example_config, http=object())
    search = cls.search_path.split("{name}")[0] if cls.search_path else None
    provider = _Provider(search_prefix=search)
    for path in sorted((root / name).glob("*.json")):
        body = path.read_bytes()
        companies, _ = split_parsed(connector.parse(Fetched(body=body, url=f"fixture:{path.name}")))
        if not companies:
            provider.not_found = body
        elif len(companies) == 1:
            c = companies[0]
            for key in (c.source_id, c.name, *(i.value for i in c.registry_ids)):
                provider.lookups.setdefault(key.casefold(), body)
        else:
            provider.pages.append((tuple(c.name.casefold() for c in companies), body))
    return provider


class _Handler(BaseHTTPRequestHandler):
    providers: dict[str, _Provider] = {}

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        name, _, rest = self.path.lstrip("/").partition("/")
        provider = self.providers.get(name)
        if provider is None:
            return self._send(404, b"")
        body = self._answer(provider, rest)
        if body is None:
            return self._send(404, b'{"errors": [{"error": "not found"}]}')
        self._send(200, body)

    def _answer(self, provider: _Provider, rest: str) -> bytes | None:
        if provider.search_prefix and rest.startswith(provider.search_prefix):
            query = unquote(rest[len(provider.search_prefix):].split("&")[0]).casefold().strip()
            for names, page in provider.pages:
                if query and any(query in n or n in query for n in names):
                    return page
        else:
            # the identifier: the first query value (Verify?searchKey=…) or the last path segment
            path, _, query = rest.partition("?")
            value = query.split("&")[0].partition("=")[2] if query else path.rsplit("/", 1)[-1]
            found = provider.lookups.get(unquote(value).casefold().strip())
            if found is not None:
                return found
        return provider.not_found

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@dataclass
class DemoRegistries:
    server: ThreadingHTTPServer
    base_url: str

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start(port: int = 0, root: Path = FIXTURES) -> DemoRegistries:
    """Serve the demo registries on 127.0.0.1 (a free port by default) and point the settings at them.

    Sets ``DEALREG_REGISTRY_PROVIDERS`` (unless already set), each provider's ``…_BASE_URL`` and demo
    ``…_SECRET``; local mode refuses any registry address that is not loopback
    (``chalicelib.services.registry_lookup``).
    """
    from chalicelib import settings
    from chalicelib.services import registry_lookup

    handler = type("DemoRegistryHandler", (_Handler,), {"providers": {n: _index(n, root) for n in PROVIDERS}})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, name="demo-registries", daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    if "DEALREG_REGISTRY_PROVIDERS" not in os.environ:
        os.environ["DEALREG_REGISTRY_PROVIDERS"] = ",".join(PROVIDERS)
    for name in PROVIDERS:
        os.environ[f"DEALREG_REGISTRY_{name.upper()}_BASE_URL"] = f"{base}/{name}/"
        if name in DEMO_SECRETS:
            os.environ.setdefault(f"DEALREG_REGISTRY_{name.upper()}_SECRET", DEMO_SECRETS[name])
    settings.reset()
    registry_lookup.forget()
    return DemoRegistries(server=server, base_url=base)
