"""The create transaction's operations, serialised once by the store, are exactly what PynamoDB rendered for
main's models, conditions and actions (issue 15 item 2), for every shape a create takes: with and without an
idempotency key / external_ref, customer keys free or held, a rep or a partner, a customer with few or all facts,
a pending cap or none. No network: the transaction is captured where PynamoDB hands it to botocore.

The reference below is main's code (c569897) rendered by PynamoDB and never sent."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pynamodb.transactions import TransactWrite

from chalicelib.domain.ownership import PENDING
from chalicelib.domain.registration import new_registration
from chalicelib.store import holders, models, registrations, status_index
from chalicelib.store.models import AuditEntryMap, ClaimItem, CustomerItem, HolderItem, RegistrationItem
from schemas.common import Actor
from schemas.registration import AuditEntry, RegistrationCreate, RegistrationStatus, Source

EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "examples" / "opportunity.json").read_text())["data"]
NOW = datetime(2026, 12, 6, 10, 0, 0, 123456, tzinfo=UTC)
TTL = timedelta(days=7)


def _main_to_item(reg) -> RegistrationItem:
    payload = reg.model_dump(mode="json", include=set(RegistrationCreate.model_fields))
    return RegistrationItem(
        reg.id,
        status=reg.status.value, status_shard=status_index.shard_key(reg.status.value, reg.id),
        source=reg.source.value, submitter_kind=reg.submitter.kind.value,
        submitter_id=reg.submitter.id, partner_id=reg.partner_id, owner_id=reg.owner_id, team_id=reg.team_id,
        customer_key=reg.customer_key, customer_name=reg.customer.name, project_title=reg.project.title,
        expected_amount=str(reg.project.expected_amount.amount), currency=reg.project.expected_amount.currency,
        external_ref=reg.external_ref, data=payload,
        audit=[AuditEntryMap.from_entry(a) for a in reg.audit], created_at=reg.created_at, updated_at=reg.updated_at,
    )


def _main_customer_upsert(reg) -> list:
    customer = reg.customer
    return [
        CustomerItem.name.set(CustomerItem.name | customer.name),
        CustomerItem.created_at.set(CustomerItem.created_at | NOW),
        CustomerItem.updated_at.set(NOW),
        CustomerItem.registration_count.add(1),
        *([CustomerItem.registry_ids.set([r.model_dump(mode="json") for r in customer.registry_ids])]
          if customer.registry_ids else []),
        *([CustomerItem.website.set(customer.website)] if customer.website else []),
        *([CustomerItem.country.set(customer.country)] if customer.country else []),
        *([CustomerItem.region.set(customer.region)] if customer.region else []),
        *([CustomerItem.industry.set(customer.industry)] if customer.industry else []),
    ]


def _main_count_pending(tx, submitter, delta, cap) -> None:
    key = holders.submitter_counter(submitter)
    if key is None or delta == 0:
        return
    guarded = delta > 0 and cap > 0
    tx.update(HolderItem(key), actions=[HolderItem.pending.add(delta), HolderItem.updated_at.set(NOW)],
              condition=(HolderItem.pending.does_not_exist() | (HolderItem.pending < cap)) if guarded else None)


def _as_pynamodb_rendered_it(reg, *, idempotency_key, fingerprint, held, duplicate_of, cap) -> dict:
    tx = TransactWrite(connection=models.connection(), client_request_token="t")
    item = _main_to_item(reg)
    item.first_claim = duplicate_of is None
    item.duplicate_of = duplicate_of
    tx.save(item, condition=RegistrationItem.id.does_not_exist())
    tx.update(CustomerItem(reg.customer_key), actions=_main_customer_upsert(reg))
    answer = {"id": reg.id, "status": reg.status.value}
    live = ClaimItem.key.does_not_exist() | (ClaimItem.expires_at < NOW)
    if idempotency_key:
        tx.save(ClaimItem(idempotency_key, registration_id=reg.id, response=answer, fingerprint=fingerprint,
                          created_at=NOW, expires_at=NOW + TTL), condition=live)
    if reg.external_ref:
        tx.save(ClaimItem(f"extref#{reg.submitter.id}#{reg.external_ref}", registration_id=reg.id,
                          response=answer, created_at=NOW), condition=live)
    for key in registrations.customer_claim_keys(reg):
        if key not in held:
            tx.save(ClaimItem(key, registration_id=reg.id, created_at=NOW), condition=ClaimItem.key.does_not_exist())
    _main_count_pending(tx, reg.submitter, 1 if reg.status in PENDING else 0, cap)
    return {"put_items": tx._put_items, "update_items": tx._update_items}


def _cases():
    partner, rep = Actor(kind="partner", id="acme"), Actor(kind="user", id="wang")
    yield "partner webhook", EXAMPLE, partner, "webhook#acme#msg_1", "f" * 64, False, 20
    yield "customer keys held", EXAMPLE, partner, "webhook#acme#msg_2", "e" * 64, True, 20
    yield "rep, no key, no external_ref, no cap", {**EXAMPLE, "external_ref": None}, rep, None, None, False, 0
    yield "name only", {**EXAMPLE, "customer": {"name": "Acme GmbH"}}, Actor(kind="user", id="li"), "idem#li#k1", \
        "d" * 64, False, 20
    yield "some facts", {**EXAMPLE, "customer": {"name": "Acme GmbH", "country": "DE", "industry": "Software",
                                                 "address": "Berlin"}}, rep, None, None, False, 5
    yield "a system submitter (no counter)", EXAMPLE, Actor(kind="system", id="tenders"), None, None, False, 20


@pytest.mark.parametrize(("label", "body", "submitter", "key", "fingerprint", "keys_held", "cap"), list(_cases()))
def test_the_operations_are_what_pynamodb_rendered(label, body, submitter, key, fingerprint, keys_held, cap,
                                                   monkeypatch):
    reg = new_registration(RegistrationCreate.model_validate(body), reg_id="reg_0194f0c5a1b2c3d4", now=NOW,
                           source=Source.PARTNER if submitter.kind == "partner" else Source.REP, submitter=submitter,
                           partner_id="acme" if submitter.kind == "partner" else None, team_id="t1")
    held = {k: "reg_earlier" for k in registrations.customer_claim_keys(reg)} if keys_held else {}
    sent: list[dict] = []
    monkeypatch.setattr(registrations, "held_claims", lambda keys, reg_id: dict(held))
    monkeypatch.setattr(models.connection(), "transact_write_items", lambda **kw: sent.append(kw) or {})
    monkeypatch.setattr(registrations, "_pending_cap", lambda: cap)
    rendered: list[object] = []  # operations rendered through PynamoDB's model machinery while creating
    save, update = TransactWrite.save, TransactWrite.update
    monkeypatch.setattr(TransactWrite, "save", lambda self, m, *a, **k: rendered.append(m) or save(self, m, *a, **k))
    monkeypatch.setattr(TransactWrite, "update", lambda self, m, *a, **k: rendered.append(m) or update(self, m, *a, **k))
    outcome = registrations.create(reg, now=NOW, idempotency_key=key, idempotency_ttl=TTL, fingerprint=fingerprint)
    assert rendered == []  # each operation serialised once by the store, not through model instances
    assert outcome.created and outcome.first_claim is (not keys_held)
    (call,) = sent
    want = _as_pynamodb_rendered_it(reg, idempotency_key=key, fingerprint=fingerprint, held=held,
                                    duplicate_of="reg_earlier" if keys_held else None, cap=cap)
    assert call["put_items"] == want["put_items"], label
    assert call["update_items"] == want["update_items"], label
    assert call["condition_check_items"] == [] and call["delete_items"] == []
    assert call["client_request_token"] == registrations.request_token("create", reg.id, 0)


def _registrations():
    base = new_registration(RegistrationCreate.model_validate(EXAMPLE), reg_id="reg_1", source=Source.PARTNER,
                            submitter=Actor(kind="partner", id="acme"), now=NOW, partner_id="acme")
    yield base
    decided = AuditEntry(seq=2, at=NOW + timedelta(hours=1), actor=Actor(kind="user", id="boss"), action="rejected",
                         from_status=RegistrationStatus.SUBMITTED, to_status=RegistrationStatus.REJECTED,
                         reason="已有报备 / held", evidence="holder reg_0", shared=True)
    yield base.model_copy(update={"owner": Actor(kind="user", id="wang"), "team_id": "t1", "external_ref": None,
                                  "status": RegistrationStatus.APPROVED, "audit": [*base.audit, decided],
                                  "updated_at": NOW + timedelta(days=1)})
    escalated = AuditEntry(seq=3, at=NOW + timedelta(hours=2), actor=Actor(kind="user", id="boss"), action="escalated",
                           reason="big deal", level=2)
    closed = AuditEntry(seq=4, at=NOW + timedelta(days=2), actor=Actor(kind="user", id="wang"), action="closed_won",
                        from_status=RegistrationStatus.APPROVED, to_status=RegistrationStatus.WON, stage="negotiation")
    yield base.model_copy(update={"audit": [*base.audit, escalated, closed], "status": RegistrationStatus.WON})
    note = AuditEntry(seq=3, at=NOW, actor=Actor(kind="system", id="sla"), action="noted", shared=False)
    yield base.model_copy(update={"audit": [note], "partner_id": None})


@pytest.mark.parametrize("reg", list(_registrations()))
def test_the_stored_item_is_what_pynamodb_serialised(reg):
    assert registrations.item_attributes(reg) == _main_to_item(reg).serialize(null_check=True)
    assert registrations.to_item(reg).serialize(null_check=True) == _main_to_item(reg).serialize(null_check=True)


@pytest.mark.parametrize("submitter", [Actor(kind="partner", id="acme"), Actor(kind="user", id="wang"),
                                       Actor(kind="system", id="tenders")])
@pytest.mark.parametrize(("delta", "cap"), [(1, 20), (1, 0), (-1, 20), (-1, 0), (0, 20), (2, 3)])
def test_the_pending_counter_update_is_what_pynamodb_rendered(submitter, delta, cap):
    want = TransactWrite(connection=models.connection())
    _main_count_pending(want, submitter, delta, cap)
    got = models.Transaction(connection=models.connection())
    holders.count_pending(got, submitter, delta, now=NOW, cap=cap)
    assert got._update_items == want._update_items
