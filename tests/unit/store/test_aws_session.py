"""store.aws's botocore session: event names through KnownAliases, answered as botocore's own aliaser answers them."""
from __future__ import annotations

import contextlib

import botocore.session
import pytest
from botocore.hooks import EVENT_ALIASES, EventAliaser, HierarchicalEmitter

from chalicelib.store import aws

# Services whose clients the functions make, and two whose names botocore aliases (so its loop does replace).
SERVICES = ("dynamodb", "secretsmanager", "sns", "sqs", "s3", "sagemaker-runtime", "apigateway", "dynamodbstreams")


class _Sent(Exception):
    pass


def _stop(**_):
    raise _Sent


def _names_a_session_uses() -> set[str]:
    """Every event name botocore's own aliaser is asked about while a stock session starts, makes a client of each
    service and sends one request (stopped before the wire)."""
    asked: set[str] = set()
    real = EventAliaser._alias_event_name

    def recording(self, event_name):
        asked.add(event_name)
        return real(self, event_name)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(EventAliaser, "_alias_event_name", recording)
        session = botocore.session.get_session()
        for service in SERVICES:
            client = session.create_client(service, region_name="us-east-1", aws_access_key_id="k",
                                           aws_secret_access_key="s")
            client.meta.events.register("before-send", _stop)
            model = client.meta.service_model
            for name in model.operation_names:
                shape = model.operation_model(name).input_shape
                if shape is None or not shape.required_members:
                    with contextlib.suppress(_Sent):
                        getattr(client, botocore.xform_name(name))()
                    break
    return asked


def _names_around_every_alias() -> set[str]:
    names = set()
    for alias in EVENT_ALIASES:
        for name in (alias, f"before-call.{alias}", f"before-call.{alias}.GetItem", f"x.{alias}.{alias}",
                     f"before-call.{alias}x.Op", f"before-call.x{alias}.Op", f"a{alias}b", f"a.{alias}b.c"):
            names.add(name)
    return names


def test_known_aliases_answers_every_name_as_botocores_aliaser():
    names = _names_a_session_uses() | _names_around_every_alias()
    assert len(names) > 500 and any(EventAliaser(HierarchicalEmitter())._alias_event_name(n) != n for n in names)
    ours, theirs = aws.KnownAliases(HierarchicalEmitter()), EventAliaser(HierarchicalEmitter())
    for name in sorted(names):
        assert ours._alias_event_name(name) == theirs._alias_event_name(name), name
    for name in sorted(names):  # and again from the cache
        assert ours._alias_event_name(name) == theirs._alias_event_name(name), name


class _CountingAliases(dict):
    walked = 0

    def items(self):
        _CountingAliases.walked += 1
        return super().items()


def test_botocores_loop_runs_only_over_the_aliases_that_can_change_the_name(monkeypatch):
    aliases = _CountingAliases(EVENT_ALIASES)
    ours = aws.KnownAliases(HierarchicalEmitter(), aliases)
    for name in ("before-call.dynamodb.TransactWriteItems", "needs-retry.sqs.ReceiveMessage",
                 "creating-client-class.dynamodb", "before-send.sns.Publish"):
        assert ours._alias_event_name(name) == name
    assert _CountingAliases.walked == 0  # no alias can change them: answered without botocore's loop
    given: list[dict] = []

    class Recording(EventAliaser):
        def __init__(self, emitter, event_aliases=None):
            given.append(event_aliases)
            super().__init__(emitter, event_aliases)

    monkeypatch.setattr(aws, "EventAliaser", Recording)
    assert ours._alias_event_name("before-call.apigateway.GetRestApis") == "before-call.api-gateway.GetRestApis"
    assert ours._alias_event_name("before-call.secretsmanager.GetSecretValue") == \
        "before-call.secrets-manager.GetSecretValue"
    assert given == [{"apigateway": "api-gateway"}, {"secretsmanager": "secrets-manager"}]  # botocore's loop: 1 alias


def test_the_session_and_its_clients_use_known_aliases_and_register_botocores_handlers():
    # As on Lambda, where observability loads Powertools: its import registers a botocore session initializer that
    # gives every new session its own user-agent closure (whether an earlier test in this worker imported it or not)
    import aws_lambda_powertools  # noqa: F401

    ours, stock = aws.new_session(), botocore.session.get_session()
    emitter = ours.get_component("event_emitter")
    assert type(emitter) is aws.KnownAliases and ours._events is emitter  # noqa: SLF001
    client = ours.create_client("dynamodb", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    assert type(client.meta.events) is aws.KnownAliases
    stock_registry, our_registry = stock._original_handler._handlers, ours._original_handler._handlers  # noqa: SLF001
    names = _names_a_session_uses()
    for name in sorted(names):
        assert _handlers(our_registry, name) == _handlers(stock_registry, name), name


def _handlers(registry, name: str) -> list:
    """The handlers for ``name`` in order, each as its function (a closure made per session, as Powertools
    registers one on every session once it is imported, is compared by where it was written)."""
    out = []
    for handler in registry.prefix_search(name):
        function = getattr(handler, "__func__", handler)
        closure = getattr(function, "__closure__", None)
        out.append((function.__module__, function.__qualname__) if closure else handler)
    return out


def _credentials(session):
    c = session.get_credentials()
    return (type(c), c.method, c.access_key, c.secret_key, c.token) if c is not None else None


def test_credentials_from_the_environment_are_botocores_without_building_the_rest_of_its_chain(monkeypatch):
    import botocore.credentials

    for env in ({"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token"},
                {"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "secret",
                 "AWS_CREDENTIAL_EXPIRATION": "2099-01-01T00:00:00Z"}):
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        monkeypatch.delenv("AWS_CREDENTIAL_EXPIRATION", raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        stock = _credentials(botocore.session.get_session())
        assert stock is not None and stock[1] == "env"
        real = botocore.credentials.create_credential_resolver
        monkeypatch.setattr(botocore.credentials, "create_credential_resolver",
                            lambda *a, **k: pytest.fail("the default chain was built"))
        assert _credentials(aws.new_session()) == stock
        monkeypatch.setattr(botocore.credentials, "create_credential_resolver", real)


def test_without_credentials_in_the_environment_the_session_keeps_botocores_default_chain(monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    resolver = aws.new_session().get_component("credential_provider")
    names = [p.METHOD for p in resolver.providers]
    assert names == [p.METHOD for p in botocore.session.get_session().get_component("credential_provider").providers]
    assert names[0] == "env" and "container-role" in names and "iam-role" in names


def test_botocores_builtin_handlers_all_take_kwargs_so_the_session_does_not_check_them_again():
    from botocore.compat import accepts_kwargs
    from botocore.handlers import BUILTIN_HANDLERS

    assert BUILTIN_HANDLERS and all(accepts_kwargs(spec[1]) for spec in BUILTIN_HANDLERS)
    checked: list = []
    registry = aws._Handlers()
    real = HierarchicalEmitter._verify_accept_kwargs

    def spy(self, func):
        checked.append(func)
        return real(self, func)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(HierarchicalEmitter, "_verify_accept_kwargs", spy)
        for spec in BUILTIN_HANDLERS:
            registry.register(spec[0], spec[1])

        def handler(**kwargs):
            return None

        registry.register("before-call.dynamodb", handler)
        with pytest.raises(ValueError, match="must accept keyword arguments"):
            registry.register("before-call.dynamodb", lambda request: None)  # still refused, as botocore refuses it
    assert len(checked) == 2 and checked[0] is handler
    assert type(aws.new_session()._original_handler) is aws._Handlers  # noqa: SLF001
