"""The connector contract: config validation, the kind bases' fetch, and parse helpers."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr

from connectors import REGISTRY, standard_webhooks
from connectors.base import (
    Connector,
    FeedConfig,
    FeedConnector,
    Fetched,
    FetchRequest,
    Parsed,
    RegistryConnector,
    WebhookConfig,
    WebhookConnector,
    split_parsed,
)
from connectors.errors import ConfigInvalidError, PermanentError, RecordRejectedError, SignatureInvalidError
from connectors.http import HttpClient
from tests.contract.harness import LocalServer, Reply


class Item(BaseModel):
    source: str
    source_id: str


class _Feed(FeedConnector[FeedConfig]):
    name = "test_feed"
    config_model = FeedConfig

    def parse(self, raw: Fetched) -> Iterator[Parsed]:
        for line in raw.body.decode().split():
            yield Item(source=self.name, source_id=line)


class _SecretConfig(BaseModel):
    base_url: str
    api_key: SecretStr
    page_size: int = 50


class _Registry(RegistryConnector[_SecretConfig]):
    name = "test_registry"
    config_model = _SecretConfig
    lookup_path = "company/{identifier}"
    search_path = "search/companies?q={name}&items=20"

    def request_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.api_key.get_secret_value()}"}

    def parse(self, raw: Fetched) -> Iterator[Parsed]:
        yield Item(source=self.name, source_id=raw.body.decode())


class _Webhook(WebhookConnector[WebhookConfig]):
    name = "test_webhook"
    config_model = WebhookConfig

    def parse(self, raw: Fetched) -> Iterator[Parsed]:
        yield Item(source=self.name, source_id=raw.body.decode())


SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture()
def server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        yield srv


# -- config ------------------------------------------------------------------------------------------


def test_config_is_validated_from_a_mapping_or_taken_as_a_model() -> None:
    http = HttpClient()
    from_dict = _Feed({"feed_url": "https://example.org/feed.xml"}, http)
    assert isinstance(from_dict.config, FeedConfig)
    model = FeedConfig(feed_url="https://example.org/feed.xml")
    assert _Feed(model, http).config is model
    assert from_dict.http is http


@pytest.mark.parametrize(
    ("config", "errors"),
    [
        ({}, [{"loc": "feed_url", "type": "missing"}]),
        ({"feed_url": "ftp://example.org/x"}, [{"loc": "feed_url", "type": "value_error"}]),
        ({"feed_url": "/relative"}, [{"loc": "feed_url", "type": "value_error"}]),
        ({"feed_url": "https://example.org/", "extra": 1}, [{"loc": "extra", "type": "extra_forbidden"}]),
        ("https://example.org/", [{"loc": "", "type": "model_type"}]),
    ],
)
def test_invalid_config_raises_config_invalid_with_loc_and_type(config: object, errors: list[dict]) -> None:
    with pytest.raises(ConfigInvalidError) as exc:
        _Feed(config, HttpClient())  # type: ignore[arg-type]
    assert exc.value.errors == errors


def test_config_errors_never_echo_secrets() -> None:
    with pytest.raises(ConfigInvalidError) as exc:
        _Registry(
            {"base_url": "https://r.example/", "api_key": "sk_live_do_not_leak", "page_size": "sk_live_x"},
            HttpClient(),
        )
    assert exc.value.errors == [{"loc": "page_size", "type": "int_parsing"}]
    assert "sk_live" not in repr(exc.value) + str(exc.value) + repr(exc.value.__cause__) + repr(
        exc.value.__context__
    )


def test_io_kinds_need_a_client_and_webhooks_do_not() -> None:
    with pytest.raises(TypeError):
        _Feed({"feed_url": "https://example.org/feed.xml"}, None)
    hook = _Webhook({"signing_secrets": [SECRET]})
    with pytest.raises(TypeError):
        hook.http  # noqa: B018


def test_connector_is_abstract() -> None:
    with pytest.raises(TypeError):
        Connector({}, HttpClient())  # type: ignore[abstract]


# -- feeds -------------------------------------------------------------------------------------------


def test_feed_fetch_yields_body_and_new_validators_then_nothing_on_304(server: LocalServer) -> None:
    def conditional(seen):  # type: ignore[no-untyped-def]
        if seen.headers.get("if-none-match") == '"abc"':
            return Reply(304)
        return Reply(
            200,
            b"a b c",
            {"ETag": '"abc"', "Last-Modified": "Tue, 07 Jan 2025 10:00:00 GMT", "Content-Type": "text/plain"},
        )

    server.responder = conditional
    feed = _Feed({"feed_url": server.url("/feed")}, HttpClient())
    [fetched] = list(feed.fetch(FetchRequest()))
    assert fetched == Fetched(
        body=b"a b c",
        url=server.url("/feed"),
        content_type="text/plain",
        etag='"abc"',
        last_modified="Tue, 07 Jan 2025 10:00:00 GMT",
    )
    assert [r.source_id for r in feed.parse(fetched)] == ["a", "b", "c"]
    assert list(feed.fetch(FetchRequest(etag=fetched.etag, last_modified=fetched.last_modified))) == []
    assert server.seen[1].headers["if-modified-since"] == "Tue, 07 Jan 2025 10:00:00 GMT"


def test_feed_404_means_the_feed_is_gone(server: LocalServer) -> None:
    server.responder = lambda seen: Reply(404)
    feed = _Feed({"feed_url": server.url("/feed")}, HttpClient())
    with pytest.raises(PermanentError):
        list(feed.fetch(FetchRequest()))


# -- registries --------------------------------------------------------------------------------------


def _registry(server: LocalServer) -> _Registry:
    return _Registry({"base_url": server.url("/api/v1"), "api_key": "k-123"}, HttpClient())


def test_registry_lookup_builds_an_encoded_url_and_sends_auth(server: LocalServer) -> None:
    server.responder = lambda seen: Reply(200, b"OC123456")
    [fetched] = list(_registry(server).fetch(FetchRequest(identifier=" OC/123 456 ")))
    assert fetched.body == b"OC123456"
    assert server.seen[0].path == "/api/v1/company/OC%2F123%20456"
    assert server.seen[0].headers["authorization"] == "Bearer k-123"


def test_registry_search_by_name(server: LocalServer) -> None:
    server.responder = lambda seen: Reply(200, b"[]")
    list(_registry(server).fetch(FetchRequest(name="深圳市 & Co")))
    assert server.seen[0].path == "/api/v1/search/companies?q=%E6%B7%B1%E5%9C%B3%E5%B8%82%20%26%20Co&items=20"


def test_registry_404_is_an_answer_not_an_error(server: LocalServer) -> None:
    server.responder = lambda seen: Reply(404, b'{"errors":[{"error":"company-profile-not-found"}]}')
    assert list(_registry(server).fetch(FetchRequest(identifier="00000000"))) == []


@pytest.mark.parametrize(
    "request_",
    [FetchRequest(), FetchRequest(identifier=""), FetchRequest(identifier=".."), FetchRequest(name="  ")],
)
def test_registry_refuses_requests_with_nothing_to_look_up(
    request_: FetchRequest, server: LocalServer
) -> None:
    with pytest.raises(PermanentError) as exc:
        list(_registry(server).fetch(request_))
    assert exc.value.reason == "invalid_request"
    assert server.seen == []


def test_registry_without_search_path_refuses_name_search(server: LocalServer) -> None:
    class LookupOnly(_Registry):
        search_path = None

    with pytest.raises(PermanentError):
        list(
            LookupOnly({"base_url": server.url("/"), "api_key": "k"}, HttpClient()).fetch(
                FetchRequest(name="ACME")
            )
        )


# -- webhooks ----------------------------------------------------------------------------------------


def test_webhook_verify_and_fetch() -> None:
    # GIVEN a webhook connector mid-rotation, holding two secrets
    new = standard_webhooks.generate_secret()
    hook = _Webhook({"signing_secrets": [SECRET, new]})
    body, now = b"opp-42", 1_700_000_000
    headers = {
        "Webhook-Id": "msg_1",
        "Webhook-Timestamp": str(now),
        "Webhook-Signature": standard_webhooks.sign(new, "msg_1", now, body),
    }
    # WHEN verified and fetched THEN the body passes through unchanged
    hook.verify(headers, body, now)
    assert [r.source_id for raw in hook.fetch(FetchRequest(body=body)) for r in hook.parse(raw)] == ["opp-42"]
    # AND the configured tolerance applies
    with pytest.raises(SignatureInvalidError) as exc:
        hook.verify(headers, body, now + 301)
    assert exc.value.reason == "stale_timestamp"
    short = _Webhook({"signing_secrets": [new], "tolerance_seconds": 10})
    with pytest.raises(SignatureInvalidError):
        short.verify(headers, body, now + 11)


def test_webhook_fetch_needs_a_body() -> None:
    with pytest.raises(PermanentError):
        list(_Webhook({"signing_secrets": [SECRET]}).fetch(FetchRequest()))


@pytest.mark.parametrize("secrets", [[], ["whsec_"], ["not base64!"], [SECRET] * 5])
def test_webhook_config_refuses_unusable_secrets(secrets: list[str]) -> None:
    with pytest.raises(ConfigInvalidError) as exc:
        _Webhook({"signing_secrets": secrets})
    assert exc.value.errors and all(e["loc"].startswith("signing_secrets") for e in exc.value.errors)


def test_webhook_secrets_are_hidden_in_repr() -> None:
    hook = _Webhook({"signing_secrets": [SECRET]})
    assert SECRET not in repr(hook.config)


# -- parse helpers -----------------------------------------------------------------------------------


def test_split_parsed_separates_records_and_yielded_rejections() -> None:
    bad = RecordRejectedError(source_id="x", errors=[{"loc": "title", "type": "missing"}])
    records, rejected = split_parsed([Item(source="s", source_id="1"), bad, Item(source="s", source_id="2")])
    assert [r.source_id for r in records] == ["1", "2"]
    assert rejected == [bad]


def test_split_parsed_also_catches_a_raised_rejection() -> None:
    def parse() -> Iterator[Parsed]:
        yield Item(source="s", source_id="1")
        raise RecordRejectedError(source_id="2")

    records, rejected = split_parsed(parse())
    assert [r.source_id for r in records] == ["1"]
    assert [r.source_id for r in rejected] == ["2"]


def test_raw_from_fixture_wraps_bytes() -> None:
    feed = _Feed({"feed_url": "https://example.org/"}, HttpClient())
    assert feed.raw_from_fixture(b"x y", name="f.txt") == Fetched(body=b"x y", url="fixture:f.txt")


def test_fetch_request_is_frozen() -> None:
    with pytest.raises(AttributeError):
        FetchRequest().etag = "x"  # type: ignore[misc]


# -- package shape -----------------------------------------------------------------------------------


def test_registry_is_an_explicit_dict_of_connector_classes() -> None:
    assert isinstance(REGISTRY, dict)
    for key, cls in REGISTRY.items():
        assert issubclass(cls, Connector) and cls.name == key


def test_connectors_stay_free_of_aws_imports_and_base_of_urllib3() -> None:
    code = (
        "import sys, connectors.base, connectors.registry; from connectors import REGISTRY; "
        "heavy = ('chalice', 'pynamodb', 'boto3', 'botocore', 'urllib3'); "
        "print(','.join(sorted({m.split('.')[0] for m in sys.modules} & set(heavy))))"
    )
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == ""


def test_connectors_source_never_imports_aws_or_chalice() -> None:
    # STYLE.md: imports go schemas <- connectors <- functions; connectors never reach for AWS.
    forbidden = re.compile(r"^\s*(from|import)\s+(chalice|pynamodb|boto3|botocore)\b", re.MULTILINE)
    root = Path(__file__).resolve().parents[3] / "connectors"
    sources = list(root.rglob("*.py"))
    assert sources
    assert [str(p.relative_to(root)) for p in sources if forbidden.search(p.read_text())] == []
