"""botocore clients, reached through the one endpoint setting, all made from one botocore session.

botocore directly (not boto3): PynamoDB already loads it, so this adds nothing to a cold start. A new botocore
session loads the endpoint and service data again (55-170 ms CPU each), a client from a session that already
did costs 3-4 ms: so every client here, and the DynamoDB client PynamoDB's models and transactions use
(:func:`dynamodb`, installed by ``store.models``), come from :func:`session` (issue 15).

That session reads botocore's data files (endpoints, partitions, the service models and endpoint rules of the
clients it makes) through :class:`PackagedDataFiles`: in the deployment zip each has a pickled copy that
``make package`` wrote beside it (``infra.package.botocore_pickle``: the very objects botocore's JSON loader would
parse), ~5x cheaper to load than the JSON on a cold start; elsewhere (tests, ``make run``) there is none and the
JSON is read as before.

Its event names go through :class:`KnownAliases`: botocore maps old service names in every event name it registers
or emits to new ones by trying each of its 65 aliases in turn (a miss raises and catches a ``ValueError``), ~0.3 M
instructions for each new name; here botocore's loop runs only over the aliases that can change the name (none, for
nearly every name).
"""
from __future__ import annotations

import json
import os
import pickle
import threading
import time
from typing import Any

import botocore
import botocore.session
from botocore.config import Config
from botocore.credentials import CredentialResolver, EnvProvider
from botocore.handlers import BUILTIN_HANDLERS
from botocore.hooks import EventAliaser, HierarchicalEmitter
from botocore.loaders import JSONFileLoader, create_loader

from chalicelib import settings as settings_mod

_lock = threading.RLock()
_session: botocore.session.Session | None = None
_clients: dict[tuple[Any, ...], Any] = {}
_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"})
PICKLED_SUFFIX = ".pickle"  # infra.package.PICKLED_SUFFIX (a test keeps them equal)
# Pickles are read only from botocore's own data folder (the package's, written by make package), never from other
# search paths (AWS_DATA_PATH, ~/.aws/models)
BOTOCORE_DATA = os.path.join(os.path.dirname(botocore.__file__), "data") + os.sep


class PackagedDataFiles(JSONFileLoader):
    """botocore's file loader (the ``file_loader`` of its ``Loader``), reading a data file's pickled copy when the
    package has one (written by ``make package`` from that very JSON; code of ours, as trusted as the pycs
    beside it), else the JSON as botocore does. Search paths, their order, caching and the merging of
    ``sdk-extras`` stay botocore's own."""

    def __init__(self, root: str = BOTOCORE_DATA) -> None:
        self.root = root  # the only folder pickles are read from

    def exists(self, file_path: str) -> bool:
        return (file_path.startswith(self.root) and os.path.isfile(file_path + PICKLED_SUFFIX)) \
            or super().exists(file_path)

    def load_file(self, file_path: str) -> Any:
        if not file_path.startswith(self.root):  # AWS_DATA_PATH, ~/.aws/models: JSON only, never a pickle
            return super().load_file(file_path)
        try:
            with open(file_path + PICKLED_SUFFIX, "rb") as f:
                return pickle.load(f)
        except FileNotFoundError:
            return super().load_file(file_path)


class KnownAliases(EventAliaser):
    """botocore's event aliaser, without its cost for a new event name.

    botocore's ``_alias_event_name`` tries its aliases in order and uses the first that is a dot-separated part of
    the name (an alias without a dot) or a substring of it (an alias with one); trying one that is not a part
    raises and catches a ``ValueError``. Here the aliases that pass those two tests are picked first (none, for
    nearly every name: the name stays as it is) and botocore's own method runs over just those, in their order —
    the same first alias, so the same answer. A client's emitter is a copy of the session's (``__copy__`` makes
    ``self.__class__``), so it answers the same way (tests/unit/store/test_aws_session.py compares both with
    botocore's on every name a session uses)."""

    def __init__(self, event_emitter: Any, event_aliases: dict[str, str] | None = None) -> None:
        super().__init__(event_emitter, event_aliases)
        self._plain = frozenset(k for k in self._event_aliases if "." not in k)
        self._dotted = tuple(k for k in self._event_aliases if "." in k)

    def _alias_event_name(self, event_name: str) -> str:
        cache = self._alias_name_cache
        if event_name not in cache:
            parts = event_name.split(".")
            if self._plain.isdisjoint(parts) and not any(alias in event_name for alias in self._dotted):
                cache[event_name] = event_name
            else:
                found = {old: new for old, new in self._event_aliases.items()
                         if (old in event_name if "." in old else old in parts)}
                cache[event_name] = EventAliaser(self._emitter, found)._alias_event_name(event_name)
        return cache[event_name]


# botocore's own handlers, which its session registers in every process: each is checked to take ``**kwargs``
# (``inspect.getfullargspec``, ~9 M instructions of a cold start for the ~130); they all do
# (tests/unit/store/test_aws_session.py), so that check is not made again for them.
_BUILTIN = frozenset(id(spec[1]) for spec in BUILTIN_HANDLERS)


class _Handlers(HierarchicalEmitter):
    """botocore's handler registry; checks every handler but botocore's built-in ones as botocore does."""

    def _verify_accept_kwargs(self, func: Any) -> None:
        if id(func) not in _BUILTIN:
            super()._verify_accept_kwargs(func)


class _Session(botocore.session.Session):
    """A botocore session whose handler registry is a :class:`_Handlers` and whose event emitter (the one its clients
    copy) is a :class:`KnownAliases`."""

    def __init__(self) -> None:
        super().__init__(event_hooks=_Handlers())

    def _register_builtin_handlers(self, events: Any) -> None:
        # Session.__init__ calls this right after making its EventAliaser over the handler registry, before
        # anything else reads it (the "event_emitter" component is registered after): the same place, ours.
        self._events = KnownAliases(self._original_handler)
        super()._register_builtin_handlers(self._events)


def new_session() -> botocore.session.Session:
    """A botocore session whose data loader is botocore's own (same search paths, from the same ``data_path``
    setting) with :class:`PackagedDataFiles` as its file loader, and whose event names go through
    :class:`KnownAliases`.

    When the environment holds credentials (Lambda puts the function's role there), they are the session's
    credentials, as in botocore's default chain, whose first provider is the environment: the rest of the chain
    is then not built (its container and instance-metadata providers each make an HTTP session with an SSL
    context: ~9 M instructions of a cold start for providers never asked)."""
    s = _Session()
    if os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"):
        s.register_component("credential_provider", CredentialResolver(providers=[EnvProvider()]))
    loader = create_loader(s.get_config_variable("data_path"))
    loader.file_loader = PackagedDataFiles()
    s.register_component("data_loader", loader)
    return s


def session() -> botocore.session.Session:
    """The process's one botocore session (its loaded data is what makes later clients cheap)."""
    global _session
    with _lock:
        if _session is None:
            _session = new_session()
        return _session


def client(service: str) -> Any:
    s = settings_mod.get()
    key = (service, s.endpoint_url, s.region)
    with _lock:  # a botocore session is not thread-safe; its clients are
        if key not in _clients:
            _clients[key] = session().create_client(service, region_name=s.region, endpoint_url=s.endpoint_url,
                                                    config=_CONFIG)
        return _clients[key]


def dynamodb(region: str, endpoint_url: str | None, config: Config) -> Any:
    """The DynamoDB client for PynamoDB (its own ``config``: no parameter validation, its timeouts and retries),
    one per region, endpoint and config, shared by every model and the transactions."""
    key = ("dynamodb/pynamodb", endpoint_url, region, tuple(sorted(config._user_provided_options.items(),
                                                                   key=lambda kv: kv[0])).__repr__())
    with _lock:
        if key not in _clients:
            _clients[key] = session().create_client("dynamodb", region_name=region, endpoint_url=endpoint_url,
                                                    config=config)
        return _clients[key]


def forget_clients() -> None:
    """Drop cached clients (the endpoint changed: tests, the local runner)."""
    with _lock:
        _clients.clear()


_secret_lock = threading.Lock()
_secrets: dict[str, tuple[float, Any]] = {}


def secret_json(name: str) -> Any | None:
    """The JSON value of a Secrets Manager secret, or None when it does not exist.

    Cached per warm process for ``secret_cache_seconds``, so a burst of webhooks or deliveries costs one
    call; writers of a secret call :func:`forget_secrets`. Partner signing secrets survive a briefly stale
    cache because a rotation keeps the previous secret beside the new one.
    """
    now = time.monotonic()
    with _secret_lock:
        hit = _secrets.get(name)
    if hit is not None and now - hit[0] < settings_mod.get().secret_cache_seconds:
        return hit[1]
    sm = client("secretsmanager")
    try:
        value = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])
    except sm.exceptions.ResourceNotFoundException:
        value = None
    with _secret_lock:
        _secrets[name] = (now, value)
    return value


def forget_secrets() -> None:
    """Drop cached secret values (a secret was written, or the endpoint changed)."""
    with _secret_lock:
        _secrets.clear()

