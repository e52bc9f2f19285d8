"""A cookie-keeping HTTP client for the console (stdlib only, loopback only, redirects not followed)."""
from __future__ import annotations

import http.client
import re
from urllib.parse import urlencode, urlparse

from tests.conftest import PATIENT_READ_TIMEOUT


class ConsoleClient:
    def __init__(self, base: str, lang: str = "en") -> None:
        assert base.startswith("http://127.0.0.1:")
        self.base = base
        self.cookies: dict[str, str] = {}
        self.lang = lang

    def request(self, method: str, path: str, form: dict | None = None, headers: dict | None = None):
        u = urlparse(self.base)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=PATIENT_READ_TIMEOUT)  # as the app's clients
        hdrs = {"Accept-Language": self.lang, **(headers or {})}
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        for name, value in resp.getheaders():
            if name.lower() == "set-cookie":
                cname, _, rest = value.partition("=")
                cvalue = rest.split(";", 1)[0]
                if "Max-Age=0" in value:
                    self.cookies.pop(cname, None)
                else:
                    self.cookies[cname] = cvalue
        conn.close()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, text

    def get(self, path: str, **kw):
        return self.request("GET", path, **kw)

    def post(self, path: str, form: dict, **kw):
        return self.request("POST", path, form=form, **kw)

    @staticmethod
    def csrf(html: str) -> str:
        m = re.search(r'name="csrf" value="([^"]+)"', html)
        assert m, "no CSRF field on the page"
        return m.group(1)

    def login(self, key: str) -> None:
        _, _, page = self.get("/console/login")
        status, headers, _ = self.post("/console/login", {"csrf": self.csrf(page), "api_key": key})
        assert status == 303 and headers["location"].endswith("/console/registrations"), status
