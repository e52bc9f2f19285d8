"""Helpers for the ownership functional tests: a team, users, and registrations in a given state."""
from __future__ import annotations

import copy
import json
import os
import threading
from dataclasses import dataclass, field

from tests.functional.helpers import EXAMPLE, make_user


@dataclass
class World:
    api: object
    keys: dict[str, str] = field(default_factory=dict)
    seq: int = 0

    def body(self) -> dict:
        self.seq += 1
        data = copy.deepcopy(EXAMPLE["data"])
        data["customer"] = {"name": f"测试客户 {self.seq} 有限公司", "country": "CN"}
        data["external_ref"] = f"T-{self.seq}"
        return data

    def submit(self, rep: str = "wang") -> str:
        answer = self.api.post("/v1/registrations", self.body(), self.keys[rep])
        assert answer.status == 202, answer.body
        return answer.json()["id"]

    def post(self, path: str, who: str, body: dict | None = None):
        return self.api.post(path, body if body is not None else {}, self.keys[who])

    def ownership(self, reg_id: str, who: str = "admin") -> dict:
        answer = self.api.get(f"/v1/registrations/{reg_id}/ownership", self.keys[who])
        assert answer.status == 200, answer.body
        return answer.json()


def frozen_world(suite, monkeypatch, at):
    """A world with the clock frozen at ``at`` (``world.clock``); resets the ownership rules afterwards.
    For fixtures: ``yield from frozen_world(suite, monkeypatch, T0)``."""
    from chalicelib import clock, settings

    frozen = clock.FrozenClock(at)
    clock.set_clock(frozen)
    world = make_world(suite)
    world.clock = frozen
    yield world
    monkeypatch.delenv("DEALREG_OWNERSHIP_RULES", raising=False)
    settings.reset()


def make_world(suite) -> World:
    """Team ``south`` (manager ``boss``, reps ``wang``, ``li``), rep ``zhao`` in ``north``, an admin."""
    world = World(suite.api)
    world.keys["boss"] = make_user("boss", "manager", "south")
    for rep in ("wang", "li"):
        world.keys[rep] = make_user(rep, "rep", "south")
    world.keys["zhao"] = make_user("zhao", "rep", "north")
    world.keys["admin"] = make_user("admin", "admin")
    return world


def pending(world: World, suite, n: int = 1, rep: str = "wang", team: str = "south") -> list[str]:
    """``n`` registrations of ``rep`` stored straight in pending_review.

    Stored directly rather than through intake + the event runner: the tests race the ownership routes,
    and seeding 100 registrations through every intake handler would only slow them down.
    """
    from chalicelib.clock import now
    from chalicelib.domain.registration import new_id, new_registration
    from chalicelib.domain.workflow import transition
    from chalicelib.store.models import RegistrationItem
    from chalicelib.store.registrations import to_item
    from schemas.common import Actor, PrincipalKind
    from schemas.registration import RegistrationCreate, RegistrationStatus, Source

    ids = []
    for _ in range(n):
        at = now()
        reg = new_registration(RegistrationCreate.model_validate(world.body()), reg_id=new_id("reg", at),
                               source=Source.REP, submitter=Actor(kind=PrincipalKind.USER, id=rep), team_id=team,
                               now=at)
        entry = transition(reg.audit, reg.status, RegistrationStatus.PENDING_REVIEW,
                           actor=Actor(kind=PrincipalKind.SYSTEM, id="workflow"), now=at)
        reg = reg.model_copy(update={"status": RegistrationStatus.PENDING_REVIEW, "audit": [*reg.audit, entry]})
        to_item(reg).save(condition=RegistrationItem.id.does_not_exist())
        ids.append(reg.id)
    return ids


def publish_stream(suite) -> int:
    """Deliver only the registrations stream (audit entries -> domain events on the topic)."""
    return sum(s.poll() for s in suite.runner.streams)


def granted(world: World, suite, owner: str | None, n: int = 1) -> list[str]:
    """``n`` registrations approved to ``owner`` (a user id), or into the pool with ``owner=None``."""
    from chalicelib.clock import now
    from chalicelib.domain.ownership import HolderRef
    from chalicelib.services import ownership as ownership_ops
    from schemas.common import Actor, PrincipalKind

    ids = pending(world, suite, n)
    for reg_id in ids:
        ownership_ops.grant(reg_id, HolderRef("user", owner) if owner else None,
                            Actor(kind=PrincipalKind.USER, id="boss"), now=now())
    return ids


def set_rules(monkeypatch, **rules) -> None:
    """Change the ownership rules for this test (the suite fixture re-reads settings for the next one)."""
    from chalicelib import settings

    monkeypatch.setenv("DEALREG_OWNERSHIP_RULES", json.dumps(rules))
    settings.reset()
    assert os.environ["DEALREG_OWNERSHIP_RULES"]


def held(key: str) -> int:
    from chalicelib.domain.ownership import HolderRef
    from chalicelib.store import holders

    return holders.held_count(HolderRef.parse(key))


def race(calls) -> list:
    """Run each call on its own thread, released together; return their results in order."""
    results: list = [None] * len(calls)
    gate = threading.Barrier(len(calls))

    def run(i, call):
        gate.wait()
        try:
            results[i] = call()
        except Exception as exc:  # surfaced by the caller's assertions, with the cause
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def post_retrying(world, path: str, who: str, body: dict | None = None):
    """POST, retrying only when the connection was refused or reset before any answer came back.

    The local server listens with a backlog of 128 (``infra.local.http_server``; socketserver's 5 reset bursts),
    so this is a safety net: a connect reset by the kernel before the app saw the request is the test server's
    limit, not the app's.
    """
    import time
    import urllib.error
    import urllib.request

    from tests.conftest import HttpAnswer

    req = urllib.request.Request(world.api.base + path, data=json.dumps(body or {}).encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {world.keys[who]}"})
    for attempt in range(8):
        try:
            # A long timeout: the requests queue behind the stand-in's lock (see the fixture).
            with urllib.request.urlopen(req, timeout=600) as resp:
                return HttpAnswer(resp.status, dict(resp.headers.items()), resp.read())
        except urllib.error.HTTPError as err:
            return HttpAnswer(err.code, dict(err.headers.items()), err.read())
        except (ConnectionResetError, ConnectionRefusedError, urllib.error.URLError) as exc:
            reason = getattr(exc, "reason", exc)
            if not isinstance(reason, (ConnectionResetError, ConnectionRefusedError)) or attempt == 7:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")
