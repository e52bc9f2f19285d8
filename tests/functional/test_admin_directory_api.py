"""Admin directory API (issue 18): create users/teams/partners, deactivate/reactivate, rotate keys and secrets,
partner users' login codes; admins only, conditional, idempotent by Idempotency-Key, audited without secrets."""
from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

from tests.functional.helpers import example, make_partner, make_user, post_webhook


@pytest.fixture(autouse=True)
def _no_registry(suite, monkeypatch):
    from chalicelib import settings
    from chalicelib.store import aws

    monkeypatch.setenv("DEALREG_REGISTRY_PROVIDERS", "")
    settings.reset()
    aws.forget_secrets()
    yield
    settings.reset()
    aws.forget_secrets()


@pytest.fixture
def admin(suite) -> str:
    return make_user("root", "admin")


def test_create_team_user_partner_and_the_keys_work_once_shown(suite, admin):
    api = suite.api
    r = api.post("/v1/admin/teams", {"id": "south", "name": "South China", "territory": "广东"}, admin)
    assert r.status == 201 and r.json() == {"id": "south", "replayed": False}
    r = api.post("/v1/admin/users", {"id": "wang", "name": "王磊", "role": "manager", "team_id": "south"}, admin)
    assert r.status == 201, r.body
    wang = r.json()
    assert wang["id"] == "wang" and wang["api_key"].startswith("drk_") and "login_code" not in wang
    assert api.get("/v1/registrations", wang["api_key"]).status == 200  # the new key works
    r = api.post("/v1/admin/partners", {"id": "acme", "name": "Acme", "team_id": "south"}, admin)
    assert r.status == 201, r.body
    acme = r.json()
    assert acme["webhook_secret"].startswith("whsec_") and acme["api_key"].startswith("drk_")
    assert post_webhook(api, "acme", acme["webhook_secret"], example(external_ref="ADM-1")).status == 202
    listed = api.get("/v1/admin/directory", admin).json()
    assert [t for t in listed["teams"] if t["id"] == "south"][0]["manager_ids"] == ["wang"]
    assert {p["id"]: p["team_id"] for p in listed["partners"]} == {"acme": "south"}
    # no key, secret or hash anywhere later: not in the listing, not in the audit
    audit = api.get("/v1/admin/audit", admin)
    assert audit.status == 200
    for body in (json.dumps(listed), audit.body.decode()):
        assert "drk_" not in body and "whsec_" not in body and wang["api_key"][4:20] not in body
    actions = [(e["action"], e["object"], e["actor"]) for e in audit.json()["items"]]
    assert ("team.created", {"kind": "team", "id": "south"}, {"kind": "user", "id": "root"}) in actions
    assert ("user.created", {"kind": "user", "id": "wang"}, {"kind": "user", "id": "root"}) in actions
    assert ("partner.created", {"kind": "partner", "id": "acme"}, {"kind": "user", "id": "root"}) in actions


def test_only_admins_may_write_the_directory(suite, admin):
    manager = make_user("boss", "manager", "channel")
    rep = make_user("rita", "rep", "channel")
    _, partner_key = make_partner("acme")
    routes = [("/v1/admin/teams", {"name": "X"}), ("/v1/admin/users", {"name": "X", "role": "admin"}),
              ("/v1/admin/partners", {"name": "X"}), ("/v1/admin/users/rita/deactivate", {}),
              ("/v1/admin/users/rita/rotate-key", {}), ("/v1/admin/partners/acme/rotate-secret", {}),
              ("/v1/admin/partners/acme/deactivate", {}), ("/v1/admin/users/rita/login-code", {})]
    for path, body in routes:
        for key in (manager, rep, partner_key):
            assert suite.api.post(path, body, key).status == 403, path
        assert suite.api.post(path, body).status == 401, path
    assert suite.api.get("/v1/admin/audit", rep).status == 403
    from chalicelib.store import directory

    assert directory.get_user("rita").active == "yes" and len(directory.list_users()) == 3  # nothing written


def test_bad_input_answers_field_paths(suite, admin):
    api = suite.api
    cases = [
        ({"name": "", "role": "rep"}, "body.name"),
        ({"name": "A", "role": "boss"}, "body.role"),
        ({"name": "A", "role": "rep", "id": "Bad Id!"}, "body.id"),
        ({"name": "A", "role": "rep", "team_id": "nowhere"}, "body.team_id"),
        ({"name": "A", "role": "partner", "partner_id": "nobody"}, "body.partner_id"),
        ({"name": "A", "role": "rep", "surprise": 1}, "body.surprise"),
    ]
    for body, loc in cases:
        r = api.post("/v1/admin/users", body, admin)
        assert r.status == 422, (body, r.body)
        assert loc in [e["loc"] for e in r.json()["errors"]], (body, r.json())
    r = api.post("/v1/admin/users", {"name": "A", "role": "partner"}, admin)  # a partner user needs partner_id
    assert r.status == 422 and r.json()["errors"][0]["loc"] == "body"
    r = api.post("/v1/admin/partners/acme/rotate-secret", {"grace_hours": -1}, admin)
    assert r.status == 422 and r.json()["errors"][0]["loc"] == "body.grace_hours"
    assert api.post("/v1/admin/teams", b"{", admin).status == 400
    for path in ("/v1/admin/users/nobody/deactivate", "/v1/admin/users/nobody/rotate-key",
                 "/v1/admin/partners/nobody/rotate-secret", "/v1/admin/partners/nobody/reactivate"):
        assert api.post(path, {}, admin).status == 404, path


def test_an_existing_id_is_refused_and_an_idempotent_retry_answers_the_first_create(suite, admin):
    api = suite.api
    first = api.post("/v1/admin/teams", {"id": "north", "name": "North"}, admin)
    again = api.post("/v1/admin/teams", {"id": "north", "name": "Other"}, admin)
    assert first.status == 201 and again.status == 409 and again.json()["code"] == "already_exists"
    from chalicelib.store import directory

    assert directory.get_team("north").name == "North"  # not overwritten
    # Idempotency-Key: no id given, so a retry without the key would make a second partner
    h = {"Idempotency-Key": "create-acme-1"}
    one = api.post("/v1/admin/partners", {"name": "Acme Systems"}, admin, headers=h)
    two = api.post("/v1/admin/partners", {"name": "Acme Systems"}, admin, headers=h)
    assert one.status == 201 and two.status == 200, two.body
    assert two.json() == {"id": one.json()["id"], "replayed": True}  # the secret and key are not shown again
    assert [p["id"] for p in directory.list_partners()] == [one.json()["id"]]
    other = api.post("/v1/admin/partners", {"name": "Another"}, admin, headers=h)
    assert other.status == 422 and other.json()["errors"][0]["loc"] == "header.idempotency-key"
    user = api.post("/v1/admin/users", {"name": "Li", "role": "rep"}, admin, headers={"Idempotency-Key": "u1"})
    retry = api.post("/v1/admin/users", {"name": "Li", "role": "rep"}, admin, headers={"Idempotency-Key": "u1"})
    assert (user.status, retry.status) == (201, 200) and retry.json()["id"] == user.json()["id"]
    assert "api_key" not in retry.json()


def test_rotating_a_key_stops_the_old_one_at_once(suite, admin):
    old = make_user("rita", "rep", "channel")
    r = suite.api.post("/v1/admin/users/rita/rotate-key", {}, admin)
    assert r.status == 200 and r.json()["id"] == "rita"
    new = r.json()["api_key"]
    assert new != old and suite.api.get("/v1/registrations", old).status == 401
    assert suite.api.get("/v1/registrations", new).status == 200
    from chalicelib.store import directory

    trail = directory.audit_trail()
    assert trail[0]["action"] == "user.key_rotated" and new not in json.dumps(trail, default=str)


def test_rotating_a_secret_keeps_the_old_one_for_the_grace_period(suite, admin):
    from chalicelib.store import directory

    old, _ = make_partner("acme")
    r = suite.api.post("/v1/admin/partners/acme/rotate-secret", {"grace_hours": 24}, admin)
    assert r.status == 200, r.body
    new = r.json()["webhook_secret"]
    assert new != old and r.json()["previous_valid_until"]
    # during the grace period both secrets sign valid webhooks (Standard Webhooks: several secrets per sender)
    assert post_webhook(suite.api, "acme", old, example(external_ref="ROT-OLD")).status == 202
    assert post_webhook(suite.api, "acme", new, example(external_ref="ROT-NEW")).status == 202
    from chalicelib.clock import now

    assert directory.partner_secrets("acme", now=now() + timedelta(hours=23)) == [new, old]
    assert directory.partner_secrets("acme", now=now() + timedelta(hours=25)) == [new]  # the grace has ended
    # with no grace, the old secret is refused at once
    r = suite.api.post("/v1/admin/partners/acme/rotate-secret", {"grace_hours": 0}, admin)
    newest = r.json()["webhook_secret"]
    assert r.json().get("previous_valid_until") is None
    from chalicelib.store import aws

    aws.forget_secrets()
    assert post_webhook(suite.api, "acme", new, example(external_ref="ROT-GONE")).status == 401
    assert post_webhook(suite.api, "acme", newest, example(external_ref="ROT-NEWEST")).status == 202


def test_a_retried_key_rotation_with_the_same_idempotency_key_issues_no_second_key(suite, admin):
    from chalicelib.store.models import ApiKeyItem

    make_user("rita", "rep", "channel")
    make_user("ivan", "rep", "channel")
    path, idem = "/v1/admin/users/rita/rotate-key", {"Idempotency-Key": "rot-1"}
    first = suite.api.post(path, {}, admin, headers=idem)
    assert first.status == 200 and first.json()["replayed"] is False
    key = first.json()["api_key"]
    # WHEN the same request is retried THEN the same outcome, no key shown, nothing issued: the first key works
    retry = suite.api.post(path, {}, admin, headers=idem)
    assert retry.status == 200 and retry.json() == {"id": "rita", "replayed": True}
    assert suite.api.get("/v1/registrations", key).status == 200
    live = [k for k in ApiKeyItem.scan() if k.principal_id == "rita" and k.revoked == "no"]
    assert len(live) == 1
    # AND the same key with another body, or for another user, is refused
    other = suite.api.post(path, {"x": 1}, admin, headers=idem)
    assert other.status == 422 and other.json()["code"] == "idempotency_key_reused"
    assert other.json()["errors"][0]["loc"] == "header.idempotency-key"
    elsewhere = suite.api.post("/v1/admin/users/ivan/rotate-key", {}, admin, headers=idem)
    assert elsewhere.status == 422 and elsewhere.json()["code"] == "idempotency_key_reused"
    # AND without the header every call rotates (as before)
    assert suite.api.post(path, {}, admin).json()["api_key"] != key
    assert suite.api.get("/v1/registrations", key).status == 401


def test_a_retried_secret_rotation_with_the_same_idempotency_key_issues_no_second_secret(suite, admin):
    from chalicelib.store import aws, directory

    old, _ = make_partner("acme")
    make_partner("beta")
    path, idem = "/v1/admin/partners/acme/rotate-secret", {"Idempotency-Key": "sec-1"}
    first = suite.api.post(path, {"grace_hours": 24}, admin, headers=idem)
    assert first.status == 200 and first.json()["replayed"] is False, first.body
    new = first.json()["webhook_secret"]
    retry = suite.api.post(path, {"grace_hours": 24}, admin, headers=idem)
    assert retry.status == 200
    assert retry.json() == {"id": "acme", "replayed": True,
                            "previous_valid_until": first.json()["previous_valid_until"]}
    aws.forget_secrets()
    assert directory.partner_secrets("acme") == [new, old]  # no third secret, the first answer's is in force
    other = suite.api.post(path, {"grace_hours": 0}, admin, headers=idem)
    assert other.status == 422 and other.json()["code"] == "idempotency_key_reused"
    elsewhere = suite.api.post("/v1/admin/partners/beta/rotate-secret", {"grace_hours": 24}, admin, headers=idem)
    assert elsewhere.status == 422 and elsewhere.json()["code"] == "idempotency_key_reused"
    assert len([e for e in directory.audit_trail() if e["action"] == "partner.secret_rotated"]) == 1


def test_a_retry_while_the_first_secret_rotation_is_unfinished_is_409_not_a_second_secret(suite, admin):
    from chalicelib.store.models import ClaimItem

    make_partner("acme")
    # GIVEN the first request took its claim and lease and then stopped before finishing (made so by hand)
    r = suite.api.post("/v1/admin/partners/acme/rotate-secret", {}, admin, headers={"Idempotency-Key": "k"})
    [claim] = [c for c in ClaimItem.scan() if c.key.endswith("#k")]
    claim.update(actions=[ClaimItem.response.set({**claim.response, "done": False})])
    # WHEN it is retried THEN 409 (nothing issued), and a new key rotates
    retry = suite.api.post("/v1/admin/partners/acme/rotate-secret", {}, admin, headers={"Idempotency-Key": "k"})
    assert r.status == 200 and retry.status == 409 and "webhook_secret" not in retry.json()
    again = suite.api.post("/v1/admin/partners/acme/rotate-secret", {}, admin, headers={"Idempotency-Key": "k2"})
    assert again.status == 200 and again.json()["replayed"] is False and again.json()["webhook_secret"]


def test_a_rotation_in_progress_refuses_a_concurrent_one(suite, admin):
    """Secrets Manager has no conditional write: the lease on the partner item makes the second rotation 409
    instead of overwriting the first one's new secret."""
    from chalicelib.clock import now
    from chalicelib.store.models import PartnerItem

    make_partner("acme")
    PartnerItem("partner#acme").update(actions=[PartnerItem.rotating_until.set(now() + timedelta(seconds=30))])
    r = suite.api.post("/v1/admin/partners/acme/rotate-secret", {}, admin)
    assert r.status == 409 and r.json()["code"] == "conflict"
    PartnerItem("partner#acme").update(actions=[PartnerItem.rotating_until.set(now() - timedelta(seconds=1))])
    assert suite.api.post("/v1/admin/partners/acme/rotate-secret", {}, admin).status == 200  # a stale lease is free


def test_concurrent_rotations_of_a_key_leave_exactly_one_key(suite, admin):
    make_user("rita", "rep", "channel")
    answers = []

    def rotate():
        answers.append(suite.api.post("/v1/admin/users/rita/rotate-key", {}, admin))

    threads = [threading.Thread(target=rotate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [a.json()["api_key"] for a in answers if a.status == 200]
    assert ok and all(a.status in (200, 409) for a in answers)
    working = [k for k in ok if suite.api.get("/v1/registrations", k).status == 200]
    assert len(working) == 1  # only one key of the user is in force


def test_a_stale_version_is_a_conflict_and_writes_nothing(suite, admin):
    """The conditional write itself: a deactivation based on a read older than another change is refused."""
    from chalicelib.clock import now
    from chalicelib.store import directory

    make_user("rita", "rep", "channel")
    stale = directory.get_user("rita")
    assert suite.api.post("/v1/admin/users/rita/rotate-key", {}, admin).status == 200  # version moves on
    from unittest import mock

    with mock.patch.object(directory, "get_user", return_value=stale), pytest.raises(directory.ConflictError):
        directory.set_active("user", "rita", False, now=now())
    assert directory.get_user("rita").active == "yes"


def test_deactivating_a_user_stops_their_key_and_sessions_and_reactivation_keeps_old_sessions_ended(suite, admin):
    from tests.functional.console_client import ConsoleClient

    key = make_user("rita", "rep", "channel")
    browser = ConsoleClient(suite.api.base)
    browser.login(key)
    assert browser.get("/console/registrations")[0] == 200
    r = suite.api.post("/v1/admin/users/rita/deactivate", {}, admin)
    assert r.status == 200 and r.json() == {"id": "rita", "active": False, "changed": True}
    assert suite.api.get("/v1/registrations", key).status == 401
    assert browser.get("/console/registrations")[0] == 303  # back to the login page
    assert suite.api.post("/v1/admin/users/rita/deactivate", {}, admin).json()["changed"] is False  # idempotent
    assert suite.api.post("/v1/admin/users/root/deactivate", {}, admin).status == 409  # not oneself
    assert suite.api.post("/v1/admin/users/rita/reactivate", {}, admin).json()["active"] is True
    assert suite.api.get("/v1/registrations", key).status == 200  # the key works again...
    assert browser.get("/console/registrations")[0] == 303  # ...the session from before does not
    browser.login(key)
    assert browser.get("/console/registrations")[0] == 200


def test_deactivating_a_partner_stops_its_webhooks_key_and_users(suite, admin):
    secret, key = make_partner("acme")
    assert post_webhook(suite.api, "acme", secret, example(external_ref="DEACT-1")).status == 202
    r = suite.api.post("/v1/admin/partners/acme/deactivate", {}, admin)
    assert r.status == 200 and r.json()["active"] is False
    assert post_webhook(suite.api, "acme", secret, example(external_ref="DEACT-2")).status == 401
    assert suite.api.get("/v1/registrations", key).status == 401
    assert suite.api.post("/v1/admin/partners/acme/reactivate", {}, admin).status == 200
    assert post_webhook(suite.api, "acme", secret, example(external_ref="DEACT-3")).status == 202


def test_the_partner_cache_serves_a_deactivation_made_elsewhere_no_longer_than_its_ttl(suite, monkeypatch):
    """Another process (the CLI, another warm container) deactivates the partner: this process's cache
    (DEALREG_PARTNER_CACHE_SECONDS) may serve the old record until its entry is that old, never after."""
    from types import SimpleNamespace

    from chalicelib import settings
    from chalicelib.store import directory
    from chalicelib.store.models import PartnerItem

    # The cache's own clock (time.monotonic in store.directory) is stepped by the test: with the real one, a
    # loaded machine could spend the whole TTL between caching and the "within the TTL" read.
    ticks = [1000.0]
    monkeypatch.setattr(directory, "time", SimpleNamespace(monotonic=lambda: ticks[0]))
    monkeypatch.setenv("DEALREG_PARTNER_CACHE_SECONDS", "2")
    settings.reset()
    directory.forget_partners()
    make_partner("acme")
    assert directory.cached_partner("acme").active == "yes"
    PartnerItem("partner#acme").update(actions=[PartnerItem.active.set("no")])  # behind this process's back
    ticks[0] += 1.5
    assert directory.cached_partner("acme").active == "yes"  # within the TTL: the cached record
    ticks[0] += 0.5
    assert directory.cached_partner("acme").active == "no"  # its age reaches the TTL: read again


def test_partner_user_login_code_password_and_throttle(suite, admin):
    from chalicelib.clock import now
    from chalicelib.services import directory as svc
    from chalicelib.store import directory

    make_partner("acme")
    r = suite.api.post("/v1/admin/users", {"id": "li", "name": "李娜", "role": "partner", "partner_id": "acme"},
                       admin)
    assert r.status == 201, r.body
    code = r.json()["login_code"]
    assert "api_key" not in r.json() and code.startswith("drc_")
    stored = directory.get_user("li")
    assert stored.login_code_hash and code not in json.dumps(stored.attribute_values, default=str)
    assert suite.api.post("/v1/admin/users/li/rotate-key", {}, admin).status == 409  # no API key for them
    ip = "192.0.2.10"
    assert svc.set_password("li", "drc_wrong", "a long enough password", now=now(), client_ip=ip) is False
    assert svc.set_password("li", code, "a long enough password", now=now(), client_ip=ip) is True
    assert svc.set_password("li", code, "another long password", now=now(), client_ip=ip) is False  # spent
    user = directory.get_user("li")
    assert user.password_hash and user.password_salt and "a long enough password" not in user.password_hash
    principal, person = svc.password_login("li", "a long enough password", now=now(), client_ip=ip)
    assert (principal.kind.value, principal.id, person) == ("partner", "acme", "li")
    # (the throttle itself: tests/functional/test_login_throttle.py)
    # a new code (the admin's reset) answers once; it is not in the audit
    r = suite.api.post("/v1/admin/users/li/login-code", {}, admin)
    assert r.status == 200 and r.json()["login_code"] != code
    assert r.json()["login_code"] not in suite.api.get("/v1/admin/audit", admin).body.decode()
    assert suite.api.post("/v1/admin/users/root/login-code", {}, admin).status == 409  # staff use keys


def test_console_admin_forms_create_rotate_deactivate_and_show_secrets_once(suite, admin):
    import re

    from tests.functional.console_client import ConsoleClient

    c = ConsoleClient(suite.api.base)
    c.login(admin)
    status, _, page = c.get("/console/admin")
    assert status == 200 and 'id="create-user"' in page and 'id="create-partner"' in page
    nonce = re.search(r'name="nonce" value="([^"]+)"', page).group(1)
    form = {"csrf": c.csrf(page), "nonce": nonce, "name": "Acme", "id": "acme"}
    assert c.post("/console/admin/dir/partners/create", {**form, "csrf": ""})[0] == 403  # CSRF-less: refused
    status, headers, shown = c.post("/console/admin/dir/partners/create", form)
    assert status == 201 and headers["cache-control"] == "no-store"
    secret = re.search(r'id="new-webhook-secret">(whsec_[^<]+)<', shown).group(1)
    assert re.search(r'id="new-api-key">drk_', shown)
    # a resubmitted form (same nonce) creates nothing new and does not show the secret again
    status, _, again = c.post("/console/admin/dir/partners/create", form)
    assert status == 200 and secret not in again and "whsec_" not in again
    assert post_webhook(suite.api, "acme", secret, example(external_ref="CONSOLE-1")).status == 202
    # a refused create is answered on the directory page with the field marked
    page = c.get("/console/admin")[2]
    status, _, bad = c.post("/console/admin/dir/users/create", {"csrf": c.csrf(page), "nonce": "n2", "name": "X",
                                                                 "role": "rep", "team_id": "nowhere"})
    assert status == 422 and 'data-loc="body.team_id"' in bad
    # a partner user gets a one-time login code on the answer page
    status, _, shown = c.post("/console/admin/dir/users/create", {
        "csrf": c.csrf(page), "nonce": "n3", "name": "李娜", "id": "li", "role": "partner", "partner_id": "acme"})
    assert status == 201 and re.search(r'id="new-login-code">drc_', shown)
    assert "drc_" not in c.get("/console/admin")[2]  # never on the directory page
    # rotate the partner's secret with a grace period; then deactivate it
    status, _, shown = c.post("/console/admin/dir/partners/acme/rotate-secret", {"csrf": c.csrf(page),
                                                                                "grace_hours": "2"})
    assert status == 200 and re.search(r'id="new-webhook-secret">whsec_', shown)
    # deactivating takes the ticked confirmation
    status, _, unconfirmed = c.post("/console/admin/dir/partners/acme/deactivate", {"csrf": c.csrf(page)})
    assert status == 400 and 'data-id="acme" data-active="true"' in unconfirmed
    status, headers, _ = c.post("/console/admin/dir/partners/acme/deactivate", {"csrf": c.csrf(page),
                                                                               "confirm": "yes"})
    assert status == 303 and "m=done" in headers["location"]
    assert 'data-id="acme" data-active="false"' in c.get("/console/admin")[2]
    assert post_webhook(suite.api, "acme", secret, example(external_ref="CONSOLE-2")).status == 401
    # a rep cannot use the admin forms even with a valid session and token
    rep = ConsoleClient(suite.api.base)
    rep.login(make_user("rita", "rep", "channel"))
    rep_page = rep.get("/console/registrations")[2]
    assert rep.post("/console/admin/dir/users/root/deactivate", {"csrf": rep.csrf(rep_page),
                                                                 "confirm": "yes"})[0] == 403
    from chalicelib.store import directory

    assert directory.get_user("root").active == "yes"


def test_partner_user_sets_a_password_logs_in_and_sees_only_their_partners_data(suite, admin):
    from tests.functional.console_client import ConsoleClient

    secret, _ = make_partner("acme")
    other_secret, _ = make_partner("globex")
    mine = post_webhook(suite.api, "acme", secret, example(external_ref="PU-MINE")).json()["id"]
    theirs = post_webhook(suite.api, "globex", other_secret, example(external_ref="PU-THEIRS")).json()["id"]
    code = suite.api.post("/v1/admin/users", {"id": "li", "name": "Li", "role": "partner", "partner_id": "acme"},
                          admin).json()["login_code"]
    c = ConsoleClient(suite.api.base)
    page = c.get("/console/password")[2]
    assert c.post("/console/password", {"csrf": c.csrf(page), "user_id": "li", "code": code, "password": "short",
                                        "password2": "short"})[0] == 422
    status, headers, _ = c.post("/console/password", {"csrf": c.csrf(page), "user_id": "li", "code": code,
                                                      "password": "correct horse battery", "password2":
                                                      "correct horse battery"})
    assert status == 303 and "m=password_set" in headers["location"]
    page = c.get("/console/login")[2]
    assert c.post("/console/login/password", {"csrf": c.csrf(page), "user_id": "li", "password": "wrong one!!!"})[0] == 401
    status, headers, _ = c.post("/console/login/password", {"csrf": c.csrf(page), "user_id": "li",
                                                            "password": "correct horse battery"})
    assert status == 303 and headers["location"].endswith("/console/registrations")
    status, _, listing = c.get("/console/registrations")
    assert status == 200 and mine in listing and theirs not in listing
    assert c.get(f"/console/registrations/{theirs}")[0] == 404
    assert c.get("/console/admin")[0] == 403
    # deactivating the person ends their session; their partner's other logins are untouched
    assert suite.api.post("/v1/admin/users/li/deactivate", {}, admin).status == 200
    assert c.get("/console/registrations")[0] == 303
    assert post_webhook(suite.api, "acme", secret, example(external_ref="PU-AFTER")).status == 202


def test_the_cli_uses_the_same_service_and_is_audited(suite, capsys):
    from chalicelib.store import directory
    from infra.cli import main

    make_partner("acme")
    assert main(["users", "create", "Li Na", "--role", "partner", "--partner", "acme", "--id", "li"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["id"] == "li" and out["login_code"].startswith("drc_") and "api_key" not in out
    assert main(["users", "create", "Bad", "--role", "partner"]) == 2  # a partner user needs --partner
    assert "partner_id" in capsys.readouterr().err
    assert main(["users", "deactivate", "li"]) == 0 and directory.get_user("li").active == "no"
    assert main(["users", "reactivate", "li"]) == 0 and directory.get_user("li").active == "yes"
    capsys.readouterr()
    assert main(["users", "login-code", "li"]) == 0
    assert json.loads(capsys.readouterr().out)["login_code"].startswith("drc_")
    assert main(["partners", "deactivate", "acme"]) == 0 and main(["partners", "reactivate", "acme"]) == 0
    trail = [(e["actor"], e["action"], e["target"]) for e in directory.audit_trail()]
    assert ("system:cli", "user.created", "user:li") in trail
    assert ("system:cli", "user.deactivated", "user:li") in trail and ("system:cli", "partner.reactivated",
                                                                       "partner:acme") in trail
    assert "drc_" not in json.dumps(directory.audit_trail(), default=str)


def _readme_admin_example() -> tuple[dict[str, str], str, str, dict]:
    """The curl command and answer of README's "Managing the directory" section, as written there."""
    import re
    import shlex
    from pathlib import Path

    text = Path(__file__).resolve().parents[2].joinpath("README.md").read_text(encoding="utf-8")
    section = text.split("### Managing the directory", 1)[1]
    block = section.split("```console", 1)[1].split("```", 1)[0]
    command, answer = block.strip().split("\n{", 1)
    argv = shlex.split(command.replace("\\\n", " ").removeprefix("$ "))
    headers = dict(argv[i + 1].split(": ", 1) for i, a in enumerate(argv) if a == "-H")
    body = argv[argv.index("-d") + 1]
    url = next(a for a in argv if a.startswith("http://"))
    assert re.match(r"http://127\.0\.0\.1:8000/", url)
    return headers, body, url.removeprefix("http://127.0.0.1:8000"), json.loads("{" + answer)


def test_the_readme_admin_curl_example_works_as_written(suite, admin):
    headers, body, path, shown = _readme_admin_example()
    suite.api.post("/v1/admin/teams", {"id": "channel", "name": "Channel"}, admin)
    # curl -d sends application/x-www-form-urlencoded unless the command sets a Content-Type
    sent = {"Content-Type": "application/x-www-form-urlencoded", **headers,
            "Authorization": f"Bearer {admin}"}
    r = suite.api.request("POST", path, body, headers=sent)
    assert r.status == 201, r.body
    assert list(r.json()) == list(shown) and r.json()["id"] == shown["id"] and r.json()["replayed"] is False
    assert r.json()["webhook_secret"].startswith("whsec_") and r.json()["api_key"].startswith("drk_")
    again = suite.api.request("POST", path, body, headers=sent)
    assert again.status == 200 and again.json() == {"id": shown["id"], "replayed": True}


def test_admin_bodies_are_parsed_once_and_fingerprinted_as_the_intake_path_does(suite, admin, monkeypatch):
    """The admin creates and the secret rotation fingerprint the body they already parsed
    (``json_fingerprint``, as intake does) instead of parsing the raw text again; the stored fingerprint is
    the very digest the raw-text path made, so claims stored before still match."""
    from chalicelib.store import registrations
    from chalicelib.store.models import ClaimItem

    raw_fingerprint = registrations.body_fingerprint

    def no_second_parse(raw):
        raise AssertionError("the admin path parsed the raw body a second time")

    monkeypatch.setattr(registrations, "body_fingerprint", no_second_parse)
    body = {"id": "south", "name": "华南区", "territory": "广东"}
    spaced = b'{ "territory": "\\u5e7f\\u4e1c",  "name": "\xe5\x8d\x8e\xe5\x8d\x97\xe5\x8c\xba", "id": "south" }'
    h = {"Authorization": f"Bearer {admin}", "Idempotency-Key": "team-south"}
    first = suite.api.request("POST", "/v1/admin/teams", json.dumps(body).encode(), headers=h)
    assert first.status == 201, first.body
    retry = suite.api.request("POST", "/v1/admin/teams", spaced, headers=h)  # same JSON, other key order/spacing
    assert retry.status == 200 and retry.json() == {"id": "south", "replayed": True}
    make_partner("acme")
    sec = {"Authorization": f"Bearer {admin}", "Idempotency-Key": "sec-south"}
    assert suite.api.request("POST", "/v1/admin/partners/acme/rotate-secret", b'{"grace_hours": 1}',
                             headers=sec).status == 200
    monkeypatch.undo()
    stored = {c.key: c.fingerprint for c in ClaimItem.scan() if c.key.startswith("admin#")}
    assert stored["admin#user:root#team-south"] == registrations.json_fingerprint(body) == raw_fingerprint(spaced)
    assert stored["admin#user:root#sec-south"] == raw_fingerprint(b'{"grace_hours": 1}')
