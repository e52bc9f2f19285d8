"""domain.login_throttle: the waits, the quiet period, the refusal's seconds."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.domain.login_throttle import (
    Allowance,
    Count,
    live,
    retry_after,
    starts_throttling,
    take,
    wait_after,
)

A = Allowance(free=3, base_seconds=2, cap_seconds=60, reset_seconds=3600)
T0 = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)


def test_free_attempts_then_doubling_waits_up_to_the_cap():
    assert [wait_after(n, A) for n in range(1, 10)] == [0, 0, 2, 4, 8, 16, 32, 60, 60]
    assert wait_after(10 ** 6, A) == 60  # no overflow


def test_a_count_is_taken_refused_while_waiting_and_forgotten_after_the_quiet_period():
    c = Count()
    for _ in range(2):
        assert retry_after(c, T0, A) == 0
        c = take(c, T0, A)
    assert not starts_throttling(c, A)
    c = take(c, T0, A)
    assert starts_throttling(c, A) and c.attempts == 3
    assert retry_after(c, T0, A) == 2 and retry_after(c, T0 + timedelta(seconds=1.5), A) == 1
    assert retry_after(c, T0 + timedelta(seconds=2), A) == 0
    c = take(c, T0 + timedelta(seconds=2), A)
    assert retry_after(c, T0 + timedelta(seconds=2), A) == 4
    assert live(c, T0 + timedelta(seconds=3602), A) == Count()
    assert take(c, T0 + timedelta(seconds=3602), A).attempts == 1


def test_an_ipv6_client_is_counted_by_its_64_and_an_ipv4_mapped_one_as_ipv4():
    from chalicelib.domain.login_throttle import address_key

    # every address of one /64 (a single client can pick any of them) is one address for the throttle
    assert address_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64"
    assert address_key("2001:DB8:1:2:a:b:c:d") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") == "2001:db8:1:3::/64"  # the next /64 is another client
    # IPv4-mapped IPv6 is the IPv4 address itself; IPv4 stays exact
    assert address_key("::ffff:198.51.100.7") == "198.51.100.7"
    assert address_key("::ffff:c633:6407") == "198.51.100.7"
    assert address_key("198.51.100.7") == "198.51.100.7"
    assert address_key("unknown") == "unknown"


def test_the_stored_counts_key_every_scope_by_that_address():
    from chalicelib.store.login_throttle import key

    for scope in ("pair", "ip"):
        assert key(scope, user_id="li", ip="2001:db8:1:2::1") == key(scope, user_id="li", ip="2001:db8:1:2:9::9")
        assert key(scope, user_id="li", ip="2001:db8:1:2::1") != key(scope, user_id="li", ip="2001:db8:1:3::1")
        assert key(scope, user_id="li", ip="::ffff:198.51.100.7") == key(scope, user_id="li", ip="198.51.100.7")
    assert key("pair", user_id="li", ip="2001:db8:1:2::1") == "throttle#pair#2001:db8:1:2::/64#li"
