"""The web console (issue 18): server-rendered pages over the same API, for partners, reps and managers.

- ``routes``   the Chalice blueprint (``/console/...``): parse the form, call the API, render a template.
- ``session``  login with an API key -> a short-lived session key in a signed HttpOnly cookie; CSRF tokens.
- ``apicall``  every read and action is an in-process call of the API route itself, authenticated with the
               session key (``Authorization: Bearer``), so the console has no access rules of its own.
- ``forms``    form fields <-> API bodies; the API's error ``loc`` back to the field it names.
- ``i18n``     zh-CN and en messages.
"""
