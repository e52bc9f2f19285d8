"""Subscription matching: the rules, and the index agreeing with the naive loop on the real corpus."""
from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.domain.tender_matching import (
    BUYER_MIN_SCORE,
    BuyerBlocker,
    Criteria,
    SubscriptionIndex,
    buyer_score,
    matches,
    naive_match,
    prepare,
)
from schemas.tender import Buyer, Subscription, Tender


def sub(**data) -> Criteria:
    base = {"id": data.pop("id", "s1"), "rep_id": "rep1", "created_at": "2024-01-01T00:00:00Z"}
    return Criteria.from_subscription(Subscription.model_validate({**base, **data}))


def tender(**data) -> Tender:
    base = {"source": "t", "source_id": "1", "title": "Cloud hosting services for the council"}
    return Tender.model_validate({**base, **data})


@pytest.mark.parametrize(
    ("keyword", "title", "hit"),
    [
        ("cloud", "Cloud hosting services", True),
        ("CLOUD", "cloud hosting", True),
        ("cloud", "Cloudy weather monitoring", False),  # whole words only
        ("cloud hosting", "Managed cloud hosting", True),  # phrase
        ("hosting cloud", "Managed cloud hosting", False),  # order matters
        ("云平台", "某市政务云平台扩容采购项目", True),  # Chinese: substring, no segmentation
        ("云 平台", "某市政务云平台扩容", False),  # a space in a CJK keyword is literal after folding
        ("扩容", "政务云平台扩容采购", True),
        ("ＣＬＯＵＤ", "cloud hosting", True),  # full-width folded by NFKC
        ("5G基站", "5g基站建设工程", True),  # mixed CJK/latin: substring, case-folded
    ],
)
def test_keywords(keyword: str, title: str, hit: bool) -> None:
    assert matches(sub(keywords={"include": [keyword]}), prepare(tender(title=title))) is hit


def test_exclude_wins_over_include() -> None:
    s = sub(keywords={"include": ["cloud"], "exclude": ["training"]})
    assert matches(s, prepare(tender(title="Cloud services")))
    assert not matches(s, prepare(tender(title="Cloud training services")))


def test_keywords_also_read_the_sanitised_text() -> None:
    s = sub(keywords={"include": ["kubernetes"]})
    assert matches(s, prepare(tender(title="IT services", text="<p>Managed <b>Kubernetes</b> clusters</p>")))


def test_buyers_fuzzy_on_normalised_names() -> None:
    s = sub(buyers=["深圳市腾讯计算机系统有限公司"])
    assert matches(s, prepare(tender(buyer=Buyer(name="腾讯计算机系统有限公司"))))  # region prefix stripped
    assert not matches(s, prepare(tender(buyer=Buyer(name="阿里巴巴（中国）有限公司"))))
    assert not matches(s, prepare(tender()))  # no buyer stated
    s2 = sub(buyers=["London Borough of Barnet"])
    assert matches(s2, prepare(tender(buyer=Buyer(name="London Borough of Barnett"))))  # typo
    assert matches(s2, prepare(tender(buyer=Buyer(name="LONDON BOROUGH OF BARNET"))))


def test_regions_country_nuts_prefix_and_chinese_names() -> None:
    assert matches(sub(regions=["UKK"]), prepare(tender(region="UKK43", country="GB")))
    assert matches(sub(regions=["gb"]), prepare(tender(region="UKK43", country="GB")))
    assert not matches(sub(regions=["UKM"]), prepare(tender(region="UKK43", country="GB")))
    assert matches(sub(regions=["广东"]), prepare(tender(region="广东省")))


def test_category_prefixes_with_or_without_scheme() -> None:
    t = prepare(tender(categories=["cpv:72230000", "unspsc:43211500"]))
    assert matches(sub(categories=["cpv:72"]), t)
    assert matches(sub(categories=["7223"]), t)
    assert matches(sub(categories=["unspsc:4321"]), t)
    assert not matches(sub(categories=["cpv:4321"]), t)
    assert not matches(sub(categories=["45"]), t)


def test_value_range_excludes_only_stated_values() -> None:
    s = sub(keywords={"include": ["cloud"]}, value_min=Decimal(100_000), value_max=Decimal(1_000_000), currency="GBP")
    assert matches(s, prepare(tender(value=Decimal(500_000), currency="GBP")))
    assert not matches(s, prepare(tender(value=Decimal(50_000), currency="GBP")))
    assert not matches(s, prepare(tender(value=Decimal(2_000_000), currency="GBP")))
    assert not matches(s, prepare(tender(value=Decimal(500_000), currency="EUR")))
    assert matches(s, prepare(tender()))  # no value stated: not excluded


def test_subscription_must_name_something() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Subscription.model_validate({"id": "s", "rep_id": "r", "created_at": "2024-01-01T00:00:00Z",
                                     "value_min": 1, "currency": "GBP"})


def test_buyer_blocker_finds_exactly_the_keys_over_the_cutoff() -> None:
    from bench.tender_matching import corpus_tenders
    from chalicelib.domain.names import normalise

    keys = sorted({normalise(t.buyer.name).core for t in corpus_tenders() if t.buyer} - {""})
    keys += ["london borough of barnett", "london borough of barnet", "a", "ab", "abc"]
    blocker = BuyerBlocker(keys)
    for query in keys[:80] + ["london borough of barnet", "ab", "abd", "publications office of the european union"]:
        assert sorted(blocker.near(query)) == sorted(k for k in set(keys) if buyer_score(k, query) >= 90)


def test_index_agrees_with_the_naive_loop_on_the_corpus() -> None:
    from bench.tender_matching import corpus_tenders, make_subscriptions

    tenders = corpus_tenders()
    assert len(tenders) > 150
    # A high hit share makes many subscriptions match, so agreement is tested where it matters.
    subs = [Criteria.from_subscription(s) for s in make_subscriptions(3000, tenders, seed=11, hit_share=0.5)]
    index = SubscriptionIndex(subs)
    total = 0
    for t in tenders:
        p = prepare(t)
        expected = naive_match(subs, p)
        assert index.match(p) == expected, t.source_id
        total += len(expected)
    assert total > 1000


def test_index_agrees_with_the_naive_loop_on_the_bench_distribution() -> None:
    """The benchmark's own subscription mix (mostly terms that never occur), at its 10k size."""
    from bench.tender_matching import corpus_tenders, make_subscriptions

    tenders = corpus_tenders()
    subs = [Criteria.from_subscription(s) for s in make_subscriptions(10_000, tenders)]
    index = SubscriptionIndex(subs)
    total = 0
    for t in tenders:
        p = prepare(t)
        expected = naive_match(subs, p)
        assert index.match(p) == expected, t.source_id
        total += len(expected)
    assert total > 200


KEYWORD_CASES = [
    ("cloud", "Cloud hosting services"), ("cloud hosting", "Managed cloud hosting"),
    ("hosting cloud", "Managed cloud hosting"), ("cloud", "Cloudy weather monitoring"),
    ("云平台", "某市政务云平台扩容采购项目"), ("云 平台", "某市政务云平台扩容"), ("扩容", "政务云平台扩容采购"),
    ("5G基站", "5g基站建设工程"), ("e-mail", "E mail archiving"), ("e-mail", "email archiving"),
    ("平台", "平"), ("台", "云平台"), ("ab", "ab ab"), ("a b", "a  b"), ("医院", "人民醫院"),
]


def test_index_agrees_with_the_predicate_on_the_keyword_rules() -> None:
    """Every keyword rule case, as include and as exclude, through the automata and through the loop."""
    subs = []
    for i, (keyword, _title) in enumerate(KEYWORD_CASES):
        subs.append(sub(id=f"inc{i}", keywords={"include": [keyword]}))
        subs.append(sub(id=f"exc{i}", keywords={"include": ["cloud", "云", "ab", "e", "平"], "exclude": [keyword]}))
    index = SubscriptionIndex(subs)
    for _keyword, title in KEYWORD_CASES:
        p = prepare(tender(title=title))
        assert index.match(p) == naive_match(subs, p), title
    assert "inc0" in index.match(prepare(tender(title="Cloud hosting services")))
    assert "inc4" in index.match(prepare(tender(title="某市政务云平台扩容采购项目")))
    assert "exc4" not in index.match(prepare(tender(title="某市政务云平台扩容采购项目")))


def test_buyer_blocker_is_exact_on_near_misses() -> None:
    """Keys one to four edits away from real buyer names (Latin and CJK): found exactly when >= 90."""
    import random

    from bench.tender_matching import corpus_tenders
    from chalicelib.domain.names import normalise

    rng = random.Random(6)
    real = sorted({normalise(t.buyer.name).core for t in corpus_tenders() if t.buyer} - {""})
    real += ["深圳市人民医院", "国家税务总局深圳市税务局", "北京大学第一医院"]

    def mutate(text: str) -> str:
        chars = list(text)
        for _ in range(rng.randint(1, 4)):
            op, at = rng.random(), rng.randrange(len(chars) + 1)
            if op < 0.4 and chars:
                del chars[min(at, len(chars) - 1)]
            elif op < 0.7:
                chars.insert(at, rng.choice("abcxyz人民医"))
            elif chars:
                chars[min(at, len(chars) - 1)] = rng.choice("eoiu院局")
        return "".join(chars)

    keys = sorted(set(real + [mutate(k) for k in real for _ in range(3)]))
    blocker = BuyerBlocker(keys)
    near_misses = 0
    for query in real + [mutate(k) for k in real[:60]]:
        expected = sorted(k for k in keys if buyer_score(k, query) >= 90)
        assert sorted(blocker.near(query)) == expected, query
        near_misses += len([k for k in expected if k != query])
    assert near_misses > 50  # the fuzzy side was exercised, not only equal names



def test_a_buyer_window_held_by_one_key_is_that_key_and_becomes_a_list_sorted_by_length() -> None:
    """Most windows belong to one key: stored as the key itself (no list of one). A key added later that shares
    the window turns it into a list kept sorted by key length (shorter ones included), and ``near`` stays exact."""
    blocker = BuyerBlocker(["manchester city council", "northumbria healthcare"])
    windows = blocker.state()[0]
    assert windows["manc"] == "manchester city council" and windows["heal"] == "northumbria healthcare"
    assert windows["he"] == ["northumbria healthcare", "manchester city council"]  # both keys, shortest first
    blocker.add(["manchester council", "manchester city councils"])  # after the build: one shorter, one longer
    assert windows["manc"] == ["manchester council", "manchester city council", "manchester city councils"]
    keys = ["manchester city council", "northumbria healthcare", "manchester council", "manchester city councils"]
    for query in [*keys, "manchester city counci", "manchestr council", "northumbria health care", "zz"]:
        assert sorted(blocker.near(query)) == sorted(k for k in keys if buyer_score(k, query) >= 90), query


def test_a_buyer_look_up_takes_rare_windows_around_a_common_stretch_and_stays_exact(monkeypatch) -> None:
    """Keys sharing a long stretch (" borough council"): every equal piece falling in it is held by every key,
    so the pool was most of the keys; other disjoint windows (``_rare_windows``) keep the pool small, and the
    answer is still exactly the keys over the cut-off (brute force), near misses included."""
    import random

    from chalicelib.domain import tender_matching as tm

    rng = random.Random(15)

    def word() -> str:
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(5, 8)))

    def mutate(text: str) -> str:
        chars = list(text)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(chars))
            if rng.random() < 0.5:
                del chars[at]
            else:
                chars.insert(at, rng.choice("aeiou"))
        return "".join(chars)

    keys = sorted({f"{word()} {word()} borough council" for _ in range(600)})
    keys += [mutate(k) for k in keys[:150]]
    blocker = BuyerBlocker(keys)
    ratio, extract, distance = tm._rapidfuzz()
    pools: list[int] = []

    def counting_extract(query, choices, **kw):  # type: ignore[no-untyped-def]
        pools.append(len(choices))
        return extract(query, choices, **kw)

    monkeypatch.setattr(tm, "_rapidfuzz", lambda: (ratio, counting_extract, distance))
    queries = keys[:60] + [mutate(k) for k in keys[:60]] + ["borough council", "x borough council"]
    near_misses = 0
    for query in queries:
        expected = sorted(k for k in set(keys) if buyer_score(k, query) >= 90)
        assert sorted(blocker.near(query)) == expected, query
        near_misses += len([k for k in expected if k != query])
    assert near_misses > 30
    # Equal pieces brought all keys of a compatible length into most pools (the code before: median 748 of 750).
    assert sorted(pools)[len(pools) // 2] < 200, sorted(pools)  # measured: 94
    windows = tm._rare_windows(blocker.state()[0].get, "kxqzvbn wplmtr borough council", 7, (32,))
    assert windows is not None and len(windows) == 7
    ends = [a + size for a, size in windows]
    assert all(2 <= size <= 4 for _a, size in windows)
    assert all(windows[i + 1][0] >= ends[i] for i in range(6)) and ends[-1] <= 30  # disjoint, in order


def test_a_small_buyer_pool_is_scored_key_by_key_by_indel_distance_and_a_larger_one_by_one_extract(monkeypatch) -> None:
    """``extract`` costs ≈ 20k instructions before it scores anything, ``Indel.distance`` ≈ 2k a key (session 10): a
    pool of at most ``SCORE_EACH_UP_TO`` keys is scored key by key by ``_close``, a larger one by ``extract``; both
    answer exactly the keys over the cut-off (brute force with ``buyer_score``)."""
    from chalicelib.domain import tender_matching as tm

    ratio, extract, distance = tm._rapidfuzz()
    calls: list[tuple[str, int]] = []

    def counting_distance(a: str, b: str, **kw) -> int:  # type: ignore[no-untyped-def]
        calls.append(("distance", 1))
        return int(distance(a, b, **kw))

    def counting_extract(query, choices, **kw):  # type: ignore[no-untyped-def]
        calls.append(("extract", len(choices)))
        return extract(query, choices, **{**kw, "scorer": ratio})  # its own scoring is not counted

    monkeypatch.setattr(tm, "_rapidfuzz", lambda: (ratio, counting_extract, counting_distance))
    assert BuyerBlocker.SCORE_EACH_UP_TO == 6
    keys = ["leeds city council", "leeds city councils", "kirklees borough", "northumbria healthcare", "york minster",
            "york minsters", "bradford metropolitan district council"]
    keys += [f"wakefield district counci{c}" for c in "lmnopqrs"] + [f"halifax town hal{c}" for c in "lmnopq"]
    blocker = BuyerBlocker(keys)
    for query, kinds in [("york minster", {"distance"}), ("kirklees boroughs", {"distance"}),
                         ("leeds city council", {"distance"}), ("northumbria health care", {"distance"}),
                         ("halifax town hall", {"distance"}), ("wakefield district council", {"extract"}),
                         ("zzzz", set())]:
        calls.clear()
        assert sorted(blocker.near(query)) == sorted(k for k in keys if buyer_score(k, query) >= 90), query
        assert {kind for kind, _n in calls} == kinds, (query, calls)
        if kinds == {"distance"}:
            assert 1 <= len(calls) <= BuyerBlocker.SCORE_EACH_UP_TO
            assert query != "york minster" or len(calls) == 2
            assert query != "halifax town hall" or len(calls) == 6  # the largest pool scored key by key
        if kinds == {"extract"}:
            assert len(calls) == 1 and calls[0][1] > BuyerBlocker.SCORE_EACH_UP_TO


def test_close_is_a_ratio_of_at_least_90_for_every_length_and_distance_near_the_line() -> None:
    """``_close`` decides ``fuzz.ratio(a, b) >= 90`` from the integer Indel distance (``10 d <= la + lb``). The
    decision depends only on the total length and the distance, so every pair of them near the line (and a few
    far from it) is built from two strings with exactly that distance and compared with ``ratio`` as the
    predicate calls it, ``ratio`` with the cut-off and ``extract`` with the cut-off."""
    from rapidfuzz import fuzz, process
    from rapidfuzz.distance import Indel

    from chalicelib.domain import tender_matching as tm

    distance = tm._rapidfuzz()[2]
    compared = boundary = 0
    for total in range(1, 1201):
        for d in range(total % 2, total + 1, 2):  # an Indel distance has the parity of the total length
            if abs(d - total / 10) > 6 and d > 12:
                continue
            common = (total - d) // 2
            for la in {common, (total + 1) // 2, total - common}:
                lb = total - la
                if la < common or lb < common:
                    continue
                a, b = "a" * la, "a" * common + "b" * (lb - common)
                assert Indel.distance(a, b) == d
                expected = fuzz.ratio(a, b) >= BUYER_MIN_SCORE
                assert expected == bool(fuzz.ratio(a, b, score_cutoff=BUYER_MIN_SCORE))
                assert expected == bool(process.extract(a, [b], scorer=fuzz.ratio, score_cutoff=BUYER_MIN_SCORE,
                                                        limit=None))
                assert tm._close(distance, a, la, b) == expected, (la, lb, d)
                assert tm._close(distance, b, lb, a) == expected, (la, lb, d)
                compared += 1
                boundary += 10 * d == total
    assert compared > 40_000 and boundary > 100  # the exact line (a ratio of 90.0) is among them


# -- the persisted index (issue 15): rows, snapshot chunks, changes applied in place -----------------------


def test_a_row_round_trips_through_json_and_the_snapshot() -> None:
    import json

    from chalicelib.domain.tender_matching import decode_snapshot, encode_snapshot

    c = sub(id="s9", keywords={"include": ["Cloud Hosting", "云平台"], "exclude": ["training"]},
            buyers=["Manchester City Council"], regions=["GB"], categories=["cpv:72 2"], currency="GBP",
            value_min=Decimal("1000.50"), value_max=Decimal("20000"), delivery="daily_digest")
    assert c.include == (" cloud hosting ", "云平台") and c.categories == ("cpv:722",)
    assert Criteria.from_row(json.loads(json.dumps(c.to_row()))) == c
    plain = sub(id="s10", regions=["FR"])
    chunks = encode_snapshot([c, plain])
    back = decode_snapshot(chunks, version=7, epoch="e1")
    assert len(chunks) == 1 and list(back) == [c, plain] and (back.version, back.epoch) == (7, "e1")
    assert all(type(x) is Criteria for x in back) and type(back.by_id["s9"].value_min) is Decimal


def test_snapshot_chunks_stay_under_the_item_size_and_are_read_in_order(monkeypatch) -> None:
    from chalicelib.domain import tender_matching as tm

    monkeypatch.setattr(tm, "CHUNK_BYTES", 2_000)
    subs = [sub(id=f"s{i}", keywords={"include": [f"term{i} x{i * 7919 % 10007}"]}) for i in range(600)]
    chunks = tm.encode_snapshot(subs)
    assert len(chunks) > 3 and all(len(b) <= 2_000 for b in chunks)
    assert list(tm.decode_snapshot(chunks)) == subs
    with pytest.raises(Exception):  # noqa: B017 - out of order is not a snapshot (zlib or marshal refuses it)
        tm.decode_snapshot(chunks[1:] + chunks[:1])


def _bench_index(n: int = 10_000):
    from bench.tender_matching import corpus_tenders, make_subscriptions

    tenders = corpus_tenders()
    subs = [Criteria.from_subscription(s) for s in make_subscriptions(n, tenders)]
    return tenders, subs, SubscriptionIndex(subs)


def test_a_snapshot_loads_the_index_that_matches_exactly_what_was_saved() -> None:
    """The bench's mix at 10k: the loaded index (postings and buyer blocker as stored, automata built from the
    stored patterns) matches what the built one and the naive loop match, and takes changes in place like a
    built one."""
    from chalicelib.domain import tender_matching as tm

    tenders, subs, index = _bench_index()
    chunks = tm.encode_snapshot(index)
    loaded = tm.decode_snapshot(chunks, version=3)
    assert sorted(loaded.by_id) == sorted(index.by_id) and loaded.version == 3
    total = 0
    for t in tenders[::3]:
        p = prepare(t)
        expected = naive_match(subs, p)
        assert loaded.match(p) == index.match(p) == expected, t.source_id
        total += len(expected)
    assert total > 100
    changes: list[Criteria | str] = [subs[0].id, subs[5].id, sub(id="new1", keywords={"include": ["全新关键词", "brand new"]}),
                                     sub(id=subs[7].id, buyers=["London Borough of Barnet"]),
                                     sub(id="new2", buyers=["London Borough of Barnett"], regions=["GB"])]
    for target in (loaded, index):
        target.apply(changes, 4)
    final = list(index)
    for t in [*tenders[::7], tender(title="全新关键词 and a brand new thing", buyer={"name": "London Borough of Barnet"},
                                    country="GB")]:
        p = prepare(t)
        assert loaded.match(p) == index.match(p) == naive_match(final, p), t.title
    assert {"new1", "new2", subs[7].id} <= loaded.match(prepare(tender(
        title="全新关键词", buyer={"name": "London Borough of Barnet"}, country="GB")))


def test_a_snapshot_of_the_format_before_is_still_read() -> None:
    """A deployed stack's snapshot of the previous format (independent chunks of marshalled rows) loads into
    the same index; ``services.tenders`` then replaces it with one of the current format."""
    import marshal
    import zlib

    from chalicelib.domain.tender_matching import (
        READABLE_FORMATS,
        ROWS_FORMAT,
        SNAPSHOT_FORMAT,
        decode_snapshot,
    )

    tenders, subs, index = _bench_index(3_000)
    # written the way the previous release wrote them: row tuples, 1,000 per chunk, in any order
    old = [zlib.compress(marshal.dumps([tuple(c.to_row()) for c in subs[i:i + 1000]]), 6) for i in range(0, 3000, 1000)]
    assert ROWS_FORMAT in READABLE_FORMATS and ROWS_FORMAT != SNAPSHOT_FORMAT
    loaded = decode_snapshot(old[::-1], ROWS_FORMAT, version=9)
    assert sorted(loaded.by_id) == sorted(c.id for c in subs) and loaded.by_id[subs[1].id] == subs[1]
    for t in tenders[::5]:
        p = prepare(t)
        assert loaded.match(p) == index.match(p) == naive_match(subs, p)
    with pytest.raises(ValueError, match="not readable"):
        decode_snapshot(old, "rows0-marshal4-py3.9-zlib")


def test_subscriptions_their_anchor_decides_alone_and_the_others_agree_with_the_predicate() -> None:
    """Every mix of criteria on top of each anchor (the checked path) and each anchor alone (taken without a
    check): the index matches what the predicate matches, on tenders that meet some and miss others."""
    from itertools import product

    from chalicelib.domain.tender_matching import decides_alone

    anchors = [{"keywords": {"include": ["cloud"]}}, {"categories": ["cpv:722"]}, {"buyers": ["Manchester City Council"]},
               {"regions": ["UKD"]}]
    extras = [{}, {"keywords": {"exclude": ["training"]}}, {"regions": ["GB"]}, {"buyers": ["Manchester Council"]},
              {"value_min": 1000, "value_max": 50_000, "currency": "GBP"}, {"categories": ["72"]}]
    subs = []
    for i, (anchor, extra) in enumerate(product(anchors, extras)):
        data = {**anchor, **{k: v for k, v in extra.items() if k not in anchor}}
        subs.append(sub(id=f"s{i}", **data))
    alone = [c for c in subs if decides_alone(c)]
    assert 0 < len(alone) < len(subs)
    index = SubscriptionIndex(subs)
    tenders = [tender(title=title, buyer={"name": buyer} if buyer else None, country=country, region=region,
                      categories=cats, value=value, currency=currency)
               for title, buyer, country, region, cats, value, currency in product(
                   ["Cloud hosting", "Cloud training", "Road works"], ["Manchester City Council", None],
                   ["GB", "FR"], ["UKD1", None], [["cpv:72212"], []], [Decimal(5000), Decimal(90_000), None],
                   ["GBP", "EUR"])]
    matched = 0
    for t in tenders:
        p = prepare(t)
        expected = naive_match(subs, p)
        assert index.match(p) == expected, t
        matched += len(expected)
    assert matched > 500


def test_checked_candidates_do_not_test_their_anchor_criterion_again(monkeypatch) -> None:
    """A checked subscription is a candidate only through a posting of its own anchor keys that the tender
    satisfies, so ``_check_all`` does not test its anchor criterion again (issue 15 item 4, session 8) — include
    keywords, or categories, buyers, regions when they are the anchor; the other criteria are still tested, and
    the index still matches the naive loop. Every set test is recorded with what it was asked about."""
    from chalicelib.domain import tender_matching as tm

    asked: list[tuple[str, tuple[str, ...]]] = []

    def recording(kind: str, base: type) -> type:
        class Recording(base):  # type: ignore[misc, valid-type]
            def isdisjoint(self, other):  # type: ignore[no-untyped-def]
                asked.append((kind, tuple(other)))
                return super().isdisjoint(other)

            def __contains__(self, item):  # type: ignore[no-untyped-def]  # one item asked
                asked.append((kind, (item,)))
                return super().__contains__(item)
        return Recording

    real_hits = SubscriptionIndex.keyword_hits
    monkeypatch.setattr(SubscriptionIndex, "keyword_hits", lambda self, p: recording("hits", set)(real_hits(self, p)))
    # a buyer the blocker holds is decided by ``b in near if b in blocked``: record the blocker's key set
    monkeypatch.setattr(BuyerBlocker, "keys", property(lambda self: recording("blocked", set)(self._known)))
    subs = [sub(id="kw", keywords={"include": ["cloud", "hosting platform"]}, regions=["UKD"], categories=["cpv:72"]),
            sub(id="kw-exclude", keywords={"include": ["cloud"], "exclude": ["training"]}),
            sub(id="code", categories=["cpv:722"], regions=["UKD"], buyers=["Manchester City Councils"]),
            sub(id="buyer", buyers=["Manchester City Council"], regions=["UKD"]),
            sub(id="place", regions=["UKD1"], value_max=10, currency="GBP")]
    index = SubscriptionIndex(subs)
    matched = set()
    for title, region in [("Cloud hosting platform", "UKD1"), ("Cloud training", "UKD1"), ("Cloud hosting", "FRX")]:
        p = prepare(tender(title=title, region=region, value=Decimal(5), currency="GBP", categories=["cpv:72212"],
                           buyer={"name": "Manchester City Council"}))
        expected = naive_match(subs, p)  # before recording: the predicate tests every criterion
        p.code_prefixes = recording("codes", frozenset)(p.code_prefixes)
        p.place_set = recording("places", frozenset)(p.place_set)
        got = index.match(p)
        assert got == expected, title
        matched |= got
    assert matched == {"kw", "kw-exclude", "code", "buyer", "place"}
    by_id = {c.id: c for c in subs}
    assert ("hits", (" training ",)) in asked and ("codes", by_id["kw"].categories) in asked  # others are tested
    assert ("places", by_id["code"].regions) in asked and ("places", by_id["buyer"].regions) in asked
    assert ("blocked", by_id["code"].buyers) in asked  # a buyer that is not the anchor is tested
    anchors = {("hits", by_id["kw"].include), ("hits", by_id["kw-exclude"].include), ("codes", by_id["code"].categories),
               ("blocked", by_id["buyer"].buyers), ("places", by_id["place"].regions)}
    assert not anchors & set(asked), sorted(anchors & set(asked))
    assert tm.decides_alone(by_id["place"]) is False


def test_only_code_prefixes_someone_is_anchored_on_are_looked_up_also_after_a_snapshot_and_changes() -> None:
    """A tender brings every prefix of each code (≈ 30); the index looks up in its code postings only those some
    subscription was anchored on (``_code_keys``, one C intersection; issue 15 item 4, session 8), built with the
    index, read back with a snapshot and grown by changes applied in place — and matches the naive loop."""
    from chalicelib.domain.tender_matching import decode_snapshot, encode_snapshot

    asked: list[str] = []

    class Counting(dict):  # type: ignore[type-arg]
        def get(self, key, default=None):  # type: ignore[no-untyped-def, override]
            asked.append(key)
            return super().get(key, default)

    subs = [sub(id="a", categories=["cpv:72"]), sub(id="b", categories=["72212"], regions=["UKD"]),
            sub(id="c", keywords={"include": ["cloud"]})]
    p = prepare(tender(categories=["cpv:72212000"], region="UKD1"))
    assert len(p.code_prefixes) > 15
    built = SubscriptionIndex(subs)
    loaded = decode_snapshot(encode_snapshot(built))
    for index in (built, loaded):
        assert index._code_keys == {"cpv:72", "72212"}
        for table in (index._sure, index._check):
            table["codes"] = Counting(table["codes"])
        asked.clear()
        assert index.match(p) == naive_match(subs, p) == {"a", "b", "c"}
        assert sorted(asked) == ["72212", "72212", "cpv:72", "cpv:72"]  # two tables, the two anchors only
    added = sub(id="d", categories=["cpv:7221"])
    loaded.apply([added, "a"], 2)
    assert loaded._code_keys >= {"cpv:7221", "72212"}
    assert loaded.match(p) == naive_match([*subs[1:], added], p) == {"b", "c", "d"}


def test_only_places_someone_is_anchored_on_are_looked_up_also_after_a_snapshot_and_changes() -> None:
    """A tender brings its country and every prefix of its region; the index looks up in its place postings only
    those some subscription was anchored on (``_place_keys``, session 8), built with the index, read back with a
    snapshot and grown by changes applied in place — and matches the naive loop."""
    from chalicelib.domain.tender_matching import decode_snapshot, encode_snapshot

    asked: list[str] = []

    class Counting(dict):  # type: ignore[type-arg]
        def get(self, key, default=None):  # type: ignore[no-untyped-def, override]
            asked.append(key)
            return super().get(key, default)

    subs = [sub(id="a", regions=["UKD"]), sub(id="b", regions=["GB"], keywords={"exclude": ["cloud"]}),
            sub(id="c", regions=["UKD1"], categories=["cpv:72"])]
    p = prepare(tender(categories=["cpv:72212000"], country="GB", region="UKD12"))
    assert len(p.places) == 6
    built = SubscriptionIndex(subs)
    loaded = decode_snapshot(encode_snapshot(built))
    for index in (built, loaded):
        assert index._place_keys == {"ukd", "gb"}  # "c" is anchored on its category
        for table in (index._sure, index._check):
            table["places"] = Counting(table["places"])
        asked.clear()
        assert index.match(p) == naive_match(subs, p) == {"a", "c"}
        assert sorted(asked) == ["gb", "gb", "ukd", "ukd"]  # two tables, the two anchors only
    added = sub(id="d", regions=["UKD12"])
    loaded.apply([added, "a"], 2)
    assert loaded._place_keys >= {"ukd12", "gb"}
    assert loaded.match(p) == naive_match([*subs[1:], added], p) == {"c", "d"}


def test_index_agrees_with_the_naive_loop_on_generated_mixes_of_every_criterion() -> None:
    """Generated subscriptions over a small vocabulary (so that every anchor meets every other criterion, hits and
    near misses alike) and generated tenders: the index — built, loaded from a snapshot, and changed in place —
    matches exactly what the predicate matches (the session-8 cuts skip anchor tests and code look-ups)."""
    import random

    from chalicelib.domain.tender_matching import decode_snapshot, encode_snapshot

    rng = random.Random(808)
    words = ["cloud", "hosting", "training", "road", "works", "data", "centre", "platform"]
    codes = ["cpv:72", "cpv:7221", "72212", "45", "cpv:45233", "unspsc:43"]
    regions = ["UKD", "UKD1", "GB", "FR", "FR1"]
    buyers = ["Manchester City Council", "Manchester City Councils", "Leeds City Council", "Acme Ltd"]

    def pick(values: list[str], most: int) -> list[str]:
        return rng.sample(values, rng.randint(0, most))

    subs = []
    for i in range(400):
        data: dict = {"keywords": {"include": [" ".join(pick(words, 2)) or "cloud" for _ in range(rng.randint(0, 2))],
                                   "exclude": pick(words, 1)},
                      "categories": pick(codes, 2), "regions": pick(regions, 2), "buyers": pick(buyers, 1)}
        if rng.random() < 0.3:
            data.update(value_min=rng.choice([None, 1000]), value_max=rng.choice([None, 50_000]), currency="GBP")
        if not (data["keywords"]["include"] or data["categories"] or data["regions"] or data["buyers"]):
            data["regions"] = ["GB"]
        subs.append(sub(id=f"g{i}", **data))
    tenders = [prepare(tender(title=" ".join(rng.choices(words, k=rng.randint(1, 6))),
                              categories=pick(["cpv:72212000", "cpv:45233140", "unspsc:43211500"], 2),
                              country=rng.choice(["GB", "FR", None]), region=rng.choice(["UKD1", "FR10", None]),
                              buyer={"name": rng.choice(buyers)} if rng.random() < 0.7 else None,
                              value=rng.choice([None, Decimal(500), Decimal(20_000)]), currency=rng.choice(["GBP", "EUR"])))
               for _ in range(300)]
    built = SubscriptionIndex(subs)
    changed = decode_snapshot(encode_snapshot(SubscriptionIndex(subs[:200])))
    changed.apply([*subs[200:], *(c.id for c in subs[:50])], 2)
    changed.apply(subs[:50], 3)
    matched = 0
    for p in tenders:
        expected = naive_match(subs, p)
        assert built.match(p) == expected
        assert changed.match(p) == expected
        matched += len(expected)
    assert matched > 3000, matched


def test_the_remembered_buyer_answers_are_dropped_when_a_buyer_is_added() -> None:
    """``BuyerBlocker.near`` remembers its answers; a key added afterwards must still be found."""
    index = SubscriptionIndex([sub(id="a", buyers=["Manchester City Council"])])
    p = prepare(tender(buyer={"name": "Manchester City Council"}))
    assert index.match(p) == {"a"}
    assert index.match(p) == {"a"}  # answered from memory
    index.apply([sub(id="b", buyers=["Manchester City Councils"])], 2)  # fuzzy: ratio >= 90
    assert index.match(p) == {"a", "b"}
    blocker = BuyerBlocker(["northwind trading", "contoso"])
    assert blocker.near("northwind trading") == ["northwind trading"]
    blocker.add(["northwind tradings"])
    assert sorted(blocker.near("northwind trading")) == ["northwind trading", "northwind tradings"]


def _tenders_for_changes() -> list[Tender]:
    return [tender(title=t, buyer={"name": b} if b else None, region=r, categories=cats) for t, b, r, cats in [
        ("Cloud hosting services", None, None, []), ("某市政务云平台扩容采购项目", "广州市人民医院", "广东", []),
        ("Road resurfacing", "Manchester City Council", "UKD", ["cpv:45233"]), ("Cloud training", None, "GB", []),
    ]]


def test_changes_applied_in_place_equal_a_fresh_build() -> None:
    """Puts, replacements and deletes applied to a built index (new keywords and buyers included) match
    exactly what an index built from the final set matches; replaying the same changes changes nothing."""
    before = [sub(id="a", keywords={"include": ["cloud"]}), sub(id="b", buyers=["Manchester City Council"]),
              sub(id="c", categories=["cpv:452"]), sub(id="d", regions=["广东"]),
              sub(id="h", keywords={"include": ["cloud", "hosting"]})]  # "cloud" holds a list: a, h
    changes: list[Criteria | str] = [
        "b",  # delete
        "h",  # delete from a shared posting
        sub(id="e", keywords={"include": ["云平台"]}),  # a keyword the automata did not hold
        sub(id="a", keywords={"include": ["cloud"], "exclude": ["training"]}),  # replaced
        sub(id="f", buyers=["广州市人民医院"]),  # a buyer the blocker did not hold
        "missing",  # a delete of an absent id is nothing
        sub(id="g", regions=["GB"]),
        "g",  # created then deleted in the same batch: order is kept
    ]
    index = SubscriptionIndex(before, version=4)
    index.apply(changes, 11)
    final = {c.id: c for c in before}
    for ch in changes:
        if isinstance(ch, str):
            final.pop(ch, None)
        else:
            final[ch.id] = ch
    fresh = SubscriptionIndex(final.values(), version=11)
    assert index.version == 11 and sorted(c.id for c in index) == sorted(final) == ["a", "c", "d", "e", "f"]
    for t in _tenders_for_changes():
        p = prepare(t)
        assert index.match(p) == fresh.match(p) == naive_match(final.values(), p), t.title
    assert index.match(prepare(_tenders_for_changes()[1])) == {"d", "e", "f"}
    index.apply(changes, 11)  # a replay (a snapshot taken while these writes went on)
    for t in _tenders_for_changes():
        assert index.match(prepare(t)) == fresh.match(prepare(t))


def test_the_cjk_character_test_that_skips_the_cjk_automaton_is_is_cjk() -> None:
    """A text without a CJK character skips the CJK automaton: the regex must agree with ``_is_cjk``."""
    from chalicelib.domain.tender_matching import _CJK_CHAR, _is_cjk

    assert all(bool(_CJK_CHAR.search(chr(o))) == _is_cjk(chr(o)) for o in range(0x32000))


def test_the_pre_check_before_the_cjk_regex_never_hides_a_cjk_character() -> None:
    """``_may_hold_cjk`` (which spares the regex pass) is true for every CJK character, alone and after wide
    non-CJK text (accented, Polish, Cyrillic, a lone surrogate), and false for texts without one."""
    from chalicelib.domain.tender_matching import _is_cjk, _may_hold_cjk

    prefix = "zamówienie łódź été дорога \ud800 "
    cjk = [chr(o) for o in range(0x110000) if _is_cjk(chr(o))]
    assert len(cjk) > 90_000
    assert all(_may_hold_cjk(ch) and _may_hold_cjk(prefix + ch + " end") for ch in cjk)
    for text in ("cloud hosting", "été à paris", "zamówienie łódź", "дорога", "ελλάδα", "", "a\u2014b"):
        assert not _may_hold_cjk(text), text


def test_cjk_keywords_are_found_in_texts_that_start_wide_and_not_cjk() -> None:
    """A CJK keyword after Polish / Cyrillic / accented text (the texts the pre-check lets through to the
    regex) is found by the index exactly as by the naive loop; the same texts without it match nothing CJK."""
    subs = [sub(id="zh", keywords={"include": ["云平台"]}), sub(id="ja", keywords={"include": ["クラウド"]}),
            sub(id="ko", keywords={"include": ["클라우드"]}), sub(id="pl", keywords={"include": ["łódź"]})]
    index = SubscriptionIndex(subs)
    for title, expected in [("Łódź: 云平台扩容", {"zh", "pl"}), ("дорога クラウド", {"ja"}), ("été 클라우드", {"ko"}),
                            ("Łódź — été", {"pl"}), ("Cloud hosting", set())]:
        p = prepare(tender(title=title))
        assert index.match(p) == naive_match(subs, p) == expected, title


def test_a_loaded_index_is_built_from_columns_and_shares_equal_criteria() -> None:
    """Format 3 stores the subscriptions as columns (no row tuples left behind in the allocator at load, see
    ``to_payload``); equal criteria tuples and equal decimals are one object in the loaded index."""
    import marshal
    import zlib

    from chalicelib.domain.tender_matching import decode_snapshot, encode_snapshot

    tenders, subs, index = _bench_index(3_000)
    chunks = encode_snapshot(index)
    payload = marshal.loads(zlib.decompress(b"".join(chunks)))
    columns = payload[1]
    assert len(columns) == len(Criteria._fields) and all(len(column) == 3_000 for column in columns)
    loaded = decode_snapshot(chunks)
    crits = list(loaded)
    for field in ("exclude", "regions", "categories"):
        values = [getattr(c, field) for c in crits]
        assert len({id(v) for v in values}) == len(set(values)) < len(values), field
    prices = [c.value_min for c in crits if c.value_min is not None]
    assert len({id(v) for v in prices}) == len(set(prices)) < len(prices)
    assert sorted(crits) == sorted(subs)
    for t in tenders[::5]:
        p = prepare(t)
        assert loaded.match(p) == index.match(p) == naive_match(subs, p)


def test_a_snapshot_of_index_format_2_is_still_read() -> None:
    """Format 2 (rows, every buyer window a list) — what the release before wrote — loads into the same index,
    and changes applied to it afterwards (a new buyer sharing its windows) match like a fresh build."""
    import marshal
    import zlib

    from chalicelib.domain.tender_matching import (
        INDEX2_FORMAT,
        READABLE_FORMATS,
        SNAPSHOT_FORMAT,
        decode_snapshot,
    )

    tenders, subs, index = _bench_index(3_000)
    fmt, columns, sure, check, cjk, phrases, single, windows, by_len = index.to_payload()
    rows = list(zip(*columns, strict=True))
    windows = {w: [k] if type(k) is str else k for w, k in windows.items()}
    old = zlib.compress(marshal.dumps((2, rows, sure, check, cjk, phrases, single, windows, by_len)), 6)
    assert INDEX2_FORMAT in READABLE_FORMATS and INDEX2_FORMAT != SNAPSHOT_FORMAT
    loaded = decode_snapshot([old[:1000], old[1000:]], INDEX2_FORMAT)
    assert sorted(loaded) == sorted(subs)
    extra = Criteria(id="new_buyer", rep_id="r", buyers=("london borough of barnett",))
    loaded.apply([extra], 1)
    for t in tenders[::5]:
        p = prepare(t)
        assert loaded.match(p) == naive_match([*subs, extra], p)
    with pytest.raises(ValueError, match="not readable"):
        decode_snapshot([old], "index1-rows1-marshal4-py3.11-zlib")


def test_checked_buyers_are_decided_by_the_blocker_answer_without_scoring_again(monkeypatch) -> None:
    """A checked subscription's buyer criterion that the buyer blocker holds is decided by the blocker's answer
    (no second ``fuzz.ratio``); one the blocker does not hold is scored; after every buyer-anchored
    subscription is deleted (the blocker keeps its keys but is no longer asked) buyers are scored again.
    Always what the naive loop matches."""
    from chalicelib.domain import tender_matching as tm

    real_ratio, real_extract, real_distance = tm._rapidfuzz()
    scored: list[tuple[str, str]] = []

    def counting(a: str, b: str, **kw) -> float:
        if not kw:  # the checks' calls (the blocker's ``extract`` passes a cut-off)
            scored.append((a, b))
        return real_ratio(a, b, **kw)

    monkeypatch.setattr(tm, "_rapidfuzz", lambda: (counting, real_extract, real_distance))
    subs = [sub(id="anchor", buyers=["Manchester City Council"], regions=["UKD"]),  # checked: region too
            sub(id="near", buyers=["Manchester City Councils"], regions=["UKD"]),
            sub(id="far", buyers=["Leeds City Council"], regions=["UKD"]),
            sub(id="kw", keywords={"include": ["cloud"]}, buyers=["Manchester City Council"]),
            sub(id="kw-other", keywords={"include": ["cloud"]}, buyers=["Manchester City Counsil"]),  # not in the blocker
            sub(id="kw-far", keywords={"include": ["cloud"]}, buyers=["Leeds City Council"])]
    index = SubscriptionIndex(subs)
    p = prepare(tender(buyer={"name": "Manchester City Council"}, region="UKD1"))
    core = p.buyer_core
    assert index.match(p) == naive_match(subs, p) == {"anchor", "near", "kw", "kw-other"}
    # only the buyer the blocker does not hold ("kw-other") is scored by the check
    assert {a for a, b in scored if b == core} == set(subs[4].buyers)
    assert not set(subs[4].buyers) & index._buyer_block.keys
    index.apply(["anchor", "near", "far"], 2)  # no buyer-anchored subscription left; the blocker keeps its keys
    left = subs[3:]
    scored.clear()
    assert index.match(p) == naive_match(left, p) == {"kw", "kw-other"}
    assert {a for a, b in scored if b == core} == {c for s in left for c in s.buyers}


def test_buyer_spans_are_the_float_formulas() -> None:
    """The look-up's length range and piece count come from a table of integer arithmetic (session 8); they must
    be the float formulas they replaced, for every query length (table and beyond)."""
    import math

    from chalicelib.domain import tender_matching as tm

    assert (BuyerBlocker.MIN_WINDOW, BuyerBlocker.MAX_WINDOW) == (2, 4)  # ``_near`` spells them as numbers
    for lb in range(20_000):
        hi = math.ceil(lb * 11 / 9)
        expected = (math.floor(lb * 9 / 11), hi, math.floor(0.1 * (lb + hi) + 0.01) + 1)
        assert tm._span(lb) == expected, lb
        if lb < tm._SPANS_UP_TO:
            assert tm._SPANS[lb] == expected, lb
    query = "north " * 100  # longer than the table: computed, and still exact
    keys = [query, query[:-3], query + "ab", query[:400]]
    assert sorted(BuyerBlocker(keys).near(query)) == sorted(k for k in keys if buyer_score(k, query) >= 90)


def test_a_posting_cut_to_a_length_range_is_the_plain_filter() -> None:
    """``_of_length`` bisects only where the range cuts the posting (session 8); for every range over postings
    of every shape (one key, lists sorted by length, ranges before, inside, across and after them) it must
    give exactly the keys of a length in the range."""
    import random

    from chalicelib.domain import tender_matching as tm

    rng = random.Random(8)
    postings: list[str | list[str]] = ["abc", "a" * 9]
    for _ in range(300):
        postings.append(sorted(("x" * rng.randint(2, 12) for _ in range(rng.randint(2, 9))), key=len))
    for held in postings:
        for lo in range(0, 15):
            for hi in range(lo, 16):
                got = list(tm._of_length(held, lo, hi))
                assert got == [k for k in ([held] if isinstance(held, str) else held) if lo <= len(k) <= hi]


def test_checked_postings_hold_one_plain_tuple_per_subscription_built_loaded_and_changed() -> None:
    """The checked postings hold each checked subscription's fields as one exact tuple shared by all its keys
    (CPython unpacks an exact tuple in its fast path, a ``Criteria`` through an iterator; session 10), equal to its
    ``Criteria``: after a build, after a snapshot round trip and after changes applied in place (a replaced
    subscription leaves no tuple behind, a deleted one none either); matches stay the naive loop's."""
    from chalicelib.domain.tender_matching import decode_snapshot, encode_snapshot

    subs = [sub(id="two", keywords={"include": ["cloud", "hosting"], "exclude": ["print"]}),
            sub(id="value", categories=["cpv:72"], value_min=Decimal("10"), currency="EUR"),
            sub(id="region", buyers=["Leeds City Council"], regions=["UKD"]),
            sub(id="alone", keywords={"include": ["cloud"]}),
            # a second checked subscription under "cloud": that posting is a list of two tuples
            sub(id="three", keywords={"include": ["cloud"], "exclude": ["print"]})]
    p = prepare(tender(title="Cloud hosting", categories=["cpv:72212000"], buyer={"name": "Leeds City Council"},
                       region="UKD1", value=Decimal("50"), currency="EUR"))

    def postings(index: SubscriptionIndex) -> dict[str, list[tuple[object, ...]]]:
        found: dict[str, list[tuple[object, ...]]] = {}
        for table in index._check.values():
            for held in table.values():
                for x in held if type(held) is list else [held]:
                    found.setdefault(x[0], []).append(x)  # type: ignore[index]
        return found

    built = SubscriptionIndex(subs)
    loaded = decode_snapshot(encode_snapshot(built))
    for index in (built, loaded):
        found = postings(index)
        assert sorted(found) == ["region", "three", "two", "value"]
        assert len(found["two"]) == 2  # under both include keywords
        shared = [held for held in index._check["keywords"].values() if type(held) is list]
        assert [sorted(x[0] for x in held) for held in shared] == [["three", "two"]]  # type: ignore[index]
        for sub_id, held in found.items():
            assert all(type(x) is tuple and x is held[0] for x in held), sub_id
            assert held[0] == tuple(index.by_id[sub_id])
        assert index.match(p) == naive_match(subs, p) == {"two", "value", "region", "alone", "three"}
    changed = sub(id="two", keywords={"include": ["hosting", "storage"], "exclude": ["cloud"]})
    loaded.apply([changed, "value"], 2)
    found = postings(loaded)
    assert sorted(found) == ["region", "three", "two"] and len(found["two"]) == 2  # none left under "cloud"
    assert all(x is found["two"][0] and x == tuple(changed) for x in found["two"])
    assert found["three"] == [tuple(subs[4])]
    assert loaded.match(p) == naive_match([changed, *subs[2:]], p) == {"region", "alone", "three"}
