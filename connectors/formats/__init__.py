"""Reusable format parsers: RSS/Atom, OCDS, TED (TED_EXPORT and eForms), HTML with declarative selectors.

Each module turns bytes into ``schemas.tender.Tender`` records (or ``RecordRejectedError`` per bad entry)
and does no I/O. ``sanitize`` cleans any HTML that ends up in ``Tender.text``; ``xmlsafe`` parses XML
with entity declarations refused (entity bombs, external entities).
"""

from __future__ import annotations
