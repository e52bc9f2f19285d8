"""Public contracts of dealreg: pydantic v2 models shared by connectors, functions and partners.

JSON Schema for each public payload is generated into ``schemas/json/`` and the HTTP API's OpenAPI
document into ``schemas/openapi.json`` (``make schemas``); tests fail when the files drift.
"""
