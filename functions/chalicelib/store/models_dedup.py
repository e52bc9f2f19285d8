"""The dedup tables' models (issue 3), made at their first use through ``chalicelib.store.models`` (see its
``_ELSEWHERE``): only the dedup functions and ``POST /v1/duplicates/check`` read them."""
from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from chalicelib.store.models import _Meta, _Model


class DedupIndexItem(_Model):
    """The dedup blocking index (issue 3; see chalicelib.domain.dedup_match and chalicelib.store.dedup).

    One table keyed ``(pk, sk)``, three kinds of item, so every read is a key lookup or a Query of one
    partition of the base table (no GSI: a GSI would cost a second write per posting):

    - a head ``pk = "<blocking key>"``, ``sk = "#"`` with ``n``, the key's frequency mark
      (``dedup_match.count_mark``), and the posting of the first customer that carried the key (``ref`` =
      its customer key, ``name``, ``core``, ``keys``);
    - a posting ``pk = "<blocking key>"``, ``sk = "<customer key>"`` with the customer's ``name`` and exact
      ``keys`` (so a check scores without more reads); a posting list is one partition, head first;
    - a marker ``pk = "#doc|<customer key>|<name key>"``, ``sk = "#"``: this customer name is indexed.

    (Before issue 15 item 5, a counter ``pk = "#n|<blocking key>"`` took the head's place: see
    ``store.dedup.migrate_counters``.)
    """

    class Meta(_Meta):
        table_name = "dedup_index"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute(null=True)
    core = UnicodeAttribute(null=True)  # the name's compact comparison form (ranking ties, no re-normalising)
    keys = JSONAttribute(null=True)
    n = NumberAttribute(null=True)
    ref = UnicodeAttribute(null=True)  # a head's own posting: the customer key
    created_at = UTCDateTimeAttribute(null=True)


class DedupVerdictItem(_Model):
    """The dedup handler's verdict on one registration (issue 3), written once."""

    class Meta(_Meta):
        table_name = "dedup_verdicts"

    registration_id = UnicodeAttribute(hash_key=True)
    outcome = UnicodeAttribute()
    verdict = JSONAttribute()  # schemas.dedup.DedupVerdict, as JSON
    computed_at = UTCDateTimeAttribute()
