"""The notification outbox's rules, all pure: who hears about an event, on which channels, in which words,
when (now or in a digest), and when to try again after a failure.

Flow (the handlers do the I/O around these functions):

1. ``audience(event)`` — recipient refs from the event alone, through :data:`RECIPIENT_POLICY` (one entry
   per event type) plus the generic fields any event may carry (``recipients``, ``notify``, ``approvers``).
   A ``team:<id>`` ref means "that team's managers" and ``review:<registration id>:<level>`` "who decides
   that review level" (chalicelib.domain.routing); the store expands both from the directory.
2. ``plan_deliveries(...)`` — one :class:`Delivery` per (recipient, channel) with the stable id
   ``delivery_id(event id, recipient, channel)``, so a redelivered event plans the very same records.
3. ``render(event, locale)`` — a :class:`Message` from the zh-CN / en templates; ``render_digest`` folds many.
4. ``retry_delay(...)`` — exponential backoff with equal jitter from an injected ``random.Random``.

Events are read as plain dicts (``model_dump(mode="json")``) so that a new event type needs a policy entry
and, optionally, a template — never a change to this module's code.
"""
from __future__ import annotations

import hashlib
import random
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.domain.backoff import backoff_seconds

# Every channel the outbox knows. ``webhook`` is the partner's Standard Webhooks callback (machine-readable,
# never digested); ``local`` is the development inbox (GET /v1/dev/inbox), added to everyone in local mode.
CHANNELS = ("webhook", "email", "sns", "wecom", "dingtalk", "feishu", "slack", "local")
BOT_CHANNELS = ("wecom", "dingtalk", "feishu", "slack")
DIGEST_MODES = ("off", "hourly", "daily")
LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
# The reader's timezone decides when a daily digest goes out; zh-CN readers default to China time.
DEFAULT_TIMEZONES = {"zh-CN": "Asia/Shanghai", "en": "UTC"}


# --- recipients ----------------------------------------------------------------------------------------------

Policy = Callable[[Mapping[str, Any]], list[str]]


def _actor_ref(actor: Mapping[str, Any] | None) -> list[str]:
    if not actor or actor.get("kind") not in ("user", "partner") or not actor.get("id"):
        return []
    return [f"{actor['kind']}:{actor['id']}"]


def _submitter(evt: Mapping[str, Any]) -> list[str]:
    return _actor_ref((evt.get("registration") or {}).get("submitter"))


def _owner(evt: Mapping[str, Any]) -> list[str]:
    return _actor_ref((evt.get("registration") or {}).get("owner"))


def _previous_owner(evt: Mapping[str, Any]) -> list[str]:
    return _actor_ref(evt.get("previous_owner"))


def _team(evt: Mapping[str, Any]) -> list[str]:
    team = (evt.get("registration") or {}).get("team_id") or evt.get("team_id")
    return [f"team:{team}"] if team else []


def _review_level(level: int | None) -> Policy:
    """The approvers of one review level of the event's registration, as a ``review:<id>:<level>`` ref that
    the store expands through the routing rules (chalicelib.domain.routing.approvers); ``None`` = the
    event's own ``level`` field."""
    def refs(evt: Mapping[str, Any]) -> list[str]:
        reg_id = (evt.get("registration") or {}).get("id") or evt.get("subject")
        lvl = level if level is not None else evt.get("level")
        return [f"review:{reg_id}:{int(lvl)}"] if reg_id and lvl else []
    return refs


def _holder(evt: Mapping[str, Any]) -> list[str]:
    """The ``owner`` of an ownership notice, or the ``holder`` of a conflict."""
    return _actor_ref(evt.get("owner") or evt.get("holder"))


def _rep(evt: Mapping[str, Any]) -> list[str]:
    return [f"user:{evt['rep_id']}"] if evt.get("rep_id") else []


def _union(*rules: Callable[[Mapping[str, Any]], list[str]]) -> Callable[[Mapping[str, Any]], list[str]]:
    return lambda evt: [ref for rule in rules for ref in rule(evt)]



RECIPIENT_POLICY: dict[str, Policy] = {
    "registration.submitted": _submitter,
    # "needs review": the level-1 approvers the routing rules name (by default the team's managers).
    "registration.review_requested": _review_level(1),
    "registration.approved": _union(_submitter, _owner),
    "registration.rejected": _submitter,
    "registration.withdrawn": _team,
    "registration.expired": _union(_submitter, _owner, _team),
    "registration.reclaimed": _union(_submitter, _owner, _team),
    "registration.conflict_detected": _union(_holder),  # + ``notify`` (holder and managers), generic below
    "ownership.warning": _holder,  # "expiring"; + ``notify``
    "ownership.reclaimed": _holder,
    "tender.alert": _rep,
    # Ownership moves (issue 4): the (new) owner and the team's managers; a transfer also tells who lost it.
    "registration.claimed": _union(_owner, _team),
    "registration.assigned": _owner,
    "registration.transferred": _union(_owner, _previous_owner, _team),
    "registration.extended": _owner,
    "ownership.over_limit": _holder,  # + ``notify``: the team's managers
    # Review SLA (issue 5): the event names the waiting level's approvers and their managers
    # (``approvers``/``notify``, generic below), chosen by handlers/review_sla.py through the routing rules.
    "registration.review_overdue": lambda evt: [],
    # Level 1 of two approved (audit "approval_recorded") or escalated by a reviewer ("escalated"): the second
    # level's approvers decide next.
    "registration.escalated": _review_level(2),
    # A registry says the customer is dissolved/revoked (issue 12 item 13): the submitter, owner and managers.
    "customer.review_flagged": _union(_submitter, _owner, _team),
    # The daily model check found training due / trained (issue 19): the admins in ``notify`` (generic below).
    "scoring.model_training": lambda evt: [],
}
"""Event type -> who is told (besides the generic fields). Another issue adds one line for its event type and
the same type to ``settings.QUEUES["notifications"]`` (a unit test checks the two agree)."""

# Event types whose ``notify`` names the holder and the managers of ``team_id`` (services.ownership): there, as in a
# ``team:<id>`` ref, a manager is told *as the team's manager*.
TEAM_NOTIFY = frozenset({"ownership.reclaimed", "ownership.warning", "ownership.over_limit"})


def event_team(evt: Mapping[str, Any]) -> str | None:
    """The team an event is about: its registration's, else its own ``team_id``."""
    return (evt.get("registration") or {}).get("team_id") or evt.get("team_id") or None


def reaches_team_managers(evt: Mapping[str, Any]) -> bool:
    """True when :func:`audience` may hold people told only as managers of :func:`event_team`."""
    policy = RECIPIENT_POLICY.get(str(evt.get("type")))
    return policy is not None and (str(evt.get("type")) in TEAM_NOTIFY
                                   or any(ref.startswith("team:") for ref in policy(evt)))


def told_in_person(evt: Mapping[str, Any]) -> list[str]:
    """The refs of :func:`audience` told for their own part in the event (submitter, owner, holder, previous owner,
    parties, approvers, a ``notify`` that is not the team's managers): everything but the team's managers. A
    manager of a deactivated team who is none of these is not told (``services.notification_outbox.fan_out``)."""
    kind = str(evt.get("type"))
    policy = RECIPIENT_POLICY.get(kind)
    if policy is None:
        return []
    refs = [ref for ref in policy(evt) if not ref.startswith("team:")]
    refs += [ref for party in evt.get("recipients") or [] if isinstance(party, Mapping) for ref in _actor_ref(party)]
    notify = [] if kind in TEAM_NOTIFY else list(evt.get("notify") or [])
    refs += [f"user:{u}" for u in [*notify, *(evt.get("approvers") or [])] if u]
    return dedupe(refs)


def audience(evt: Mapping[str, Any]) -> list[str]:
    """Recipient refs (``user:<id>``, ``partner:<id>``, ``team:<id>``) for one event, de-duplicated, in order.

    Args:
        evt: The event as a JSON-like dict (``model_dump(mode="json")``).

    Returns:
        The refs from the event type's policy and from the generic fields ``recipients`` (``{kind, id}``
        parties), ``notify`` and ``approvers`` (user ids). An event type without a policy entry reaches nobody.
    """
    policy = RECIPIENT_POLICY.get(str(evt.get("type")))
    if policy is None:
        return []
    refs = list(policy(evt))
    refs += [ref for party in evt.get("recipients") or [] if isinstance(party, Mapping) for ref in _actor_ref(party)]
    refs += [f"user:{u}" for u in [*(evt.get("notify") or []), *(evt.get("approvers") or [])] if u]
    return dedupe(refs)


# --- preferences and planning --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChannelPrefs:
    """One recipient's resolved settings (the store fills in defaults from the directory)."""

    recipient: str
    channels: tuple[str, ...]
    locale: str = DEFAULT_LOCALE
    digest: str = "off"
    timezone: str = ""


@dataclass(frozen=True)
class Target:
    """Where one recipient receives on one channel (from the directory and Secrets Manager)."""

    url: str | None = None
    secret: str | None = field(default=None, repr=False)
    address: str | None = None  # email address, SNS topic ARN


@dataclass(frozen=True)
class Message:
    """What a person reads, channel-neutral; channels lay it out in their own format."""

    title: str
    text: str
    link: str | None = None


@dataclass(frozen=True)
class Delivery:
    """One (event, recipient, channel) to deliver. ``due_at`` is now, or the digest's send time."""

    id: str
    event_id: str
    event_type: str
    recipient: str
    channel: str
    locale: str
    due_at: datetime
    digest: str = "off"
    message: Message = field(default_factory=lambda: Message("", ""))
    payload: Mapping[str, Any] | None = None  # the event as this recipient may see it (domain.visibility)
    inbox: bool = False  # this delivery stands for the event in the recipient's notifications (one each)


def _digest_text(text: str) -> bytes:
    return text.encode("utf-8")


def delivery_id(event_id: str, recipient: str, channel: str) -> str:
    """The stable id of one delivery: the same (event, recipient, channel) always gives the same id."""
    digest = hashlib.sha256(_digest_text(f"{event_id}\x1f{recipient}\x1f{channel}")).hexdigest()
    return f"dlv_{digest[:32]}"


def webhook_id(event_id: str, recipient: str) -> str:
    """The Standard Webhooks ``webhook-id`` for an event sent to a recipient: stable across our retries and
    replays, so the receiver can deduplicate (no '.' in it, as the spec asks)."""
    return f"msg_{hashlib.sha256(_digest_text(f'{event_id}{chr(31)}{recipient}')).hexdigest()[:32]}"


def next_digest_at(now: datetime, mode: str, timezone: str, *, hour: int = 9) -> datetime:
    """When a digest collecting ``now``'s notice goes out: the next full hour, or the next ``hour``:00 in the
    reader's timezone (daily). Unknown timezones fall back to UTC."""
    if mode == "hourly":
        return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    try:
        zone = ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    send = datetime.combine(local.date(), time(hour), tzinfo=zone)
    if send <= local:
        send = datetime.combine(local.date() + timedelta(days=1), time(hour), tzinfo=zone)
    return send.astimezone(now.tzinfo)


def plan_deliveries(evt: Mapping[str, Any], prefs: Sequence[ChannelPrefs], *, now: datetime,
                    digest_hour: int = 9) -> list[Delivery]:
    """Delivery records for one event: one per recipient and channel, rendered in the recipient's locale.

    A person is not told about their own action (the actor is skipped), except on the partner ``webhook``
    channel, which keeps a partner system in sync with everything about its registrations. Human channels
    follow the recipient's digest mode; a tender alert from a ``daily_digest`` subscription is digested daily.
    Each recipient gets the event as it may see it (``domain.visibility.event``): words and payload alike.
    The first delivery of each recipient about someone else's action is marked ``inbox``: the one that lists
    the event among the recipient's notifications (``GET /v1/notifications``).
    """
    from chalicelib.domain.visibility import Viewer, event as visible_event

    actor = _actor_ref(evt.get("actor"))
    out: list[Delivery] = []
    for p in prefs:
        locale = p.locale if p.locale in LOCALES else DEFAULT_LOCALE
        seen = visible_event(Viewer.from_ref(p.recipient), evt)
        message = render(seen, locale)
        listed = p.recipient in actor  # one's own action is not a notification
        for channel in p.channels:
            if channel not in CHANNELS or (p.recipient in actor and channel != "webhook"):
                continue
            inbox, listed = not listed, True
            mode = "off" if channel == "webhook" else p.digest
            if channel != "webhook" and evt.get("delivery") == "daily_digest":
                mode = "daily"
            due = now if mode not in ("hourly", "daily") else next_digest_at(
                now, mode, p.timezone or DEFAULT_TIMEZONES.get(locale, "UTC"), hour=digest_hour)
            out.append(Delivery(id=delivery_id(str(evt["id"]), p.recipient, channel), event_id=str(evt["id"]),
                                event_type=str(evt.get("type")), recipient=p.recipient, channel=channel,
                                locale=locale, due_at=due, digest=mode,
                                message=message, payload=seen, inbox=inbox))
    return out


# --- templates -----------------------------------------------------------------------------------------------

STATUS_LABELS = {
    "zh-CN": {"submitted": "已提交", "pending_review": "待审核", "approved": "已批准", "rejected": "已驳回",
              "withdrawn": "已撤回", "won": "已赢单", "lost": "已丢单", "expired": "已过期",
              "reclaimed": "已回收", "pool": "公海"},
    "en": {"submitted": "submitted", "pending_review": "pending review", "approved": "approved",
           "rejected": "rejected", "withdrawn": "withdrawn", "won": "won", "lost": "lost", "expired": "expired",
           "reclaimed": "reclaimed", "pool": "pool"},
}

# (title, body) per event type and locale; fields are filled by _fields() and missing ones show as "-".
TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "registration.submitted": {
        "zh-CN": ("商机报备已提交：{customer}", "项目「{project}」（{amount} {currency}）已提交，编号 {registration_id}。"),
        "en": ("Registration submitted: {customer}",
               "Project \"{project}\" ({amount} {currency}) was submitted as {registration_id}."),
    },
    "registration.review_requested": {
        "zh-CN": ("待审批：{customer}", "商机报备 {registration_id}（项目「{project}」，{amount} {currency}）等待您审批。"),
        "en": ("Approval needed: {customer}",
               "Registration {registration_id} (\"{project}\", {amount} {currency}) is waiting for your review."),
    },
    "registration.approved": {
        "zh-CN": ("报备已批准：{customer}", "商机报备 {registration_id}（项目「{project}」）已批准，保护期开始。"),
        "en": ("Registration approved: {customer}",
               "Registration {registration_id} (\"{project}\") was approved; its protection period has started."),
    },
    "registration.rejected": {
        "zh-CN": ("报备被驳回：{customer}", "商机报备 {registration_id}（项目「{project}」）被驳回。原因：{reason}"),
        "en": ("Registration rejected: {customer}",
               "Registration {registration_id} (\"{project}\") was rejected. Reason: {reason}"),
    },
    "registration.withdrawn": {
        "zh-CN": ("报备已撤回：{customer}", "商机报备 {registration_id}（项目「{project}」）已由提交人撤回。"),
        "en": ("Registration withdrawn: {customer}",
               "Registration {registration_id} (\"{project}\") was withdrawn by its submitter."),
    },
    "registration.expired": {
        "zh-CN": ("报备已过期：{customer}", "商机报备 {registration_id}（项目「{project}」）保护期已结束，状态：{status}。"),
        "en": ("Registration expired: {customer}",
               "The protection of registration {registration_id} (\"{project}\") ended; status: {status}."),
    },
    "registration.reclaimed": {
        "zh-CN": ("报备已回收：{customer}", "商机报备 {registration_id}（项目「{project}」）已被回收，状态：{status}。"),
        "en": ("Registration reclaimed: {customer}",
               "Registration {registration_id} (\"{project}\") was reclaimed; status: {status}."),
    },
    "registration.conflict_detected": {
        "zh-CN": ("撞单提醒：{customer}", "新报备 {registration_id}（项目「{project}」）与您持有的 {conflicts} 客户相同，请复核。"),
        "en": ("Possible conflict: {customer}",
               "New registration {registration_id} (\"{project}\") names the same customer as {conflicts}; "
               "please review."),
    },
    "ownership.warning": {
        "zh-CN": ("即将回收：{registration_id}", "该商机将在 {days_left} 天后（{due_at}）回收，请及时跟进或申请延期。"),
        "en": ("Expiring soon: {registration_id}",
               "This registration will be reclaimed in {days_left} days ({due_at}) unless followed up or extended."),
    },
    "ownership.reclaimed": {
        "zh-CN": ("商机已回收：{registration_id}", "该商机已被回收（原因：{reason}），当前状态：{status}。"),
        "en": ("Registration reclaimed: {registration_id}",
               "This registration was reclaimed (reason: {reason}); it is now {status}."),
    },
    "registration.claimed": {
        "zh-CN": ("公海商机已领取：{customer}", "商机报备 {registration_id}（项目「{project}」）已从公海领取，保护期重新开始。"),
        "en": ("Claimed from the pool: {customer}",
               "Registration {registration_id} (\"{project}\") was claimed from the pool; a new protection period started."),
    },
    "registration.assigned": {
        "zh-CN": ("商机已分配给您：{customer}", "商机报备 {registration_id}（项目「{project}」）已分配给您，保护期开始。"),
        "en": ("Registration assigned to you: {customer}",
               "Registration {registration_id} (\"{project}\") was assigned to you; its protection period has started."),
    },
    "registration.transferred": {
        "zh-CN": ("商机已转移：{customer}", "商机报备 {registration_id}（项目「{project}」）已转移（{reason}），保护期不变。"),
        "en": ("Registration transferred: {customer}",
               "Registration {registration_id} (\"{project}\") was transferred ({reason}); its timers carry over."),
    },
    "registration.extended": {
        "zh-CN": ("保护期已延长：{customer}", "商机报备 {registration_id}（项目「{project}」）的保护期已延长（{reason}）。"),
        "en": ("Protection extended: {customer}",
               "The protection of registration {registration_id} (\"{project}\") was extended ({reason})."),
    },
    "registration.escalated": {
        "zh-CN": ("待二级审批：{customer}",
                  "商机报备 {registration_id}（项目「{project}」，{amount} {currency}）已升至二级审批（{reason}），等待您审批。"),
        "en": ("Second approval needed: {customer}",
               "Registration {registration_id} (\"{project}\", {amount} {currency}) went up to the second review "
               "level ({reason}) and is waiting for your approval."),
    },
    "registration.review_overdue": {
        "zh-CN": ("审批超时提醒：{customer}",
                  "商机报备 {registration_id}（项目「{project}」，{amount} {currency}）第 {level} 级审批已等待超过 "
                  "{overdue_hours} 小时（自 {waiting_since} 起），请尽快处理。"),
        "en": ("Review overdue: {customer}",
               "Level {level} review of registration {registration_id} (\"{project}\", {amount} {currency}) has "
               "waited more than {overdue_hours} hours (since {waiting_since}); please decide."),
    },
    "ownership.over_limit": {
        "zh-CN": ("超出保有量：{owner}", "当前持有 {held} 个商机，超出上限 {limit_value}（{limit}）。已回收：{reclaimed}。"),
        "en": ("Over the holding limit: {owner}",
               "Holds {held} registrations, above the limit of {limit_value} ({limit}). Reclaimed: {reclaimed}."),
    },
    "customer.review_flagged": {
        "zh-CN": ("客户状态异常：{customer}", "工商信息显示该客户状态为「{reason}」（商机报备 {registration_id}），请复核后再跟进。"),
        "en": ("Customer flagged: {customer}",
               "The business registry lists this customer as {reason} (registration {registration_id}); "
               "review it before following it up."),
    },
    "scoring.model_training": {
        "zh-CN": ("智能评分模型训练：{training_outcome}",
                  "原因：{training_reasons}。新版本 {model_new}（留出集 AUC {model_auc}，Brier {model_brier}）；"
                  "当前版本 {model_current}（同一留出集 AUC {model_current_auc}）。{training_detail}"),
        "en": ("Scoring model training: {training_outcome}",
               "Why: {training_reasons}. New version {model_new} (holdout AUC {model_auc}, Brier {model_brier}); "
               "current version {model_current} (AUC {model_current_auc} on that holdout). {training_detail}"),
    },
    "tender.alert": {
        "zh-CN": ("新标讯：{tender_title}", "采购人：{buyer}；截止：{deadline}；预算：{tender_value}。"),
        "en": ("New tender: {tender_title}", "Buyer: {buyer}; deadline: {deadline}; value: {tender_value}."),
    },
}
FALLBACK_TEMPLATE = {
    "zh-CN": ("通知：{type}", "{type}：{subject}"),
    "en": ("Notice: {type}", "{type}: {subject}"),
}
TRAINING_OUTCOMES = {
    "zh-CN": {"due": "需要训练（未训练）", "published": "新版本已发布", "refused": "新版本未发布"},
    "en": {"due": "due (not trained)", "published": "new version published", "refused": "new version not published"},
}
SCORED_TYPES = frozenset({"registration.submitted", "registration.review_requested", "registration.escalated"})
SCORE_NOTE = {"zh-CN": "属性评分 {score}/100。", "en": " Attribute score {score}/100."}
MODEL_NOTE = {"zh-CN": "赢单概率 {pct}%（模型 {version}）。", "en": " Win probability {pct}% (model {version})."}
DIGEST_TITLES = {"zh-CN": "您有 {n} 条新通知", "en": "You have {n} new notifications"}


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "-"


def _fields(evt: Mapping[str, Any], locale: str) -> dict[str, str]:
    reg = evt.get("registration") or {}
    tender = evt.get("tender") or {}
    labels = STATUS_LABELS[locale]
    status = evt.get("to_status") or reg.get("status")
    value = tender.get("value")
    raw = {
        "type": evt.get("type"), "subject": evt.get("subject"),
        "registration_id": reg.get("id") or evt.get("registration_id") or evt.get("subject"),
        "customer": reg.get("customer_name"), "project": reg.get("project_title"),
        "amount": _cents_text(reg.get("expected_amount")), "currency": reg.get("currency"),
        "reason": evt.get("reason"), "status": labels.get(str(status), status) if status else None,
        "days_left": evt.get("days_left"), "due_at": str(evt.get("due_at") or "")[:10] or None,
        "conflicts": ", ".join(evt.get("conflict_with") or []) or None,
        "tender_title": tender.get("title"), "buyer": tender.get("buyer"),
        "deadline": str(tender.get("deadline") or "")[:10] or None,
        "tender_value": f"{value} {tender.get('currency') or ''}".strip() if value is not None else None,
        "level": evt.get("level"),
        "owner": (evt.get("owner") or {}).get("id"), "held": evt.get("held"), "limit": evt.get("limit"),
        "limit_value": evt.get("value"),
        "reclaimed": ", ".join(evt.get("reclaimed") or []) or None,
        "waiting_since": str(evt.get("waiting_since") or "").replace("T", " ")[:16] or None,
        "training_outcome": TRAINING_OUTCOMES[locale].get(str(evt.get("outcome"))) if evt.get("type") ==
        "scoring.model_training" else None,
        "training_reasons": "; ".join(evt.get("reasons") or []) or None,
        "model_new": evt.get("version"), "model_auc": evt.get("auc"), "model_brier": evt.get("brier"),
        "model_current": evt.get("current"), "model_current_auc": evt.get("current_auc"),
        "training_detail": evt.get("detail"),
        "overdue_hours": (int(evt["period"]) * int(evt["sla_hours"])
                          if evt.get("period") and evt.get("sla_hours") else None),
    }
    return {k: str(v) for k, v in raw.items() if v not in (None, "")}


def render(evt: Mapping[str, Any], locale: str) -> Message:
    """The event in words, in ``locale`` (``zh-CN`` or ``en``; anything else reads as the default)."""
    locale = locale if locale in LOCALES else DEFAULT_LOCALE
    title, body = TEMPLATES.get(str(evt.get("type")), FALLBACK_TEMPLATE)[locale]
    values = _Blank(_fields(evt, locale))
    fmt = string.Formatter()
    link = (evt.get("tender") or {}).get("url")
    text = fmt.vformat(body, (), values)
    score = (evt.get("registration") or {}).get("attribute_score")
    if score is not None and evt.get("type") in SCORED_TYPES:  # issue 19: the approver sees the score
        text += SCORE_NOTE[locale].format(score=int(score))
    probability = (evt.get("registration") or {}).get("model_probability")
    if probability is not None and evt.get("type") in SCORED_TYPES:
        text += MODEL_NOTE[locale].format(pct=round(100 * float(probability)),
                                          version=(evt.get("registration") or {}).get("model_version") or "-")
    return Message(title=fmt.vformat(title, (), values), text=text,
                   link=link if isinstance(link, str) and link.startswith("https://") else None)


def render_digest(messages: Sequence[Message], locale: str) -> Message:
    """Fold many messages into one: a count in the title, one line per message (oldest first)."""
    locale = locale if locale in LOCALES else DEFAULT_LOCALE
    if len(messages) == 1:
        return messages[0]
    lines = [f"- {m.title}: {m.text}" if locale == "en" else f"- {m.title}：{m.text}" for m in messages]
    return Message(title=DIGEST_TITLES[locale].format(n=len(messages)), text="\n".join(lines))


# --- retries -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RetryPolicy:
    """Attempts in total (the first send included), and the backoff's base and cap in seconds."""

    max_attempts: int = 5
    base_seconds: float = 30.0
    cap_seconds: float = 3600.0


def retry_delay(failures: int, rng: random.Random, policy: RetryPolicy = RetryPolicy(),
                retry_after: float | None = None) -> float | None:
    """Seconds to wait after the ``failures``-th failed attempt, or ``None`` when it is time to park.

    Exponential backoff with "equal jitter": half of ``min(cap, base * 2**(failures-1))`` plus a uniform
    random share of the other half, so retries of many deliveries spread out but never collapse to zero. A
    receiver's ``Retry-After`` is honoured as a lower bound (capped at the policy's cap).
    """
    if failures >= policy.max_attempts:
        return None
    return backoff_seconds(failures, base=policy.base_seconds, cap=policy.cap_seconds, retry_after=retry_after,
                           jitter=rng)


def retry_rng(delivery: str, failures: int) -> random.Random:
    """A jitter source seeded by the delivery and attempt: reproducible, yet different across deliveries."""
    return random.Random(f"{delivery}:{failures}")


def dedupe(refs: Iterable[str]) -> list[str]:
    """Refs in first-seen order without repeats."""
    out: list[str] = []
    for ref in refs:
        if ref not in out:
            out.append(ref)
    return out


def _cents_text(value: Any) -> Any:
    """An event amount (a JSON number, or text in events stored before) as message text: ``3800000.00``."""
    from decimal import Decimal, InvalidOperation

    if value is None or isinstance(value, bool):
        return value
    try:
        return f"{Decimal(str(value)):.2f}"
    except InvalidOperation:
        return value
