"""Subscription matching: the rules, and the index agreeing with the naive loop on the real corpus."""
from __future__ import annotations

from decimal import Decimal

import pytest

from schemas.tender import Buyer, Subscription, Tender

from chalicelib.domain.tender_matching import (
    BuyerBlocker,
    Criteria,
    SubscriptionIndex,
    buyer_score,
    matches,
    naive_match,
    prepare,
)


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
