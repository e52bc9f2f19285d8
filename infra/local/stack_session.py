"""Bring the whole suite up in-process: moto server, resources, settings, the Chalice app, the runner.

``dealreg local`` and the functional tests start the suite through :func:`start`, so what the tests
exercise is what ``make run`` serves.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.local.runner import EventRunner
from infra.local.stack import MotoServer, local_environment, provision


def import_app() -> Any:
    """Import the Chalice app the way Lambda does (``infra`` put ``functions/`` on the path).

    The handlers' decorators read settings (queue names, the stream ARN) at import time, as in Lambda. If
    the app was imported under another configuration (e.g. a contract test before the stand-in existed), or
    by a plain ``import app`` (a unit test reading the routes), whose configuration is not recorded, the app
    module and its handler modules are imported afresh so its event sources match this one.
    """
    import sys

    from chalicelib import settings

    current = settings.get()
    built_for = (current.prefix, current.region, current.registrations_stream_arn)
    module = sys.modules.get("app")
    if module is not None and getattr(module, "_dealreg_built_for", None) != built_for:
        import chalicelib.console as console
        import chalicelib.handlers as handlers

        # Blueprint modules (handlers, the console's routes) are imported afresh with the app.
        packages = {"chalicelib.handlers.": handlers, "chalicelib.console.": console}
        for name in [n for n in sys.modules if n == "app" or n.startswith(tuple(packages))]:
            del sys.modules[name]
            # ``from chalicelib.handlers import x`` takes the package attribute first: drop it too.
            package = next((p for prefix, p in packages.items() if name.startswith(prefix)), None)
            if package is not None and hasattr(package, name.rsplit(".", 1)[1]):
                delattr(package, name.rsplit(".", 1)[1])
    import app as app_module

    app_module._dealreg_built_for = built_for  # type: ignore[attr-defined]
    return app_module.app


@dataclass
class LocalSuite:
    moto: MotoServer
    prefix: str
    region: str
    env: dict[str, str]
    app: Any
    runner: EventRunner
    journal: Any = None  # infra.local.persist.Journal when started with a state directory

    def client(self, service: str) -> Any:
        from chalicelib.store import aws

        return aws.client(service)


def configure_process(env: dict[str, str]) -> None:
    """Point this process's settings, models and clients at ``env`` (the stand-in's endpoint)."""
    os.environ.update(env)
    from chalicelib import settings
    from chalicelib.store import aws, directory, models

    settings.reset()
    models.bind()
    aws.forget_clients()
    aws.forget_secrets()
    directory.forget_partners()


def start(*, moto_port: int = 0, prefix: str = "dealreg-local", region: str = "us-east-1",
          snapshot: Path | None = None, state_dir: Path | None = None) -> LocalSuite:
    """Start moto, create the resources, restore the saved state, import the app, build the runner.

    With ``state_dir`` (``make run``) the state is recovered from its snapshot and journals and every later
    write is journalled there (``infra.local.persist``); ``snapshot`` restores a single snapshot file instead.
    """
    from infra.local.stack import _client, load_snapshot

    moto = MotoServer(port=moto_port).start()
    provisioned = provision(moto.url, prefix, region)
    env = local_environment(moto.url, prefix, region, provisioned)
    journal = None
    if state_dir is not None:
        from infra.local import persist

        backends = lambda: moto.backends(region)  # noqa: E731
        number, _ = persist.recover(state_dir, backends, _client("secretsmanager", moto.url, region))
        journal = persist.Journal(state_dir, backends, number=number, prefix=prefix)
        moto.app.after_write = journal.record
        journal.record_secrets()  # the restored and the freshly generated ones, after anything older
        journal.start()
    elif snapshot is not None and snapshot.exists():
        load_snapshot(moto.url, region, snapshot)
    configure_process(env)
    app = import_app()
    from chalicelib import clock
    from chalicelib.store import aws

    # The runner reads streams from LATEST, so restored items do not re-trigger handlers.
    runner = EventRunner(app, client=aws.client, region=region, now=clock.now,
                         stream_failure_queue=f"{prefix}-stream-failures-dlq")
    return LocalSuite(moto=moto, prefix=prefix, region=region, env=env, app=app, runner=runner, journal=journal)
