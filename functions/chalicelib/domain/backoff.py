"""One exponential back-off for every retry in the suite (notification outbox, enrichment, tender polling, the
operator CLI's writes).

``backoff_seconds(n, base=..., cap=...)`` is ``base`` doubled ``n - 1`` times, at most ``cap``; with an injected
``random.Random`` it is "equal jitter" (half of that, plus a uniform share of the other half), so that many
retries spread out yet never collapse to zero; a provider's ``Retry-After`` is honoured as a lower bound, itself
at most ``cap``. Pure: the caller says which try it is and what to do with the answer.
"""

from __future__ import annotations

import random

# 2**64 times any base already exceeds every cap; the exponent stops there so a huge count cannot overflow.
_MAX_DOUBLINGS = 64


def backoff_seconds(n: int, *, base: float, cap: float, retry_after: float | None = None,
                    jitter: random.Random | None = None) -> float:
    """Seconds to wait before the next try.

    Args:
        n: which wait this is, 1 for the first (``base``), 2 for the second (``2 * base``) …
        base: the first wait, in seconds.
        cap: the longest wait, in seconds (``math.inf`` for none).
        retry_after: seconds the other side asked for, if any: a lower bound, at most ``cap``.
        jitter: when given, equal jitter drawn from it: ``ceiling / 2 + uniform(0, ceiling / 2)``.
    """
    ceiling = min(cap, base * 2.0 ** min(max(0, n - 1), _MAX_DOUBLINGS))
    delay = ceiling / 2 + jitter.uniform(0, ceiling / 2) if jitter is not None else ceiling
    if retry_after:
        delay = max(delay, min(float(retry_after), cap))
    return delay
