"""Services: the orchestration between the handlers (and the operator CLI, the benchmarks) and the store/domain.

A service reads and writes through ``chalicelib.store``, decides with ``chalicelib.domain`` and talks to the
outside (channels, registries, feeds) through ``connectors``; it never imports a handler. Handlers parse, call
one service or domain function and answer (the import-linter contract in ``pyproject.toml`` keeps it so).
"""
