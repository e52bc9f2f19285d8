"""Console tender forms (issue 18): lists split on commas/、/lines, empty fields left to the API, loc -> field."""
from __future__ import annotations

from chalicelib.console import tenders


def test_subscription_body_splits_lists_and_leaves_out_empty_fields():
    body = tenders.subscription_body({"name": " 云 ", "keywords.include": "云平台，数据中台\n运维", "keywords.exclude": "",
                                      "regions": "广东、GB", "categories": "", "delivery": "immediate"})
    assert body == {"name": "云", "keywords": {"include": ["云平台", "数据中台", "运维"]}, "regions": ["广东", "GB"],
                    "delivery": "immediate"}
    assert tenders.subscription_body({}) == {}


def test_register_body_and_error_map():
    body = tenders.register_body({"contact.name": "张伟", "contact.role": "decision_maker", "amount": "10",
                                  "currency": "CNY"})
    assert body == {"contacts": [{"name": "张伟", "role": "decision_maker"}],
                    "expected_amount": {"amount": "10", "currency": "CNY"}}
    errs = tenders.error_map([{"loc": "body.contacts.0.name", "type": "missing"},
                              {"loc": "body.keywords.include.0", "type": "too_long", "message": "too long"},
                              {"loc": "body", "type": "value_error"}])
    assert errs == {"contact.name": "missing", "keywords.include": "too long", "_": "value_error"}
