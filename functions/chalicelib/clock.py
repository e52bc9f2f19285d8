"""The one clock. Handlers ask it for ``now()``; domain functions take ``now`` as an argument.

The local runner installs a :class:`ScaledClock` (``DEALREG_TIME_SCALE``) and tests a :class:`FrozenClock`.
"""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ScaledClock:
    """Time that runs ``scale`` times faster than the wall clock, starting from the real now."""

    def __init__(self, scale: float, start: datetime | None = None, *, started_wall: float | None = None) -> None:
        self.scale = scale
        self._origin_real = time.monotonic() - (time.time() - started_wall if started_wall is not None else 0)
        self._origin = start or datetime.now(UTC)
        self._started_wall = started_wall if started_wall is not None else time.time()

    def now(self) -> datetime:
        elapsed = time.monotonic() - self._origin_real
        return self._origin + timedelta(seconds=elapsed * self.scale)

    def state(self) -> dict:
        """What another process needs to run the same clock (``from_state``): scale, start, wall start."""
        return {"scale": self.scale, "start": self._origin.isoformat(), "started_wall": self._started_wall}

    @classmethod
    def from_state(cls, state: dict) -> ScaledClock:
        return cls(float(state["scale"]), datetime.fromisoformat(state["start"]),
                   started_wall=float(state["started_wall"]))


class FrozenClock:
    def __init__(self, at: datetime) -> None:
        self._at = at

    def now(self) -> datetime:
        return self._at

    def advance(self, **delta: float) -> None:
        self._at += timedelta(**delta)


_clock: SystemClock | ScaledClock | FrozenClock = SystemClock()


def now() -> datetime:
    return _clock.now()


def set_clock(clock: SystemClock | ScaledClock | FrozenClock) -> None:
    global _clock
    _clock = clock


def wall_seconds(now: datetime | None = None) -> int:
    """Unix seconds for checks against another system's clock (a webhook signature's timestamp): the real
    time under a :class:`ScaledClock`, whose speed-up is local fiction; otherwise the clock's own time (so a
    test's :class:`FrozenClock` still decides). ``now``: this clock's :func:`now`, when the caller has just read it
    (not read a second time; issue 15 item 2, session 9)."""
    if isinstance(_clock, ScaledClock):
        return int(time.time())
    return int((now if now is not None else _clock.now()).timestamp())
