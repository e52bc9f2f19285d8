"""The connector contract, run over every entry of ``connectors.REGISTRY``.

Adding a connector needs no code here: give the class ``example_config``, ``fixtures`` (files under
``tests/fixtures/sources/<name>/``) and, for registries, an ``example_request``. The same suite also runs
against ``ExampleJsonLinesConnector`` below, and against deliberately broken variants of it, which shows
that the checks pass for a correct connector and fail for broken ones even while REGISTRY is empty.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import BaseModel, ValidationError

from connectors import REGISTRY
from connectors.base import (
    FeedConfig,
    FeedConnector,
    Fetched,
    FetchRequest,
    Parsed,
    RegistryConfig,
    RegistryConnector,
    WebhookConfig,
    WebhookConnector,
    split_parsed,
)
from connectors.errors import PermanentError, RecordRejectedError, RetryableError, loc_type_errors
from connectors.http import HttpClient
from tests.contract.harness import (
    LocalServer,
    check_declaration,
    check_example_config,
    check_fetch_outcomes,
    check_fixtures_parse,
)

# Test-only connectors keep their fixture beside this module; an absolute path overrides the
# tests/fixtures/sources/<name>/ folder that real connectors use.
EXAMPLE_FIXTURE = str(Path(__file__).parent / "fixtures" / "example_jsonl" / "items.jsonl")


class ExampleRecord(BaseModel):
    source: str
    source_id: str
    title: str


class ExampleJsonLinesConnector(FeedConnector[FeedConfig]):
    """Test-only: a JSON-lines feed, one ``{"id", "title"}`` object per line."""

    name: ClassVar[str] = "example_jsonl"
    config_model: ClassVar[type[BaseModel]] = FeedConfig
    example_config: ClassVar[dict] = {"feed_url": "https://feeds.example.org/v1/items.jsonl?lang=en"}
    fixtures: ClassVar[tuple[str, ...]] = (EXAMPLE_FIXTURE,)

    def parse(self, raw: Fetched) -> Iterator[Parsed]:
        for number, line in enumerate(raw.body.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                yield RecordRejectedError(errors=[{"loc": f"line.{number}", "type": "json_invalid"}])
                continue
            try:
                yield ExampleRecord(source=self.name, source_id=entry.get("id"), title=entry.get("title"))
            except ValidationError as exc:
                yield RecordRejectedError(source_id=entry.get("id"), errors=loc_type_errors(exc))


class ExampleRegistryConnector(RegistryConnector[RegistryConfig]):
    """Test-only: a registry with the same payload format, so 404 semantics are exercised."""

    name: ClassVar[str] = "example_registry"
    config_model: ClassVar[type[BaseModel]] = RegistryConfig
    example_config: ClassVar[dict] = {"base_url": "https://registry.example.org/api/"}
    example_request: ClassVar[FetchRequest] = FetchRequest(identifier="A-1")
    fixtures: ClassVar[tuple[str, ...]] = (EXAMPLE_FIXTURE,)
    lookup_path: ClassVar[str] = "company/{identifier}"
    parse = ExampleJsonLinesConnector.parse


class ExampleWebhookConnector(WebhookConnector[WebhookConfig]):
    """Test-only: a signed push source with the same payload format."""

    name: ClassVar[str] = "example_webhook"
    config_model: ClassVar[type[BaseModel]] = WebhookConfig
    example_config: ClassVar[dict] = {"signing_secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}
    fixtures: ClassVar[tuple[str, ...]] = (EXAMPLE_FIXTURE,)
    parse = ExampleJsonLinesConnector.parse


EXAMPLES = {
    "example_jsonl": ExampleJsonLinesConnector,
    "example_registry": ExampleRegistryConnector,
    "example_webhook": ExampleWebhookConnector,
}
CASES = [pytest.param(key, cls, id=key) for key, cls in sorted(REGISTRY.items())] + [
    pytest.param(key, cls, id=f"selftest-{key}") for key, cls in EXAMPLES.items()
]


@pytest.fixture()
def server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        yield srv


@pytest.mark.parametrize(("key", "cls"), CASES)
def test_declaration(key: str, cls: type) -> None:
    check_declaration(key, cls)


@pytest.mark.parametrize(("key", "cls"), CASES)
def test_example_config_validates(key: str, cls: type) -> None:
    check_example_config(cls)


@pytest.mark.parametrize(("key", "cls"), CASES)
def test_fixtures_parse(key: str, cls: type) -> None:
    check_fixtures_parse(cls)


@pytest.mark.parametrize(("key", "cls"), CASES)
def test_fetch_outcomes(key: str, cls: type, server: LocalServer) -> None:
    check_fetch_outcomes(cls, server)


def test_registry_and_examples_do_not_share_names() -> None:
    # The self-test names must never shadow (and so silently replace) a real connector's checks.
    assert not set(REGISTRY) & set(EXAMPLES)


# -- the suite can fail: broken variants of the examples must not pass --------------------------------

_counter = itertools.count()


class _UnstableIds(ExampleJsonLinesConnector):
    def parse(self, raw: Fetched) -> Iterator[Parsed]:
        for record in super().parse(raw):
            if isinstance(record, ExampleRecord):
                yield record.model_copy(update={"source_id": f"row-{next(_counter)}"})


class _ImpureParse(ExampleJsonLinesConnector):
    def parse(self, raw: Fetched) -> Iterator[Parsed]:
        self.http.get(self.config.feed_url)
        yield from super().parse(raw)


class _NoRecords(ExampleJsonLinesConnector):
    def parse(self, raw: Fetched) -> Iterator[Parsed]:
        yield RecordRejectedError(errors=[{"loc": "", "type": "unsupported"}])


class _SwallowsRetryable(ExampleJsonLinesConnector):
    def fetch(self, request: FetchRequest) -> Iterator[Fetched]:
        try:
            yield from super().fetch(request)
        except RetryableError:
            return  # hides the outage from the queue: exactly what the contract forbids


class _OwnHttpStack(ExampleJsonLinesConnector):
    def fetch(self, request: FetchRequest) -> Iterator[Fetched]:
        import urllib.request

        with urllib.request.urlopen(self.config.feed_url, timeout=5) as resp:  # noqa: S310 - 127.0.0.1 only
            yield Fetched(body=resp.read())


class _RegistryNotFoundIsError(ExampleRegistryConnector):
    def fetch(self, request: FetchRequest) -> Iterator[Fetched]:
        yield Fetched.from_response(self.http.get(self.lookup_url(request)))


class _AcceptsAnySignature(ExampleWebhookConnector):
    def verify(self, headers, body, now) -> None:  # type: ignore[no-untyped-def]
        return None


def test_suite_rejects_a_name_that_differs_from_the_key() -> None:
    with pytest.raises(AssertionError, match="name"):
        check_declaration("ted_rss", ExampleJsonLinesConnector)


def test_suite_rejects_a_connector_left_abstract() -> None:
    class Abstract(FeedConnector[FeedConfig]):
        name = "abstract"
        config_model = FeedConfig

    with pytest.raises(AssertionError, match="abstract"):
        check_declaration("abstract", Abstract)


def test_suite_rejects_an_invalid_example_config() -> None:
    class BadExample(ExampleJsonLinesConnector):
        example_config: ClassVar[dict] = {"feed_url": "ftp://feeds.example.org/items"}

    with pytest.raises(Exception, match="config"):
        check_example_config(BadExample)


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (_UnstableIds, "source_id not stable"),
        (_ImpureParse, "must be pure"),
        (_NoRecords, "no records"),
    ],
)
def test_suite_rejects_broken_parse(broken: type, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_fixtures_parse(broken)


def test_suite_rejects_missing_fixtures() -> None:
    class NoFixtures(ExampleJsonLinesConnector):
        fixtures: ClassVar[tuple[str, ...]] = ()

    class MissingFile(ExampleJsonLinesConnector):
        fixtures: ClassVar[tuple[str, ...]] = ("does-not-exist.jsonl",)

    with pytest.raises(AssertionError, match="no fixtures"):
        check_fixtures_parse(NoFixtures)
    with pytest.raises(AssertionError, match="missing fixture"):
        check_fixtures_parse(MissingFile)


@pytest.mark.parametrize(
    ("broken", "message"),
    [(_SwallowsRetryable, "429"), (_OwnHttpStack, "HttpClient")],
)
def test_suite_rejects_broken_fetch(broken: type, message: str, server: LocalServer) -> None:
    with pytest.raises(AssertionError, match=message):
        check_fetch_outcomes(broken, server)


def test_suite_rejects_a_registry_that_treats_404_as_an_error(server: LocalServer) -> None:
    with pytest.raises(PermanentError):
        check_fetch_outcomes(_RegistryNotFoundIsError, server)


def test_suite_rejects_a_webhook_that_skips_verification(server: LocalServer) -> None:
    with pytest.raises(AssertionError, match="tampered"):
        check_fetch_outcomes(_AcceptsAnySignature, server)


def test_example_connector_rejects_bad_lines_and_keeps_going() -> None:
    # GIVEN the example fixture with two bad lines between good ones
    connector = ExampleJsonLinesConnector(ExampleJsonLinesConnector.example_config, HttpClient())
    raw = connector.raw_from_fixture(Path(EXAMPLE_FIXTURE).read_bytes(), name="items.jsonl")
    # WHEN parsed
    records, rejected = split_parsed(connector.parse(raw))
    # THEN the good lines survive, in order, and each bad one is reported with loc/type only
    assert [r.source_id for r in records] == ["A-1", "A-2", "A-3"]
    assert [e.errors for e in rejected] == [
        [{"loc": "line.3", "type": "json_invalid"}],
        [{"loc": "source_id", "type": "string_type"}],
    ]
