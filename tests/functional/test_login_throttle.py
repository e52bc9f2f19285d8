"""Partner users' password logins: brute force is throttled, yet nobody can lock another person out.

Before, five wrong passwords from anywhere locked a user's login for 15 minutes, so anyone who knew a user id
could keep that person out. Now attempts are counted per (user, client address), per address and per user
(a much higher allowance that a browser which signed in as the user before skips); a refusal is 429 with
Retry-After, counts are conditional writes, and the moment a scope starts to throttle is audited.
"""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from tests.functional.helpers import make_partner, make_user

PASSWORD = "a long enough password"
USER_IP, ATTACKER_IP = "203.0.113.9", "198.51.100.7"  # documentation addresses: strings in a request, never dialled


@pytest.fixture(autouse=True)
def frozen(suite):
    """The server's clock stands still: a throttled attempt must come within the 2 s wait after the free ones, and
    on the wall clock a loaded machine took longer than that between the console attempts (each a page, a form
    post and a scrypt check), which then answered 401/303 instead of 429. Tests that need time to pass say when."""
    from datetime import UTC, datetime

    from chalicelib import clock

    stopped = clock.FrozenClock(datetime.now(UTC))
    clock.set_clock(stopped)  # the suite fixture puts the system clock back
    return stopped


@pytest.fixture
def li(suite):
    """A partner user "li" of partner acme with a password set."""
    from chalicelib.clock import now
    from chalicelib.domain.access import Role
    from chalicelib.services import directory as svc
    from chalicelib.store import directory

    make_partner("acme")
    code = svc._new_code()
    directory.create_user("li", "李娜", Role.PARTNER, now=now(), partner_id="acme", login_code_hash=svc._hash(code),
                          login_code_expires=now() + timedelta(hours=1))
    assert svc.set_password("li", code, PASSWORD, now=now(), client_ip=USER_IP)
    return "li"


@pytest.fixture
def limits(monkeypatch):
    """Small allowances so a test needs few scrypt checks."""
    from chalicelib import settings

    def set_(**env):
        for name, value in env.items():
            monkeypatch.setenv(f"DEALREG_LOGIN_{name.upper()}", str(value))
        settings.reset()

    yield set_
    monkeypatch.undo()
    settings.reset()


def _login(user, password, ip, at, **kw):
    from chalicelib.services import directory as svc

    return svc.password_login(user, password, now=at, client_ip=ip, **kw)


def test_an_attacker_from_one_address_is_slowed_down_but_the_user_logs_in_from_another(suite, li):
    from chalicelib.clock import now
    from chalicelib.domain.errors import TooManyAttemptsError
    from chalicelib.services import directory as svc

    t0 = now()
    free = 5  # DEALREG_LOGIN_FREE_PER_USER_IP default
    for _ in range(free):
        assert _login(li, "wrong password!!", ATTACKER_IP, t0) is None
    with pytest.raises(TooManyAttemptsError) as refused:
        _login(li, PASSWORD, ATTACKER_IP, t0)  # even the right password: nothing is checked while waiting
    assert refused.value.status == 429 and refused.value.retry_after == 2 and refused.value.scope == "pair"
    assert refused.value.headers == {"Retry-After": "2"}
    # the waits double: after the wait, one more wrong guess, then 4 s
    assert _login(li, "wrong password!!", ATTACKER_IP, t0 + timedelta(seconds=2)) is None
    with pytest.raises(TooManyAttemptsError) as refused:
        _login(li, "wrong password!!", ATTACKER_IP, t0 + timedelta(seconds=3))
    assert refused.value.retry_after == 3  # 4 s after the attempt at t0 + 2 s
    # meanwhile the user, from their own address, is not affected at all
    principal, person = _login(li, PASSWORD, USER_IP, t0 + timedelta(seconds=3))
    assert (principal.id, person) == ("acme", "li")
    # and the moment the attacker's pair started to wait is in the admin audit (once, not per guess)
    admin = make_user("root", "admin")
    audit = suite.api.get("/v1/admin/audit", admin)
    assert audit.status == 200, audit.body
    throttled = [e for e in audit.json()["items"] if e["action"] == "login.throttled"]
    assert len(throttled) == 1 and throttled[0]["object"] == {"kind": "user", "id": "li"}
    assert throttled[0]["actor"] == {"kind": "system", "id": "login-throttle"}
    assert throttled[0]["detail"] == {"scope": "pair", "client_ip": ATTACKER_IP, "user_id": "li", "wait_seconds": 2.0}
    # the set-password form is throttled the same way (a code cannot be guessed at leisure either)
    with pytest.raises(TooManyAttemptsError):
        svc.set_password(li, "drc_guess", "another long password", now=t0 + timedelta(seconds=3),
                         client_ip=ATTACKER_IP)


def test_a_quiet_period_forgets_the_count_and_a_success_resets_the_users_own_address(suite, li):
    from chalicelib.clock import now
    from chalicelib.domain.errors import TooManyAttemptsError

    t0 = now()
    for _ in range(4):
        assert _login(li, "wrong password!!", USER_IP, t0) is None  # the user mistypes four times
    assert _login(li, PASSWORD, USER_IP, t0) is not None  # the fifth attempt: right, and the count starts again
    for _ in range(4):
        assert _login(li, "wrong password!!", USER_IP, t0) is None
    assert _login(li, PASSWORD, USER_IP, t0) is not None
    for _ in range(5):
        assert _login(li, "wrong password!!", ATTACKER_IP, t0) is None
    with pytest.raises(TooManyAttemptsError):
        _login(li, PASSWORD, ATTACKER_IP, t0 + timedelta(seconds=1))
    assert _login(li, PASSWORD, ATTACKER_IP, t0 + timedelta(seconds=3601)) is not None  # an hour later: forgotten


def test_one_address_guessing_many_users_is_throttled_known_or_not(suite, li, limits):
    from chalicelib.clock import now
    from chalicelib.domain.errors import TooManyAttemptsError

    limits(free_per_ip=4)
    t0 = now()
    for user in ("li", "nobody", "zhang", "wang"):  # unknown user ids count alike (no enumeration)
        assert _login(user, "wrong password!!", ATTACKER_IP, t0) is None
    with pytest.raises(TooManyAttemptsError) as refused:
        _login("someone-else", "wrong password!!", ATTACKER_IP, t0)
    assert refused.value.scope == "ip" and refused.value.retry_after == 2
    assert _login(li, PASSWORD, USER_IP, t0) is not None  # the address, not the users, is slowed down
    from chalicelib.services import directory as svc

    scopes = [(e["detail"]["scope"], e["detail"]["client_ip"]) for e in svc.audit() if e["action"] == "login.throttled"]
    assert scopes == [("ip", ATTACKER_IP)]


def test_many_addresses_reach_the_per_user_cap_yet_a_browser_that_signed_in_before_gets_in(suite, li, limits):
    from chalicelib.clock import now
    from chalicelib.domain.errors import TooManyAttemptsError

    limits(free_per_user=6)
    t0 = now()
    for n in range(6):  # a botnet: one guess per address
        assert _login(li, "wrong password!!", f"198.51.100.{n + 20}", t0) is None
    with pytest.raises(TooManyAttemptsError) as refused:
        _login(li, PASSWORD, "192.0.2.44", t0)  # a new place without the device cookie waits
    assert refused.value.scope == "user"
    assert _login(li, PASSWORD, USER_IP, t0, known_device=True) is not None  # the user's own browser: unaffected


def test_concurrent_guesses_cannot_slip_past_the_count(suite, li):
    """Sixteen guesses at once from one address: each count is a write conditioned on the count read, so
    exactly the free five are checked and eleven refused; none is lost."""
    from chalicelib.clock import now
    from chalicelib.domain.errors import TooManyAttemptsError
    from chalicelib.store import login_throttle as counts

    t0 = now()
    results: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def guess() -> None:
        start.wait()
        try:
            outcome = "checked" if _login(li, "wrong password!!", ATTACKER_IP, t0) is None else "in"
        except TooManyAttemptsError:
            outcome = "refused"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=guess) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(results) == ["checked"] * 5 + ["refused"] * 11, results
    assert counts.read(counts.key("pair", user_id=li, ip=ATTACKER_IP)).attempts == 5
    assert counts.read(counts.key("ip", user_id=li, ip=ATTACKER_IP)).attempts == 5


def test_an_attempt_refused_by_a_later_scope_takes_back_only_its_own_count(suite, li, limits, monkeypatch):
    """The pair is counted first; when a concurrent attempt wins the address's count and that scope now says
    wait, the refused attempt undoes just its own +1 on the pair: the (user, address) count and its wait stay.
    (Before, the roll-back reset the pair to zero, so racing from one address erased its backoff.)"""
    from chalicelib.clock import now
    from chalicelib.domain.errors import TooManyAttemptsError
    from chalicelib.services import directory as svc
    from chalicelib.store import login_throttle as counts

    limits(free_per_user_ip=5, free_per_ip=6)
    t0 = now()
    for _ in range(4):
        assert _login(li, "wrong password!!", ATTACKER_IP, t0) is None
    assert _login("zhang", "wrong password!!", ATTACKER_IP, t0) is None
    pair, ip = (counts.key(scope, user_id=li, ip=ATTACKER_IP) for scope in ("pair", "ip"))
    assert (counts.read(pair).attempts, counts.read(ip).attempts) == (4, 5)

    real_write, raced = counts.write, []

    def write_losing_the_address_race(pk, **kw):
        if pk == ip and not raced:  # another request from the same address is counted just before this one
            raced.append(pk)
            svc._take_attempt("wang", ATTACKER_IP, t0, known_device=False)
        return real_write(pk, **kw)

    monkeypatch.setattr(counts, "write", write_losing_the_address_race)
    with pytest.raises(TooManyAttemptsError) as refused:
        _login(li, "wrong password!!", ATTACKER_IP, t0)
    monkeypatch.setattr(counts, "write", real_write)
    assert raced and refused.value.scope == "ip"
    after = counts.read(pair)
    assert after.attempts == 4 and after.last_at is not None  # only the refused attempt's own +1 is undone
    assert counts.read(ip).attempts == 6  # the racing attempt's count stands
    # the pair's count still leads to its wait: one more guess from here (after the address's wait) uses the
    # last free attempt and the next one is refused in the pair scope
    later = t0 + timedelta(seconds=3)
    assert _login(li, "wrong password!!", ATTACKER_IP, later) is None
    with pytest.raises(TooManyAttemptsError) as refused:
        _login(li, PASSWORD, ATTACKER_IP, later)
    assert refused.value.scope in ("pair", "ip") and counts.read(pair).attempts == 5


def test_an_ipv6_attacker_cannot_escape_the_count_by_moving_within_its_64(suite, li):
    from chalicelib.clock import now
    from chalicelib.domain.errors import TooManyAttemptsError

    t0 = now()
    for n in range(5):  # a new address of the same /64 for each guess
        assert _login(li, "wrong password!!", f"2001:db8:77:1::{n + 1:x}", t0) is None
    with pytest.raises(TooManyAttemptsError) as refused:
        _login(li, PASSWORD, "2001:db8:77:1:abcd::99", t0)
    assert refused.value.scope == "pair"
    assert _login(li, PASSWORD, "2001:db8:77:2::1", t0) is not None  # another /64 is another client


def test_the_console_answers_429_with_retry_after_in_both_languages(suite, li):
    import re

    from tests.functional.console_client import ConsoleClient

    def attempt(c: ConsoleClient, password: str):
        page = c.get("/console/login")[2]
        return c.post("/console/login/password", {"csrf": c.csrf(page), "user_id": li, "password": password})

    en = ConsoleClient(suite.api.base, lang="en")
    status, headers, _ = attempt(en, PASSWORD)
    assert status == 303 and "dr_device" in en.cookies  # signed in: this browser is now known for li
    for _ in range(5):
        assert attempt(en, "wrong password!!")[0] == 401
    status, headers, page = attempt(en, "wrong password!!")
    assert status == 429 and int(headers["retry-after"]) >= 1
    assert re.search(r"Too many attempts from here; try again in \d+ seconds\. Your login is not locked\.", page)
    zh = ConsoleClient(suite.api.base, lang="zh-CN")  # the same address (the local server's 127.0.0.1)
    status, headers, page = attempt(zh, PASSWORD)
    assert status == 429 and "此处的尝试次数过多" in page and "您的账号没有被锁定" in page


def test_only_a_device_cookie_signed_for_this_user_skips_the_per_user_scope_and_garbled_ones_are_no_500(
        suite, li, limits):
    """A non-ASCII, a forged and another user's (validly signed) device cookie are simply not trusted: the
    per-user scope applies (429), never a 500. Garbled session cookies and CSRF fields are refused alike."""
    import base64

    from chalicelib.clock import now
    from chalicelib.console import session
    from tests.functional.console_client import ConsoleClient

    limits(free_per_user=3)
    for n in range(3):  # many addresses reach li's per-user allowance
        assert _login(li, "wrong password!!", f"198.51.100.{n + 30}", now()) is None
    who = base64.urlsafe_b64encode(b"li").decode().rstrip("=")

    def attempt(device: str):
        c = ConsoleClient(suite.api.base)
        page = c.get("/console/login")[2]
        c.cookies[session.DEVICE_COOKIE] = device
        return c.post("/console/login/password", {"csrf": c.csrf(page), "user_id": li, "password": PASSWORD})

    for device in (f"{who}.nonce.mäc-ünicode", f"{who}.nönce.AAAA", "ä.ö.ü",  # not ASCII
                   f"{who}.nonce.{'A' * 43}",  # forged: a signature that does not hold
                   session.device_value("zhang")):  # validly signed, for another user
        status, headers, page = attempt(device)
        assert status == 429 and "Your login is not locked" in page, (device, status, page[:300])
    assert attempt(session.device_value(li))[0] == 303  # li's own browser is exempt

    c = ConsoleClient(suite.api.base)
    c.cookies[session.COOKIE] = "kéy.9999999999.mäc"  # a garbled session cookie: not signed in
    status, headers, _ = c.get("/console/registrations")
    assert status == 303 and "/console/login" in headers["location"]
    page = c.get("/console/login")[2]
    assert c.csrf(page)
    status, _, _ = c.post("/console/login/password", {"csrf": "tökén", "user_id": li, "password": PASSWORD})
    assert status == 403  # a garbled CSRF field is a CSRF failure


def test_a_user_stored_with_the_old_lockout_fields_still_reads_lists_and_logs_in(suite):
    """The lockout's ``failed_logins`` / ``locked_until`` are no attributes of ``UserItem`` any more; an item that
    still carries them (written by the earlier release) reads, lists, takes a password and logs in as any other,
    whatever its ``locked_until`` says."""
    from datetime import UTC, datetime

    from chalicelib.clock import now
    from chalicelib.services import directory as svc
    from chalicelib.store import directory, models
    from chalicelib.store.models import UserItem

    assert not {"failed_logins", "locked_until"} & set(UserItem.get_attributes())
    make_partner("acme")
    code = svc._new_code()
    locked = (now() + timedelta(days=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")
    models.connection().client.put_item(TableName=UserItem.Meta.table_name, Item={
        "pk": {"S": "user#old"}, "name": {"S": "老用户"}, "role": {"S": "partner"}, "active": {"S": "yes"},
        "partner_id": {"S": "acme"}, "version": {"N": "3"}, "login_code_hash": {"S": svc._hash(code)},
        "login_code_expires": {"S": (now() + timedelta(hours=1)).astimezone(UTC).strftime(
            "%Y-%m-%dT%H:%M:%S.%f+0000")},
        "failed_logins": {"N": "5"}, "locked_until": {"S": locked}})
    user = directory.get_user("old")
    assert user is not None and user.name == "老用户" and int(user.version) == 3
    assert "old" in {u["id"] for u in directory.list_users()}
    assert svc.set_password("old", code, PASSWORD, now=now(), client_ip=USER_IP)
    principal, person = _login("old", PASSWORD, USER_IP, now())
    assert (principal.id, person) == ("acme", "old")
    assert datetime.fromisoformat(locked.replace("+0000", "+00:00")) > now()  # the old lock would still hold


@pytest.fixture
def table_calls(suite):
    """(operation, table) of every DynamoDB call this process makes while the test runs (a botocore hook on the
    models' client); the throttle's hints of which scope said wait lately start empty."""
    from chalicelib.services import directory as svc
    from chalicelib.store import models

    getattr(svc, "_waiting", {}).clear()  # (absent before the hints existed)
    calls: list[tuple[str, str]] = []

    def record(model, params, **_):
        calls.append((model.name, str(params.get("TableName", "")).removeprefix(f"{suite.prefix}-")))

    events = models.connection().client.meta.events
    events.register("before-parameter-build.dynamodb", record, unique_id="throttle-count-calls")
    yield calls
    events.unregister("before-parameter-build.dynamodb", unique_id="throttle-count-calls")


def _calls_of(calls, attempt):
    start = len(calls)
    try:
        attempt()
    finally:
        made = calls[start:]
    return made


def test_a_throttled_attempt_costs_one_read_whichever_scope_refuses_it(suite, li, limits, table_calls):
    """Before, a refusal read all three scopes first. Now the scope that said wait lately (in this process) is
    read first and the first refusal stops: one consistent read, no write, no password, user or key read."""
    from chalicelib.clock import now
    from chalicelib.domain.errors import TooManyAttemptsError

    limits(free_per_ip=7, free_per_user=6)
    t0 = now()

    def refused(user, ip, scope):
        def attempt():
            with pytest.raises(TooManyAttemptsError) as err:
                _login(user, PASSWORD, ip, t0)
            assert err.value.scope == scope
        return _calls_of(table_calls, attempt)

    # the (user, address) pair, read first anyway: after its 5 free attempts, a refusal is one read
    for _ in range(5):
        assert _login(li, "wrong password!!", ATTACKER_IP, t0) is None
    assert refused(li, ATTACKER_IP, "pair") == [("GetItem", "sessions")]
    # one address guessing many users (7 free): the first refusal reads the pair and the address, later ones the
    # address only
    for user in ("zhang", "wang"):
        assert _login(user, "wrong password!!", ATTACKER_IP, t0) is None
    assert refused("nobody", ATTACKER_IP, "ip") == [("GetItem", "sessions")] * 2
    for user in ("zhao", "x", "y"):
        assert refused(user, ATTACKER_IP, "ip") == [("GetItem", "sessions")]
    # many addresses guessing one user (6 free, 5 spent above): the first refusal reads all three, later ones one
    assert _login(li, "wrong password!!", "192.0.2.10", t0) is None
    assert refused(li, "192.0.2.11", "user") == [("GetItem", "sessions")] * 3
    for n in range(12, 15):
        assert refused(li, f"192.0.2.{n}", "user") == [("GetItem", "sessions")]
    # the rules are the same: the user's own browser still gets in, from its own address
    assert _login(li, PASSWORD, USER_IP, t0, known_device=True) is not None


def test_an_api_key_login_is_throttled_per_address_before_the_key_is_looked_up(suite, limits, table_calls):
    """The console's API-key login counts in the address scope like a password login: free attempts, then 429 +
    Retry-After in both languages, refused after one read and without looking the key up; a success takes its
    attempt back, so people who sign in are not held back."""
    from tests.functional.console_client import ConsoleClient

    limits(free_per_ip=3)
    key = make_user("root", "admin")

    def attempt(lang: str, api_key: str):
        c = ConsoleClient(suite.api.base, lang=lang)  # a browser without a session (its cookie would be read)
        page = c.get("/console/login")[2]
        return _calls_of(table_calls, lambda: attempt.answers.append(
            c.post("/console/login", {"csrf": c.csrf(page), "api_key": api_key})))

    attempt.answers = []
    for _ in range(4):  # successes give their attempt back: four logins within three free attempts
        attempt("en", key)
        assert attempt.answers[-1][0] == 303
    for n in range(3):
        attempt("en", f"drk_guess{n}")
        assert attempt.answers[-1][0] == 401
    made = attempt("en", key)  # even the right key: nothing is looked up while the address waits
    status, headers, page = attempt.answers[-1]
    assert status == 429 and int(headers["retry-after"]) >= 1 and "Your login is not locked" in page
    assert [call for call in made if call[1] in ("sessions", "directory")] == [("GetItem", "sessions")]
    attempt("zh-CN", "drk_guess_again")
    status, _, page = attempt.answers[-1]
    assert status == 429 and "此处的尝试次数过多" in page
    from chalicelib.services import directory as svc

    [entry] = [e for e in svc.audit() if e["action"] == "login.throttled"]
    # about the address that waits (a key login names no user), not an empty "user:"
    assert entry["detail"]["scope"] == "ip" and entry["detail"]["client_ip"]
    assert entry["object"] == {"kind": "ip", "id": entry["detail"]["client_ip"]}
