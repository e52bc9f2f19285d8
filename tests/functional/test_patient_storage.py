"""The race tests' ``patient_storage`` fixture (tests/conftest.py) reaches the DynamoDB client the app really uses.

Session 9 found the 50- and 100-claim races answering 503 to every loser under load: their fixture raised
``models._Meta.read_timeout_seconds``, which stopped reaching any client once every model and transaction shared
one (issue 15: ``store.models._CLIENT_CONFIG``), so the racers at the back of the stand-in's queue still gave up
after 5 s. These checks fail if the fixture stops reaching that client, or outlives its test.
"""
from __future__ import annotations

from tests.conftest import PATIENT_READ_TIMEOUT


def _read_timeouts() -> set[float]:
    from chalicelib.store import models

    clients = [models.connection().client] + [m._get_connection().connection.client
                                              for m in (models.RegistrationItem, models.HolderItem, models.UserItem)]
    return {c.meta.config.read_timeout for c in clients}


def test_patient_storage_reaches_the_client_every_model_and_transaction_uses(suite, patient_storage):
    assert _read_timeouts() == {PATIENT_READ_TIMEOUT}


def test_without_it_the_app_keeps_the_production_timeout(suite):
    from chalicelib.store import models

    assert _read_timeouts() == {models._Meta.read_timeout_seconds} == {5}

