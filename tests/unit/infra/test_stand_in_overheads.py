"""Per-request and per-provision overheads of the local stand-in that every functional test pays (session 7,
suitespeed): provisioning reuses its botocore clients, and moto's dispatcher lists its package once."""
from __future__ import annotations

import os

import botocore.session
import moto
import moto.backends

from infra.local import stack


def test_provisioning_again_creates_no_botocore_session(monkeypatch):
    server = stack.MotoServer(port=0).start()
    try:
        stack.provision(server.url, "speed-a", "us-east-1")
        made = []
        real_init = botocore.session.Session.__init__

        def counting_init(self, *args, **kwargs):
            made.append(1)
            real_init(self, *args, **kwargs)

        monkeypatch.setattr(botocore.session.Session, "__init__", counting_init)
        server.reset()
        out = stack.provision(server.url, "speed-a", "us-east-1")
        assert made == []  # the second provision reused the first one's clients
        # ... and still created everything, on the same endpoint
        assert "arn:EventsTopic" in out and "streamarn:RegistrationsTable" in out
        ddb = stack._client("dynamodb", server.url, "us-east-1")
        assert "speed-a-registrations" in ddb.list_tables()["TableNames"]
    finally:
        server.stop()


def test_moto_lists_its_package_once_and_answers_what_the_directory_holds(monkeypatch):
    server = stack.MotoServer(port=0).start()  # installs the patch
    try:
        path = os.path.dirname(moto.__file__)
        expected = sorted(n for n in os.listdir(path) if os.path.isdir(os.path.join(path, n)) and not n.startswith("__"))
        assert list(moto.backends.list_of_moto_modules()) == expected
        assert {"dynamodb", "sqs", "sns", "secretsmanager"} <= set(expected)

        ddb = stack._client("dynamodb", server.url, "us-east-1")
        real_listdir = os.listdir

        def no_listing(where=None):
            if where is not None and os.path.abspath(where) == os.path.abspath(path):
                raise AssertionError("moto listed its package directory during a request")
            return real_listdir(where) if where is not None else real_listdir()

        monkeypatch.setattr(os, "listdir", no_listing)
        assert isinstance(ddb.list_tables()["TableNames"], list)  # dispatched without listing
    finally:
        server.stop()


def test_another_moto_leaves_the_listing_alone(monkeypatch):
    original = moto.backends.list_of_moto_modules
    monkeypatch.setattr(moto.backends, "list_of_moto_modules", lambda: iter(("x",)))
    monkeypatch.setattr(moto, "__version__", "5.3.0")
    assert stack._list_moto_modules_once() is False
    assert list(moto.backends.list_of_moto_modules()) == ["x"]
    monkeypatch.setattr(moto.backends, "list_of_moto_modules", original)
