"""chalicelib.store.models.bind() and the PynamoDB internals it relies on (issue 17 item 11).

bind() points every model at the stage's tables and endpoint by setting ``Meta`` and dropping PynamoDB's
cached per-model connection (``Model._connection``, a private attribute of pynamodb 6.1.0, pinned in
pyproject). PynamoDB itself only rebuilds that cache when the table *name* changes, so a moved endpoint
(another moto port, a test's stand-in) would be ignored without the reset. These tests fail if PynamoDB
renames or stops honouring the attribute, which is the moment to revisit bind().
"""
from __future__ import annotations

import pynamodb
import pytest

from chalicelib import settings as settings_mod
from chalicelib.store import models


@pytest.fixture
def restore_binding():
    yield
    models.bind()  # back to the process's own settings


def _settings(prefix: str, endpoint: str) -> settings_mod.Settings:
    base = settings_mod.from_env({"DEALREG_PREFIX": prefix, "AWS_REGION": "eu-west-1"})
    return base._replace(endpoint_url=endpoint)


def test_the_pinned_pynamodb_is_the_one_bind_was_checked_against():
    assert pynamodb.__version__ == "6.1.0"


def test_a_moved_endpoint_with_the_same_table_names_gets_a_new_connection(restore_binding):
    models.bind(_settings("dealreg-bindtest", "http://127.0.0.1:1"))
    first = models.RegistrationItem._get_connection()
    assert first.table_name == "dealreg-bindtest-registrations" and first.connection.host == "http://127.0.0.1:1"
    models.bind(_settings("dealreg-bindtest", "http://127.0.0.1:2"))
    again = models.RegistrationItem._get_connection()
    assert again.table_name == "dealreg-bindtest-registrations"
    assert again.connection.host == "http://127.0.0.1:2" and again.connection.region == "eu-west-1"


def test_every_model_follows_the_prefix(restore_binding):
    models.bind(_settings("dealreg-other", "http://127.0.0.1:3"))
    for model, logical in models.every_model().items():
        conn = model._get_connection()
        assert conn.table_name == f"dealreg-other-{logical}" and conn.connection.host == "http://127.0.0.1:3"



def _probe_model():
    from pynamodb.attributes import UnicodeAttribute

    class Probe(models._Model):
        class Meta(models._Meta):
            table_name = "tenders"

        key = UnicodeAttribute(hash_key=True)

    return Probe


def test_a_model_made_at_first_use_is_bound_like_the_others(restore_binding, monkeypatch):
    """The models in models_dedup / models_rest are made at first use: bound to what the others are bound to."""
    made = []
    try:
        models.bind(_settings("dealreg-lazy", "http://127.0.0.1:4"))
        made.append(_probe_model())
        conn = made[-1]._get_connection()
        assert conn.table_name == "dealreg-lazy-tenders" and conn.connection.host == "http://127.0.0.1:4"
        # the environment changing without a bind(): a new model follows the others, not the environment
        monkeypatch.setenv("DEALREG_PREFIX", "dealreg-moved")
        settings_mod.reset()
        made.append(_probe_model())
        assert made[-1]._get_connection().table_name == "dealreg-lazy-tenders"
        assert models.RegistrationItem._get_connection().table_name == "dealreg-lazy-registrations"
    finally:
        for cls in made:
            models._TABLES.pop(cls, None)
        monkeypatch.undo()
        settings_mod.reset()
