"""Pure notification rules: recipients, delivery ids, planning, templates, digests, backoff."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import settings
from chalicelib.domain.notifications import (
    CHANNELS,
    RECIPIENT_POLICY,
    TEMPLATES,
    ChannelPrefs,
    Message,
    RetryPolicy,
    audience,
    delivery_id,
    next_digest_at,
    plan_deliveries,
    render,
    render_digest,
    retry_delay,
    retry_rng,
    webhook_id,
)

NOW = datetime(2025, 3, 3, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai


def reg_event(type_: str, **extra) -> dict:
    evt = {"id": "reg_1:2", "type": type_, "occurred_at": NOW.isoformat(), "subject": "reg_1",
           "actor": {"kind": "user", "id": "boss"},
           "registration": {"id": "reg_1", "status": "approved", "source": "partner",
                            "submitter": {"kind": "partner", "id": "acme"}, "partner_id": "acme",
                            "owner": {"kind": "user", "id": "wang"}, "team_id": "south", "customer_key": "uscc:x",
                            "customer_name": "深圳市腾讯计算机系统有限公司", "project_title": "云平台",
                            "expected_amount": "3800000.00", "currency": "CNY", "version": 3}}
    evt.update(extra)
    return evt


def test_the_queue_subscribes_to_exactly_the_event_types_with_a_recipient_policy():
    assert set(settings.QUEUES["notifications"]) == set(RECIPIENT_POLICY)


def test_every_policy_event_type_has_chinese_and_english_templates():
    assert set(RECIPIENT_POLICY) <= set(TEMPLATES)
    assert all(set(t) == {"zh-CN", "en"} for t in TEMPLATES.values())


@pytest.mark.parametrize("type_, extra, expected", [
    ("registration.submitted", {}, ["partner:acme"]),
    ("registration.review_requested", {}, ["review:reg_1:1"]),  # the routing rules' level 1
    ("registration.approved", {}, ["partner:acme", "user:wang"]),
    ("registration.rejected", {"reason": "duplicate"}, ["partner:acme"]),
    ("registration.reclaimed", {}, ["partner:acme", "user:wang", "team:south"]),
    # the approval issue's routing can name approvers on its events; they are added generically
    ("registration.review_requested", {"approvers": ["lin", "zhao"]}, ["review:reg_1:1", "user:lin", "user:zhao"]),
    ("registration.withdrawn", {"recipients": [{"kind": "partner", "id": "acme"}, "partner:bogus",
                                                                {"kind": "system", "id": "x"}]}, ["team:south", "partner:acme"]),
    # a flagged customer (issue 12 item 13): the submitter, the owner and the team's managers
    ("customer.review_flagged", {}, ["partner:acme", "user:wang", "team:south"]),
    ("tender.unknown_type", {}, []),  # no policy entry: nobody
])
def test_audience_of_registration_events(type_, extra, expected):
    assert audience(reg_event(type_, **extra)) == expected


def test_a_partner_owner_is_addressed_as_the_partner():
    evt = reg_event("registration.approved")
    evt["registration"]["owner"] = {"kind": "partner", "id": "acme"}
    assert audience(evt) == ["partner:acme"]


def test_the_owners_kind_comes_from_the_event_not_from_a_guess():
    """Version 1 named the owner by id only and guessed the kind (partner when it equalled partner_id): a
    user whose id happens to equal the partner's was addressed as the partner. The kind is in the event now."""
    evt = reg_event("registration.approved")
    evt["registration"]["owner"] = {"kind": "user", "id": "acme"}
    assert audience(evt) == ["partner:acme", "user:acme"]  # the submitting partner, then the owning user
    moved = reg_event("registration.transferred", previous_owner={"kind": "user", "id": "acme"})
    assert audience(moved) == ["user:wang", "user:acme", "team:south"]


def test_audience_of_conflict_ownership_and_tender_events():
    conflict = {"id": "reg_2:conflict", "type": "registration.conflict_detected",
                "holder": {"kind": "user", "id": "wang"}, "notify": ["wang", "lin"]}
    assert audience(conflict) == ["user:wang", "user:lin"]
    by_partner = {"id": "reg_3:conflict", "type": "registration.conflict_detected",
                  "holder": {"kind": "partner", "id": "acme"}, "recipients": [{"kind": "partner", "id": "acme"}],
                  "notify": ["lin"]}
    assert audience(by_partner) == ["partner:acme", "user:lin"]
    warning = {"id": "w", "type": "ownership.warning", "owner": {"kind": "partner", "id": "acme"}, "notify": ["lin"]}
    assert audience(warning) == ["partner:acme", "user:lin"]
    over = {"id": "o", "type": "ownership.over_limit", "owner": {"kind": "user", "id": "wang"}, "held": 3,
            "limit": "role:rep", "value": 2, "notify": ["lin"]}
    assert audience(over) == ["user:wang", "user:lin"]
    assert render(over, "en").title == "Over the holding limit: wang"
    assert audience({"id": "t", "type": "tender.alert", "rep_id": "wang"}) == ["user:wang"]


def test_delivery_and_webhook_ids_are_stable_and_distinct():
    a = delivery_id("reg_1:2", "user:wang", "email")
    assert a == delivery_id("reg_1:2", "user:wang", "email") and a.startswith("dlv_") and len(a) == 36
    assert len({a, delivery_id("reg_1:2", "user:wang", "slack"), delivery_id("reg_1:2", "user:lin", "email"),
                delivery_id("reg_1:3", "user:wang", "email")}) == 4
    w = webhook_id("reg_1:2", "partner:acme")
    assert w == webhook_id("reg_1:2", "partner:acme") != webhook_id("reg_1:2", "partner:other")
    assert "." not in w and w.startswith("msg_")


def test_plan_skips_the_actor_except_on_the_partner_webhook():
    evt = reg_event("registration.submitted", actor={"kind": "partner", "id": "acme"})
    prefs = [ChannelPrefs("partner:acme", ("webhook", "local")), ChannelPrefs("user:wang", ("email", "carrier-pigeon"))]
    planned = plan_deliveries(evt, prefs, now=NOW)
    assert [(d.recipient, d.channel) for d in planned] == [("partner:acme", "webhook"), ("user:wang", "email")]
    assert all(d.due_at == NOW and d.digest == "off" for d in planned)
    assert planned[0].id == delivery_id("reg_1:2", "partner:acme", "webhook")


def test_plan_renders_in_each_recipients_locale_and_digests_human_channels_only():
    evt = reg_event("registration.approved")
    prefs = [ChannelPrefs("partner:acme", ("webhook",), locale="en", digest="daily"),
             ChannelPrefs("user:wang", ("slack",), locale="en", digest="daily", timezone="Europe/London"),
             ChannelPrefs("user:lin", ("wecom",), locale="fr")]
    hook, slack, wecom = plan_deliveries(evt, prefs, now=NOW)
    assert hook.digest == "off" and hook.due_at == NOW  # machines are never digested
    assert slack.digest == "daily" and slack.due_at == datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    assert slack.message.title == "Registration approved: 深圳市腾讯计算机系统有限公司"
    assert wecom.locale == "zh-CN" and wecom.message.title == "报备已批准：深圳市腾讯计算机系统有限公司"


def test_tender_alert_from_a_daily_digest_subscription_is_digested_daily():
    evt = {"id": "wang#tnd_1", "type": "tender.alert", "rep_id": "wang", "delivery": "daily_digest",
           "actor": {"kind": "system", "id": "tenders"}, "tender": {"title": "云平台采购", "buyer": "深圳市大数据中心"}}
    [d] = plan_deliveries(evt, [ChannelPrefs("user:wang", ("email",), timezone="Asia/Shanghai")], now=NOW)
    # 10:30 in Shanghai -> tomorrow 09:00 Shanghai = 01:00 UTC
    assert d.digest == "daily" and d.due_at == datetime(2025, 3, 4, 1, 0, tzinfo=UTC)


def test_next_digest_times():
    assert next_digest_at(NOW, "hourly", "UTC") == datetime(2025, 3, 3, 3, 0, tzinfo=UTC)
    assert next_digest_at(NOW, "daily", "UTC") == datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    assert next_digest_at(NOW, "daily", "Asia/Shanghai") == datetime(2025, 3, 4, 1, 0, tzinfo=UTC)
    assert next_digest_at(NOW, "daily", "Not/AZone") == datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def test_render_fills_fields_and_marks_missing_ones():
    rejected = render(reg_event("registration.rejected", reason="客户已被其他伙伴报备"), "zh-CN")
    assert rejected.text == "商机报备 reg_1（项目「云平台」）被驳回。原因：客户已被其他伙伴报备"
    no_reason = render(reg_event("registration.rejected"), "en")
    assert no_reason.text.endswith("Reason: -")
    warning = render({"id": "w", "type": "ownership.warning", "subject": "reg_1", "days_left": 3,
                      "due_at": "2025-03-06T00:00:00Z"}, "en")
    assert warning == Message("Expiring soon: reg_1", "This registration will be reclaimed in 3 days "
                                                      "(2025-03-06) unless followed up or extended.")
    unknown = render({"id": "x", "type": "tender.unknown_type", "subject": "uscc:1"}, "zh-CN")
    assert unknown.title == "通知：tender.unknown_type"


def test_render_keeps_only_https_links():
    evt = {"id": "t", "type": "tender.alert", "tender": {"title": "T", "url": "javascript:alert(1)"}}
    assert render(evt, "en").link is None
    evt["tender"]["url"] = "https://ted.europa.eu/notice/1"
    assert render(evt, "en").link == "https://ted.europa.eu/notice/1"


def test_digest_folds_messages_and_leaves_a_single_one_alone():
    one = Message("A", "a")
    assert render_digest([one], "en") is one
    folded = render_digest([one, Message("B", "b")], "zh-CN")
    assert folded.title == "您有 2 条新通知" and folded.text == "- A：a\n- B：b"


def test_backoff_grows_exponentially_with_bounded_jitter_then_parks():
    policy = RetryPolicy(max_attempts=5, base_seconds=30, cap_seconds=600)
    for failures, ceiling in [(1, 30), (2, 60), (3, 120), (4, 240)]:
        delays = [retry_delay(failures, retry_rng(f"dlv_{n}", failures), policy) for n in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 40  # spread out, not in lockstep
    assert retry_delay(5, retry_rng("dlv_0", 5), policy) is None
    capped = RetryPolicy(max_attempts=20, base_seconds=30, cap_seconds=600)
    assert 300 <= retry_delay(12, retry_rng("dlv_0", 12), capped) <= 600


def test_backoff_is_reproducible_for_a_seed_and_honours_retry_after():
    assert retry_delay(2, retry_rng("dlv_a", 2)) == retry_delay(2, retry_rng("dlv_a", 2))
    assert retry_delay(1, retry_rng("dlv_a", 1), retry_after=120) == 120
    assert retry_delay(1, retry_rng("dlv_a", 1), RetryPolicy(cap_seconds=60), retry_after=86400) == 60


def test_every_channel_has_an_implementation():
    from chalicelib.services.notification_channels import CHANNEL_IMPLS

    assert set(CHANNEL_IMPLS) == set(CHANNELS)


def test_due_times_move_forward_only():
    later = next_digest_at(NOW + timedelta(hours=7), "daily", "UTC")
    assert later == datetime(2025, 3, 4, 9, 0, tzinfo=UTC)


def test_an_amount_reads_with_cents_in_a_message_whether_the_event_wrote_a_number_or_text():
    from chalicelib.domain.notifications import _cents_text

    assert [_cents_text(v) for v in (3800000, 1200.5, "3800000.00", None)] == ["3800000.00", "1200.50",
                                                                              "3800000.00", None]
