"""Stand-in receivers for the notification channels: HTTP servers on 127.0.0.1 that record every request,
answer with a scripted status, and verify signatures the way each platform documents it (the algorithms are
written here from the platforms' docs, independently of the product code; see
tests/unit/domain/test_notification_channels.py)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """Answers ``statuses`` in turn (then ``final_status``) with ``reply`` as the body."""

    def __init__(self, *, statuses: list[int] | None = None, final_status: int = 200,
                 reply: bytes = b'{"errcode":0,"errmsg":"ok"}') -> None:
        self.requests: list[Received] = []
        self.statuses = list(statuses or [])
        self.final_status = final_status
        self.reply = reply
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                parts = urlsplit(self.path)
                outer.requests.append(Received(
                    path=parts.path, query={k: v[0] for k, v in parse_qs(parts.query).items()},
                    headers={k.lower(): v for k, v in self.headers.items()}, body=body))
                status = outer.statuses.pop(0) if outer.statuses else outer.final_status
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(outer.reply)))
                self.end_headers()
                self.wfile.write(outer.reply)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- the platforms' signature checks, as their docs describe them -------------------------------------------

def dingtalk_signature_ok(secret: str, query: dict[str, str], *, now_ms: int) -> bool:
    """钉钉: sign = urlEncode(base64(HmacSHA256(secret, timestamp + "\\n" + secret))); timestamp in ms,
    within one hour. ``query`` is already URL-decoded by parse_qs."""
    ts = query.get("timestamp", "")
    if not ts.isdigit() or abs(now_ms - int(ts)) > 3600 * 1000:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest())
    return hmac.compare_digest(expected.decode(), query.get("sign", ""))


def feishu_signature_ok(secret: str, body: dict, *, now: int) -> bool:
    """飞书: sign = base64(HmacSHA256 with key timestamp + "\\n" + secret over an empty message); seconds,
    within one hour."""
    ts = str(body.get("timestamp", ""))
    if not ts.isdigit() or abs(now - int(ts)) > 3600:
        return False
    expected = base64.b64encode(hmac.new(f"{ts}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, str(body.get("sign", "")))
