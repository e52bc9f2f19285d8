"""Console routes (``/console/...``): parse the form, call the API in-process, render a page.

Every read and change is ``apicall.call`` of an API route with the session key, so the API's access rules
decide; the principal looked up here only picks which links to show. Every POST checks the CSRF token
(an HMAC of the session key) and, when the browser sends one, that ``Origin`` is this host. Answers carry a
strict Content-Security-Policy (no script at all, styles from our own path only) and are never cached.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlparse

from chalice import Blueprint, Response

from chalicelib.console import apicall, forms, i18n, session

bp = Blueprint(__name__)
FORM = ["application/x-www-form-urlencoded"]
HERE = Path(__file__).parent
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY", "Cache-Control": "no-store",  # same-origin: Chrome sends Origin "null" under no-referrer
}
STATIC = {"console.css": "text/css; charset=utf-8"}
_env = None


def _templates():
    global _env
    if _env is None:
        from jinja2 import Environment, FileSystemLoader, select_autoescape

        _env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(["html"]),
                           trim_blocks=True, lstrip_blocks=True)
    return _env


@dataclass
class Ctx:
    request: Any
    lang: str
    base: str
    cookies: dict[str, str]
    session: session.Session | None = None
    principal: Any = None
    set_cookies: list[str] = field(default_factory=list)

    @property
    def t(self):
        return i18n.translator(self.lang)

    def url(self, path: str = "", **query: Any) -> str:
        q = {k: v for k, v in query.items() if v not in (None, "")}
        return f"{self.base}/console{path}" + (f"?{urlencode(q)}" if q else "")

    def api(self, method: str, route: str, **kw: Any) -> apicall.Answer:
        return apicall.call(bp._current_app, method, route, key=self.session.key if self.session else None, **kw)


class _Redirect(Exception):
    def __init__(self, location: str) -> None:
        self.location = location


def _ctx(*, login_required: bool = True) -> Ctx:
    request = bp.current_request
    cookies = session.parse_cookies(request.headers.get("cookie"))
    lang = i18n.negotiate(cookies.get(session.LANG_COOKIE), request.headers.get("accept-language"))
    stage = request.context.get("stage")
    path = request.context.get("path") or ""
    base = f"/{stage}" if stage and path.startswith(f"/{stage}/") else ""
    ctx = Ctx(request, lang, base, cookies)
    ctx.session = session.from_cookie(cookies.get(session.COOKIE))
    if ctx.session is not None:
        from chalicelib.store import directory

        # Only to choose the links to show: the API resolves the same key again on every call it serves.
        ctx.principal = directory.principal_for_key(ctx.session.key)
        if ctx.principal is None:
            ctx.session = None
    if login_required and ctx.session is None:
        raise _Redirect(ctx.url("/login", e="session_expired" if cookies.get(session.COOKIE) else None))
    return ctx


def _response(body: str, status: int = 200, headers: dict | None = None, cookies: list[str] | None = None,
              content_type: str = "text/html; charset=utf-8") -> Response:
    h: dict[str, Any] = {**SECURITY_HEADERS, "Content-Type": content_type, **(headers or {})}
    if cookies:
        h["Set-Cookie"] = cookies if len(cookies) > 1 else cookies[0]
    return Response(body=body, status_code=status, headers=h)


def render(ctx: Ctx, name: str, status: int = 200, **values: Any) -> Response:
    role = ctx.principal.role.value if ctx.principal is not None else None
    html = _templates().get_template(name).render(
        t=ctx.t, lang=ctx.lang, url=ctx.url, csrf=ctx.session.csrf if ctx.session else None, role=role,
        me=ctx.principal.id if ctx.principal is not None else None, status_label=_status_label(ctx),
        flash=_flash(ctx), when=_when, request_path=(ctx.request.context.get("path") if status < 400 else None) or ctx.url(),  # a refusal
        **values)  # never reflects the path it refused (the privacy walk puts other parties' ids there)
    return _response(html, status, cookies=ctx.set_cookies)


def redirect(ctx: Ctx | None, location: str, cookies: list[str] | None = None) -> Response:
    return _response("", 303, headers={"Location": location}, cookies=(ctx.set_cookies if ctx else []) + (cookies or []))


def _flash(ctx: Ctx) -> dict | None:
    q = ctx.request.query_params or {}
    key = q.get("m") or q.get("e")
    if key and key in i18n.MESSAGES:
        return {"ok": "m" in q, "text": ctx.t(key), "detail": q.get("d", "")[:200]}
    return None


def _status_label(ctx: Ctx):
    return lambda status: ctx.t(f"st_{status}")


def _when(value: str | None) -> str:
    return (value or "")[:16].replace("T", " ")


def page(*, login_required: bool = True, post: bool = False):
    """Decorate a console view: build the context, check CSRF and Origin on POST, follow redirects."""
    import functools

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            try:
                ctx = _ctx(login_required=login_required)
                form: dict[str, str] = {}
                if post:
                    form = forms.parse_form(ctx.request.raw_body)
                    if not _same_origin(ctx.request) or not _csrf_ok(ctx, form):
                        return render(ctx, "message.html", 403, message=ctx.t("csrf_failed"))
                    return func(ctx, form, *args, **kwargs)
                return func(ctx, *args, **kwargs)
            except _Redirect as r:
                return redirect(None, r.location)
            except session.ConsoleNotConfigured:
                return _response("console not configured", 503, content_type="text/plain; charset=utf-8")

        return wrapper

    return decorate


def _same_origin(request: Any) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser, or an old one: the CSRF token alone decides
    return urlparse(origin).netloc == request.headers.get("host")


def _csrf_ok(ctx: Ctx, form: dict[str, str]) -> bool:
    if ctx.session is not None:
        return session.check_csrf(ctx.session.csrf, form.get("csrf"))
    pre = ctx.cookies.get(session.PRE_COOKIE)
    return bool(pre) and session.check_csrf(session.pre_token(pre), form.get("csrf"))


# --- login, logout, language, assets ------------------------------------------------------------------------------

@bp.route("/console", methods=["GET"])
@page(login_required=False)
def console_home(ctx: Ctx):
    if ctx.session is None:
        return _login_page(ctx)
    return redirect(ctx, ctx.url("/registrations"))


def _pre_session_form(ctx: Ctx, template: str, status: int, **values) -> Response:
    """A form shown before a session exists (login, set password): its CSRF token is bound to a pre-session
    cookie set here."""
    pre = ctx.cookies.get(session.PRE_COOKIE) or session.new_pre()
    ctx.set_cookies.append(session.set_cookie(session.PRE_COOKIE, pre, path=ctx.url(), max_age=3600))
    return render(ctx, template, status, login_csrf=session.pre_token(pre), **values)


def _login_page(ctx: Ctx, status: int = 200, error: str | None = None) -> Response:
    return _pre_session_form(ctx, "login.html", status, error=error)


@bp.route("/console/login", methods=["GET"])
@page(login_required=False)
def console_login_form(ctx: Ctx):
    return _login_page(ctx)


@bp.route("/console/login", methods=["POST"], content_types=FORM)
@page(login_required=False, post=True)
def console_login(ctx: Ctx, form: dict[str, str]):
    """An API key's login: throttled per client address like a password login (429 + Retry-After)."""
    from chalicelib.domain.errors import TooManyAttemptsError

    try:
        started = session.start(form.get("api_key", ""), client_ip=_client_ip(ctx)) if form.get("api_key") else None
    except TooManyAttemptsError as err:
        return _throttled(ctx, _login_page, err)
    if started is None:
        return _login_page(ctx, 401, error=ctx.t("login_failed"))
    return _signed_in(ctx, started[0])


def _signed_in(ctx: Ctx, s: session.Session, device: str | None = None) -> Response:
    cookies = [
        session.set_cookie(session.COOKIE, session.cookie_value(s), path=ctx.url(), max_age=session.SESSION_SECONDS),
        session.set_cookie(session.PRE_COOKIE, "", path=ctx.url(), max_age=0)]
    if device is not None:
        cookies.append(session.set_cookie(session.DEVICE_COOKIE, device, path=ctx.url(),
                                          max_age=session.DEVICE_SECONDS))
    return redirect(ctx, ctx.url("/registrations"), cookies=cookies)


def _client_ip(ctx: Ctx) -> str:
    """The caller's address as API Gateway saw it (``identity.sourceIp``; never a client-set header)."""
    return str(((ctx.request.context or {}).get("identity") or {}).get("sourceIp") or "unknown")[:64]


def _throttled(ctx: Ctx, template_page, err) -> Response:
    answer = template_page(ctx, 429, ctx.t("too_many_attempts").format(seconds=err.retry_after))
    answer.headers["Retry-After"] = str(err.retry_after)
    return answer


@bp.route("/console/login/password", methods=["POST"], content_types=FORM)
@page(login_required=False, post=True)
def console_login_password(ctx: Ctx, form: dict[str, str]):
    """A partner user's login (issue 18): user id + password, throttled in services.directory (429 +
    Retry-After when this address or user id must wait; never a lockout)."""
    from chalicelib.domain.errors import TooManyAttemptsError

    user_id = form.get("user_id", "").strip()
    try:
        started = (session.start_password(user_id, form.get("password", ""), client_ip=_client_ip(ctx),
                                          device=ctx.cookies.get(session.DEVICE_COOKIE))
                   if user_id and form.get("password") else None)
    except TooManyAttemptsError as err:
        return _throttled(ctx, _login_page, err)
    if started is None:
        return _login_page(ctx, 401, error=ctx.t("login_failed_password"))
    return _signed_in(ctx, started[0], device=session.device_value(user_id))


def _password_page(ctx: Ctx, status: int = 200, error: str | None = None, user_id: str = "") -> Response:
    return _pre_session_form(ctx, "password.html", status, error=error, user_id=user_id)


@bp.route("/console/password", methods=["GET"])
@page(login_required=False)
def console_password_form(ctx: Ctx):
    return _password_page(ctx)


@bp.route("/console/password", methods=["POST"], content_types=FORM)
@page(login_required=False, post=True)
def console_password(ctx: Ctx, form: dict[str, str]):
    """Set a partner user's password with the one-time code (the code is typed, never in a URL)."""
    from chalicelib.domain.errors import DealregError, TooManyAttemptsError
    from chalicelib.services import directory as admin

    user_id, password = form.get("user_id", "").strip(), form.get("password", "")
    if password != form.get("password2", ""):
        return _password_page(ctx, 422, ctx.t("password_mismatch"), user_id)
    try:
        ok = admin.set_password(user_id, form.get("code", "").strip(), password, now=clock_now(),
                                client_ip=_client_ip(ctx))
    except TooManyAttemptsError as err:
        return _throttled(ctx, lambda c, st, e: _password_page(c, st, e, user_id), err)
    except DealregError as err:
        return _password_page(ctx, 422, ctx.t(err.errors[0]["type"]) if err.errors else err.message, user_id)
    if not ok:
        return _password_page(ctx, 401, ctx.t("password_failed"), user_id)
    return redirect(ctx, ctx.url("/login", m="password_set"))


def clock_now():
    from chalicelib import clock

    return clock.now()


@bp.route("/console/logout", methods=["POST"], content_types=FORM)
@page(post=True)
def console_logout(ctx: Ctx, form: dict[str, str]):
    session.end(ctx.session)
    return redirect(ctx, ctx.url("/login"), cookies=[session.set_cookie(session.COOKIE, "", path=ctx.url(), max_age=0)])


@bp.route("/console/lang/{lang}", methods=["GET"])
@page(login_required=False)
def console_language(ctx: Ctx, lang: str):
    if lang not in i18n.LANGS:
        return render(ctx, "message.html", 404, message="unknown language")
    back = (ctx.request.query_params or {}).get("next", "")
    if not back.startswith(ctx.url()) or "//" in back or "\\" in back:
        back = ctx.url()
    return redirect(ctx, back, cookies=[session.set_cookie(session.LANG_COOKIE, lang, path=ctx.url(),
                                                           max_age=365 * 86400)])


@bp.route("/console/static/{name}", methods=["GET"])
def console_static(name: str):
    if name not in STATIC:
        return _response("not found", 404, content_type="text/plain; charset=utf-8")
    return _response((HERE / "static" / name).read_text(), content_type=STATIC[name],
                     headers={"Cache-Control": "public, max-age=300"})


# --- registrations ------------------------------------------------------------------------------------------------

@bp.route("/console/registrations", methods=["GET"])
@page()
def console_registrations(ctx: Ctx):
    q = ctx.request.query_params or {}
    view = q.get("view") if ctx.principal.role.value != "partner" else None
    query = {"limit": "25", **({"cursor": q["cursor"]} if q.get("cursor") else {}),
             **({"owner": ctx.principal.id} if view == "owned" else {})}
    answer = ctx.api("GET", "/v1/registrations", query=query)
    if not answer.ok:
        return render(ctx, "message.html", answer.status, message=ctx.t("refused"), detail=answer.body)
    from chalicelib.console import pool

    return render(ctx, "registrations.html", items=answer.body["items"], view=view, holding=pool.holding(ctx.principal),
                  next_url=ctx.url("/registrations", view=view, cursor=answer.body.get("next_cursor")))


def _form_page(ctx: Ctx, template: str, *, values: dict, errors: list[dict] | None = None, prefix: str = "body.",
               status: int = 200, **extra: Any) -> Response:
    by_field, other = forms.field_errors(errors or [], prefix, [f for f, _ in forms.FIELDS])
    return render(ctx, template, status, fields=forms.FIELDS, values=values, field_errors=by_field,
                  other_errors=other, options=forms.options, required=forms.REQUIRED, **extra)


@bp.route("/console/register", methods=["GET"])
@page()
def console_register_form(ctx: Ctx):
    import secrets as _secrets

    q = ctx.request.query_params or {}
    values = {k: q[k] for k in forms.PRECHECK_FIELDS if q.get(k)}  # carried over from the pre-check
    return _form_page(ctx, "register.html", values=values, nonce=_secrets.token_hex(12))


@bp.route("/console/register", methods=["POST"], content_types=FORM)
@page(post=True)
def console_register(ctx: Ctx, form: dict[str, str]):
    import secrets as _secrets

    body = forms.to_body(form)
    nonce = form.get("nonce") or _secrets.token_hex(12)
    if not (nonce.isalnum() and len(nonce) <= 64):
        nonce = _secrets.token_hex(12)
    if ctx.principal.role.value == "partner":
        answer, prefix = _partner_submit(ctx, body, nonce), "body.data."
    else:
        answer, prefix = ctx.api("POST", "/v1/registrations", body=body,
                                 headers={"Idempotency-Key": f"console-{nonce}"}), "body."
    if answer.ok:
        return redirect(ctx, ctx.url(f"/registrations/{quote(answer.body['id'])}", m="registered"))
    return _form_page(ctx, "register.html", values=form, errors=answer.errors or [
        {"loc": "", "type": answer.code or "refused", "message": (answer.body or {}).get("message", "")}],
        prefix=prefix, status=answer.status, nonce=nonce)


def _partner_submit(ctx: Ctx, data: dict, nonce: str) -> apicall.Answer:
    """A partner user registers through the partner intake route itself: the console signs the envelope
    with the partner's current signing secret, exactly as the partner's own system would (same contract,
    same validation, same idempotency by ``webhook-id``)."""
    from chalicelib import clock
    from chalicelib.store.directory import partner_secrets
    from connectors.standard_webhooks import sign

    secrets_ = partner_secrets(ctx.principal.id) or []
    if not secrets_:
        return apicall.Answer(409, {"code": "no_signing_secret", "message": "the partner has no signing secret",
                                    "errors": []})
    raw = json.dumps({"type": "opportunity.registered",
                      "timestamp": clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "data": data},
                     ensure_ascii=False).encode()
    msg_id, ts = f"console_{nonce}", int(clock.now().timestamp())
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sign(secrets_[0], msg_id, ts, raw)}
    return ctx.api("POST", "/v1/partners/{partner_id}/opportunities", params={"partner_id": ctx.principal.id},
                   body=raw, headers=headers)


@bp.route("/console/precheck", methods=["GET"])
@page()
def console_precheck_form(ctx: Ctx):
    return _form_page(ctx, "precheck.html", values={}, answer=None)


@bp.route("/console/precheck", methods=["POST"], content_types=FORM)
@page(post=True)
def console_precheck(ctx: Ctx, form: dict[str, str]):
    body = forms.to_body(form, forms.PRECHECK_FIELDS)
    answer = ctx.api("POST", "/v1/duplicates/check", body=body)
    carry = {k: form[k] for k in forms.PRECHECK_FIELDS if form.get(k)}
    if answer.ok:
        # Only the closed answer is shown, whoever asks: free / yours / protected.
        return _form_page(ctx, "precheck.html", values=form, answer=answer.body["answer"],
                          register_url=ctx.url("/register", **carry))
    return _form_page(ctx, "precheck.html", values=form, errors=answer.errors, status=answer.status, answer=None)


def _waiting_since(reg: dict) -> str | None:
    """When the waiting review level started: the move into review, or a later approval level or escalation."""
    for line in reversed(reg.get("audit") or []):
        if line.get("to_status") == "pending_review" or line.get("action") in ("approval_recorded", "escalated"):
            return line["at"]
    return None


def _age(since: str | None) -> float | None:
    if not since:
        return None
    at = datetime.fromisoformat(since.replace("Z", "+00:00"))
    from chalicelib import clock

    return (clock.now() - at).total_seconds() / 3600


def _levels(reg: dict) -> tuple[int, int] | None:
    """(level waiting, levels required) of a registration in review, by the routing rules; None otherwise."""
    if reg.get("status") != "pending_review" or not reg.get("audit"):
        return None
    from chalicelib.domain import routing
    from chalicelib.store.routing import rules as routing_rules
    from schemas.registration import Registration

    model = Registration.model_validate(reg)
    return routing.current_level(model), routing.levels_required(routing_rules(), model)


def _escalates(reg: dict) -> bool:
    """True when approving now records one level and passes the registration on (the routing rules ask for more)."""
    levels = _levels(reg)
    return levels is not None and levels[0] < levels[1]


def _can_escalate(reg: dict) -> bool:
    """True while a higher level exists to refer the waiting one to (the API still checks who may)."""
    from chalicelib.domain.workflow import TOP_LEVEL

    levels = _levels(reg)
    return levels is not None and min(levels) < TOP_LEVEL


@bp.route("/console/registrations/{reg_id}", methods=["GET"])
@page()
def console_registration(ctx: Ctx, reg_id: str):
    params = {"reg_id": reg_id}
    answer = ctx.api("GET", "/v1/registrations/{reg_id}", params=params)
    if not answer.ok:
        return render(ctx, "message.html", 404 if answer.status in (403, 404) else answer.status,
                      message=ctx.t("not_found"))
    reg = answer.body
    verdict = ctx.api("GET", "/v1/registrations/{reg_id}/verdict", params=params)
    ownership = ctx.api("GET", "/v1/registrations/{reg_id}/ownership", params=params)
    stages = ctx.api("GET", "/v1/pipeline/stages")
    configured = stages.body["stages"] if stages.ok else []
    return render(ctx, "registration.html", reg=reg, escalates=_escalates(reg), can_escalate=_can_escalate(reg),
                  verdict=verdict.body if verdict.ok else None,
                  stages=configured if reg["status"] == "approved" else [],
                  stage_name=_stage_name(ctx, configured, reg.get("sales_stage")),
                  verdict_status=verdict.status, ownership=ownership.body if ownership.ok else None,
                  left=_left(ownership.body.get("due_at")) if ownership.ok else None,
                  followup_types=forms.options("FollowUpType"), waiting_hours=_age(_waiting_since(reg)),
                  is_submitter=reg["submitter"]["id"] == ctx.principal.id)


def _stage_name(ctx: Ctx, configured: list[dict], key: str | None) -> str:
    """A sales stage by its configured name in the page's language (closed stages by the console's words)."""
    for st in configured:
        if st["key"] == key:
            return st["name_zh"] if ctx.lang == "zh-CN" else st["name_en"]
    return ctx.t(f"stage_{key}") if key else ""


def _left(due_at: str | None) -> str | None:
    if not due_at:
        return None
    hours = -(_age(due_at) or 0)
    return f"{int(hours // 24)}d {int(hours % 24)}h" if hours > 0 else "0d 0h"


# op -> (API route, body builder from the form)
ACTIONS: dict[str, tuple[str, Any]] = {
    "approve": ("/v1/registrations/{reg_id}/approve", lambda f: {"reason": f["reason"]} if f.get("reason") else {}),
    "reject": ("/v1/registrations/{reg_id}/reject",
               lambda f: {**({"reason": f["reason"]} if f.get("reason") else {}),
                          **({"share_reason": True} if f.get("share_reason") == "yes" else {})}),
    "escalate": ("/v1/registrations/{reg_id}/escalate", lambda f: {"reason": f.get("reason", "")}),
    "withdraw": ("/v1/registrations/{reg_id}/withdraw", lambda f: {"reason": f["reason"]} if f.get("reason") else {}),
    "resubmit": ("/v1/registrations/{reg_id}/resubmit", lambda f: {"reason": f["reason"]} if f.get("reason") else {}),
    "claim": ("/v1/registrations/{reg_id}/claim", lambda f: None),
    "release": ("/v1/registrations/{reg_id}/release", lambda f: {"reason": f["reason"]} if f.get("reason") else None),
    "stage": ("/v1/registrations/{reg_id}/stage", lambda f: {"stage": f.get("stage", "")}),
    "followup": ("/v1/registrations/{reg_id}/followups",
                 lambda f: {"type": f.get("type", ""), **({"note": f["note"]} if f.get("note") else {})}),
}


@bp.route("/console/registrations/{reg_id}/act", methods=["POST"], content_types=FORM)
@page(post=True)
def console_act(ctx: Ctx, form: dict[str, str], reg_id: str):
    op = form.get("op", "")
    if op not in ACTIONS:
        return render(ctx, "message.html", 400, message=ctx.t("refused"))
    route, build = ACTIONS[op]
    answer = ctx.api("POST", route, params={"reg_id": reg_id}, body=build(form))
    back = form.get("back") if form.get("back") in ("pool", "queue", "board") else None
    target = ctx.url(f"/{back}") if back else ctx.url(f"/registrations/{quote(reg_id)}")
    if answer.ok:
        return redirect(ctx, target + ("&" if "?" in target else "?") + urlencode({"m": "done"}))
    detail = (answer.body or {}).get("message", "") if isinstance(answer.body, dict) else ""
    key = "team_inactive" if answer.code == "team_inactive" else "forbidden" if answer.status == 403 else "refused"
    return redirect(ctx, target + "?" + urlencode({"e": key, "d": detail[:200]}))  # the caller's team: said as such


@bp.route("/console/registrations/{reg_id}/edit", methods=["GET"])
@page()
def console_edit_form(ctx: Ctx, reg_id: str):
    answer = ctx.api("GET", "/v1/registrations/{reg_id}", params={"reg_id": reg_id})
    if not answer.ok:
        return render(ctx, "message.html", 404, message=ctx.t("not_found"))
    return _form_page(ctx, "edit.html", values=forms.from_registration(answer.body), reg=answer.body)


@bp.route("/console/registrations/{reg_id}/edit", methods=["POST"], content_types=FORM)
@page(post=True)
def console_edit(ctx: Ctx, form: dict[str, str], reg_id: str):
    body = forms.to_body(form)
    body.pop("external_ref", None)  # cannot change: it is how the submitter finds it
    version = form.get("version", "")
    answer = ctx.api("PATCH", "/v1/registrations/{reg_id}", params={"reg_id": reg_id}, body=body,
                     headers={"content-type": "application/merge-patch+json",
                              **({"If-Match": version} if version.isdigit() else {})})
    if answer.ok:
        return redirect(ctx, ctx.url(f"/registrations/{quote(reg_id)}", m="done"))
    current = ctx.api("GET", "/v1/registrations/{reg_id}", params={"reg_id": reg_id})
    return _form_page(ctx, "edit.html", values=form, reg=current.body if current.ok else {"id": reg_id},
                      errors=answer.errors or [{"loc": "", "type": answer.code or "refused",
                                                "message": (answer.body or {}).get("message", "")}],
                      status=answer.status)


def conflict_mark(verdict: dict) -> bool:
    """重复: the customer is held by someone (duplicate/conflict) or an earlier registration competes for it."""
    return bool(verdict.get("duplicate") or verdict.get("conflict") or verdict.get("earlier"))


# --- manager: the approval queue -------------------------------------------------------------------------------

QUEUE_PAGES = 4  # up to 400 pending registrations, oldest wait first


@bp.route("/console/queue", methods=["GET"])
@page()
def console_queue(ctx: Ctx):
    if ctx.principal.role.value not in ("manager", "admin"):  # a page for deciders; the data rules are the API's
        return render(ctx, "message.html", 403, message=ctx.t("forbidden"))
    items: list[dict] = []
    cursor = None
    for _ in range(QUEUE_PAGES):
        answer = ctx.api("GET", "/v1/registrations",
                         query={"status": "pending_review", "limit": "100", **({"cursor": cursor} if cursor else {})})
        if not answer.ok:
            return render(ctx, "message.html", answer.status, message=ctx.t("forbidden"))
        items += answer.body["items"]
        cursor = answer.body.get("next_cursor")
        if not cursor:
            break
    rows = []
    for reg in items:
        since = _waiting_since(reg) or reg["created_at"]
        rows.append({"reg": reg, "since": since, "hours": _age(since)})
    rows.sort(key=lambda r: r["since"])
    for row in rows[:50]:  # the conflict mark for the first screenful: one verdict read each
        v = ctx.api("GET", "/v1/registrations/{reg_id}/verdict", params={"reg_id": row["reg"]["id"]})
        row["conflict"] = v.ok and conflict_mark(v.body.get("verdict") or {})
    return render(ctx, "queue.html", rows=rows)


# --- rep: the pool (公海) -----------------------------------------------------------------------------------------

@bp.route("/console/pool", methods=["GET"])
@page()
def console_pool(ctx: Ctx):
    if ctx.principal.role.value == "partner":
        return render(ctx, "message.html", 403, message=ctx.t("forbidden"))
    from chalicelib.console import pool

    q = ctx.request.query_params or {}
    filters = {k: (q.get(k) or "")[:100] for k in ("q", "region", "industry")}
    # The API's own pool listing (a rep sees their team's pool only); the customer filter is a substring here.
    query = {"limit": "50", **{k: v.strip() for k, v in filters.items() if k != "q" and v.strip()}}
    answer = ctx.api("GET", "/v1/pool", query=query)
    if not answer.ok:
        return render(ctx, "message.html", answer.status, message=ctx.t("refused"), detail=answer.body)
    items = pool.rows(answer.body["items"], q=filters["q"])
    return render(ctx, "pool.html", items=items, holding=pool.holding(ctx.principal), filters=filters)


# --- manager: the pipeline board ------------------------------------------------------------------------------

BOARD_CARD_PAGES = 2  # up to 200 approved registrations are read for the cards


@bp.route("/console/board", methods=["GET"])
@page()
def console_board(ctx: Ctx):
    from chalicelib import clock
    from chalicelib.console import board as cards_of

    q = ctx.request.query_params or {}
    filters = {k: (q.get(k) or "").strip()[:100] for k in cards_of.FILTERS}
    team = filters["team"] or None
    answer = ctx.api("GET", "/v1/pipeline/board", query={"team": team} if team else None)
    if not answer.ok:
        return render(ctx, "message.html", 403 if answer.status == 403 else answer.status, message=ctx.t("forbidden"))
    items: list[dict] = []
    cursor = None
    for _ in range(BOARD_CARD_PAGES):
        listed = ctx.api("GET", "/v1/registrations", query={"status": "approved", "limit": "100",
                                                              **({"team": team} if team else {}),
                                                              **({"cursor": cursor} if cursor else {})})
        if not listed.ok:
            break
        items += listed.body["items"]
        cursor = listed.body.get("next_cursor")
        if not cursor:
            break
    now = clock.now()
    rows = cards_of.cards(items, filters, now)
    for row in rows:  # the protection countdown: the holding as the API shows it to this caller
        own = ctx.api("GET", "/v1/registrations/{reg_id}/ownership", params={"reg_id": row["id"]})
        row["protection_left"] = cards_of.protection_left(own.body.get("due_at"), now) if own.ok else None
    by_stage: dict[str, list[dict]] = {}
    for row in rows:
        by_stage.setdefault(row["stage"], []).append(row)
    return render(ctx, "board.html", board=answer.body, cards=by_stage, filters=filters,
                  truncated=bool(cursor) or len(rows) >= cards_of.MAX_CARDS)


# --- manager / admin: the cockpit (驾驶舱) ----------------------------------------------------------------------

def _cockpit_answer(ctx: Ctx) -> tuple[apicall.Answer, str | None, int]:
    q = ctx.request.query_params or {}
    team = q.get("team") or None
    weeks = int(q["weeks"]) if (q.get("weeks") or "").isdigit() and 1 <= int(q["weeks"]) <= 26 else 12
    answer = ctx.api("GET", "/v1/pipeline/cockpit", query={**({"team": team} if team else {}), "weeks": str(weeks)})
    return answer, team, weeks


@bp.route("/console/cockpit", methods=["GET"])
@page()
def console_cockpit(ctx: Ctx):
    from chalicelib.console import cockpit

    answer, team, weeks = _cockpit_answer(ctx)
    if not answer.ok:
        return render(ctx, "message.html", answer.status, message=ctx.t("forbidden" if answer.status == 403 else "refused"))
    return render(ctx, "cockpit.html", team_param=team, weeks=weeks, **cockpit.view(answer.body, ctx.t, ctx.lang))


@bp.route("/console/cockpit.csv", methods=["GET"])
@page()
def console_cockpit_csv(ctx: Ctx):
    from chalicelib.console import cockpit

    answer, team, _ = _cockpit_answer(ctx)
    if not answer.ok:
        return _response(ctx.t("forbidden" if answer.status == 403 else "refused"), answer.status,
                         content_type="text/plain; charset=utf-8")
    name = f"cockpit-{team or 'all'}-{answer.body['today']}.csv"
    return _response(cockpit.to_csv(answer.body, ctx.lang), content_type="text/csv; charset=utf-8",
                     headers={"Content-Disposition": f'attachment; filename="{quote(name)}"'})


# --- admin: directory, parked notifications, rules --------------------------------------------------------------

@bp.route("/console/admin", methods=["GET"])
@page()
def console_admin(ctx: Ctx):
    return _admin_page(ctx)


# Directory writes (issue 18): each form is a call of the admin API; a new key, secret or login code is shown on
# the answer page once (never in a URL: the POST answers the page itself, no-store) and is not kept anywhere.
ADMIN_CREATE = {  # kind -> (API route, form fields)
    "teams": ("/v1/admin/teams", ("id", "name", "territory")),
    "users": ("/v1/admin/users", ("id", "name", "role", "team_id", "email", "manager_id", "partner_id")),
    "partners": ("/v1/admin/partners", ("id", "name", "tier", "team_id", "callback_url")),
}
ADMIN_ACTIONS = {  # (kind, action) -> API route
    ("teams", "deactivate"): "/v1/admin/teams/{team_id}/deactivate",
    ("teams", "reactivate"): "/v1/admin/teams/{team_id}/reactivate",
    ("users", "deactivate"): "/v1/admin/users/{user_id}/deactivate",
    ("users", "reactivate"): "/v1/admin/users/{user_id}/reactivate",
    ("users", "rotate-key"): "/v1/admin/users/{user_id}/rotate-key",
    ("users", "login-code"): "/v1/admin/users/{user_id}/login-code",
    ("partners", "deactivate"): "/v1/admin/partners/{partner_id}/deactivate",
    ("partners", "reactivate"): "/v1/admin/partners/{partner_id}/reactivate",
    ("partners", "rotate-secret"): "/v1/admin/partners/{partner_id}/rotate-secret",
}


def _admin_page(ctx: Ctx, status: int = 200, *, kind: str | None = None, values: dict | None = None,
                errors: list[dict] | None = None, message: str | None = None) -> Response:
    answer = ctx.api("GET", "/v1/admin/directory")
    if not answer.ok:
        return render(ctx, "message.html", answer.status, message=ctx.t("forbidden"))
    import secrets as _secrets

    field_errors: dict[str, list[dict]] = {}
    for e in errors or []:
        field_errors.setdefault(e.get("loc", "").removeprefix("body.") or "body", []).append(e)
    return render(ctx, "admin.html", status, d=answer.body, form_kind=kind, values=values or {},
                  field_errors=field_errors, error_message=message, nonce=_secrets.token_urlsafe(12))


@bp.route("/console/admin/dir/{kind}/create", methods=["POST"], content_types=FORM)
@page(post=True)
def console_admin_create(ctx: Ctx, form: dict[str, str], kind: str):
    if kind not in ADMIN_CREATE:
        return render(ctx, "message.html", 404, message=ctx.t("refused"))
    route, fields = ADMIN_CREATE[kind]
    body = {f: form[f].strip() for f in fields if form.get(f, "").strip()}
    nonce = form.get("nonce", "")[:64]
    answer = ctx.api("POST", route, body=body, headers={"Idempotency-Key": f"console-{nonce}"} if nonce else None)
    if not answer.ok:
        return _admin_page(ctx, answer.status, kind=kind, values=body, errors=answer.errors,
                           message=(answer.body or {}).get("message") if isinstance(answer.body, dict) else None)
    return render(ctx, "admin_secret.html", 201 if answer.status == 201 else 200, kind=kind, a=answer.body)


@bp.route("/console/admin/dir/{kind}/{ident}/{action}", methods=["POST"], content_types=FORM)
@page(post=True)
def console_admin_action(ctx: Ctx, form: dict[str, str], kind: str, ident: str, action: str):
    route = ADMIN_ACTIONS.get((kind, action))
    if route is None:
        return render(ctx, "message.html", 404, message=ctx.t("refused"))
    if action in ("deactivate", "rotate-key") and form.get("confirm") != "yes":  # the form's checkbox (required)
        return _admin_page(ctx, 400, message=ctx.t("admin_confirm_needed"))
    param = {"users": "user_id", "partners": "partner_id", "teams": "team_id"}[kind]
    body = None
    if action == "rotate-secret" and form.get("grace_hours", "").strip():
        try:
            body = {"grace_hours": float(form["grace_hours"])}
        except ValueError:
            body = {"grace_hours": form["grace_hours"]}  # the API names the field
    answer = ctx.api("POST", route, params={param: ident}, body=body)
    if not answer.ok:
        return _admin_page(ctx, answer.status, errors=answer.errors,
                           message=(answer.body or {}).get("message") if isinstance(answer.body, dict) else None)
    if action in ("rotate-key", "rotate-secret", "login-code"):
        return render(ctx, "admin_secret.html", kind=kind, a=answer.body)
    return redirect(ctx, ctx.url("/admin", m="done"))


@bp.route("/console/admin/audit", methods=["GET"])
@page()
def console_admin_audit(ctx: Ctx):
    answer = ctx.api("GET", "/v1/admin/audit")
    if not answer.ok:
        return render(ctx, "message.html", answer.status, message=ctx.t("forbidden"))
    return render(ctx, "admin_audit.html", items=answer.body["items"])


@bp.route("/console/admin/parked", methods=["GET"])
@page()
def console_admin_parked(ctx: Ctx):
    answer = ctx.api("GET", "/v1/admin/notifications/parked")
    if not answer.ok:
        return render(ctx, "message.html", answer.status, message=ctx.t("forbidden"))
    return render(ctx, "admin_parked.html", items=answer.body["items"])


@bp.route("/console/admin/skipped", methods=["GET"])
@page()
def console_admin_skipped(ctx: Ctx):
    """Deliveries not sent because their recipient was deactivated (``GET /v1/admin/notifications/skipped``):
    final, so no replay button (the CLI cannot replay them either)."""
    answer = ctx.api("GET", "/v1/admin/notifications/skipped")
    if not answer.ok:
        return render(ctx, "message.html", answer.status, message=ctx.t("forbidden"))
    return render(ctx, "admin_skipped.html", items=answer.body["items"])


@bp.route("/console/admin/parked/{delivery_id}/replay", methods=["POST"], content_types=FORM)
@page(post=True)
def console_admin_replay(ctx: Ctx, form: dict[str, str], delivery_id: str):
    answer = ctx.api("POST", "/v1/admin/notifications/{delivery_id}/replay", params={"delivery_id": delivery_id})
    if answer.ok:
        return redirect(ctx, ctx.url("/admin/parked", m="done"))
    if answer.status == 403:
        return render(ctx, "message.html", 403, message=ctx.t("forbidden"))
    return redirect(ctx, ctx.url("/admin/parked", e="refused", d=((answer.body or {}).get("message") or "")[:200]))


@bp.route("/console/admin/rules", methods=["GET"])
@page()
def console_admin_rules(ctx: Ctx):
    answer = ctx.api("GET", "/v1/admin/rules")
    if not answer.ok:
        return render(ctx, "message.html", answer.status, message=ctx.t("forbidden"))
    docs = [{**d, "text": json.dumps(d["document"], ensure_ascii=False, indent=2)} for d in answer.body["rules"]]
    return render(ctx, "admin_rules.html", docs=docs)


# --- rep: tender inbox and subscriptions (招标) -----------------------------------------------------------------

@bp.route("/console/tenders", methods=["GET"])
@page()
def console_tenders(ctx: Ctx):
    q = ctx.request.query_params or {}
    text = (q.get("q") or "").strip()[:100]
    answer = ctx.api("GET", "/v1/tenders", query={"days": "30", "limit": "50", **({"q": text} if text else {})})
    if not answer.ok:
        return render(ctx, "message.html", answer.status,
                      message=ctx.t("forbidden" if answer.status == 403 else "refused"))
    return render(ctx, "tenders.html", items=answer.body["items"], q=text)


def _tender_page(ctx: Ctx, tender_id: str, *, values: dict | None = None, errors: dict | None = None,
                 status: int = 200) -> Response:
    answer = ctx.api("GET", "/v1/tenders/{tender_id}", params={"tender_id": tender_id})
    if not answer.ok:
        return render(ctx, "message.html", 404 if answer.status in (403, 404) else answer.status,
                      message=ctx.t("not_found"))
    return render(ctx, "tender.html", status, rec=answer.body, values=values or {}, errors=errors or {},
                  roles=forms.options("ContactRole"))


@bp.route("/console/tenders/{tender_id}", methods=["GET"])
@page()
def console_tender(ctx: Ctx, tender_id: str):
    return _tender_page(ctx, tender_id)


@bp.route("/console/tenders/{tender_id}/register", methods=["POST"], content_types=FORM)
@page(post=True)
def console_tender_register(ctx: Ctx, form: dict[str, str], tender_id: str):
    from chalicelib.console import tenders

    answer = ctx.api("POST", "/v1/tenders/{tender_id}/register", params={"tender_id": tender_id},
                     body=tenders.register_body(form))
    if answer.ok:
        return redirect(ctx, ctx.url(f"/registrations/{quote(answer.body['id'])}", m="registered"))
    errors = tenders.error_map(answer.errors) or {"_": (answer.body or {}).get("message", "")}
    return _tender_page(ctx, tender_id, values=form, errors=errors, status=answer.status)


def _subscriptions_page(ctx: Ctx, *, values: dict | None = None, errors: dict | None = None,
                        status: int = 200) -> Response:
    answer = ctx.api("GET", "/v1/subscriptions")
    if not answer.ok:
        return render(ctx, "message.html", answer.status,
                      message=ctx.t("forbidden" if answer.status == 403 else "refused"))
    return render(ctx, "subscriptions.html", status, items=answer.body["items"], values=values or {},
                  errors=errors or {}, deliveries=("immediate", "daily_digest"))


@bp.route("/console/subscriptions", methods=["GET"])
@page()
def console_subscriptions(ctx: Ctx):
    return _subscriptions_page(ctx)


@bp.route("/console/subscriptions", methods=["POST"], content_types=FORM)
@page(post=True)
def console_subscription_create(ctx: Ctx, form: dict[str, str]):
    from chalicelib.console import tenders

    answer = ctx.api("POST", "/v1/subscriptions", body=tenders.subscription_body(form))
    if answer.ok:
        return redirect(ctx, ctx.url("/subscriptions", m="done"))
    errors = tenders.error_map(answer.errors) or {"_": (answer.body or {}).get("message", "")}
    return _subscriptions_page(ctx, values=form, errors=errors, status=answer.status)


@bp.route("/console/subscriptions/{sub_id}/delete", methods=["POST"], content_types=FORM)
@page(post=True)
def console_subscription_delete(ctx: Ctx, form: dict[str, str], sub_id: str):
    answer = ctx.api("DELETE", "/v1/subscriptions/{sub_id}", params={"sub_id": sub_id})
    if answer.ok:
        return redirect(ctx, ctx.url("/subscriptions", m="done"))
    return redirect(ctx, ctx.url("/subscriptions", e="forbidden" if answer.status == 403 else "refused"))


# --- everyone: my notifications ----------------------------------------------------------------------------------

@bp.route("/console/notifications", methods=["GET"])
@page()
def console_notifications(ctx: Ctx):
    """The caller's notifications (``GET /v1/notifications``, as the API redacts them), newest first."""
    cursor = ((ctx.request.query_params or {}).get("cursor") or "")[:1024]
    answer = ctx.api("GET", "/v1/notifications", query={"limit": "25", **({"cursor": cursor} if cursor else {})})
    if not answer.ok:
        return render(ctx, "message.html", answer.status, message=ctx.t("refused"))
    return render(ctx, "notifications.html", items=answer.body["items"], next_cursor=answer.body.get("next_cursor"))


@bp.route("/console/notifications/read", methods=["POST"], content_types=FORM)
@page(post=True)
def console_notification_read(ctx: Ctx, form: dict[str, str]):
    answer = ctx.api("POST", "/v1/notifications/{notification_id}/read",
                     params={"notification_id": form.get("id", "")[:64]}, body=None)
    return redirect(ctx, ctx.url("/notifications") + "?" + urlencode({"m": "done"} if answer.ok else {"e": "refused"}))
