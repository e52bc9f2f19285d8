"""Chinese enterprise-information providers (工商信息): one mapping, one small class per provider.

``mapping.py`` holds everything provider-independent (status words, the field map, record building);
``connector.py`` the shared connector base and the providers. Adding a provider is a ``FieldMap`` plus
a class with its URLs and authentication.
"""
from __future__ import annotations
