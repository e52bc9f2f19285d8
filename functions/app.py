"""dealreg: one Chalice app; each blueprint module is one trigger (see docs/ARCHITECTURE.md)."""
from __future__ import annotations

import os

from chalicelib import precompiled

precompiled.seed()  # first: the imports below compile regexes and generated source (recorded by make package)

from chalicelib import observability  # noqa: E402

observability.prepare_cold_start()  # before the imports below (they are most of a cold start's heap)

from chalice import Chalice  # noqa: E402

from chalicelib import http  # noqa: E402
from chalicelib.console import routes as console  # noqa: E402 - issue 18: the web console at /console
from chalicelib.handlers import (  # noqa: E402
    admin,  # issue 18: the console's admin pages
    companies,
    duplicates,
    enrichment,
    events,
    intake,
    notifications,
    ownership,
    pipeline,
    pool,
    reclaim,
    registrations,
    review,
    review_sla,
    scoring,
    tender_feeds,
    workflow,
)

app = Chalice(app_name="dealreg")
# Chalice sets its app logger ("dealreg", stdout, not propagating) to ERROR unless debug, which would silence
# every "dealreg.*" module logger below it (job summaries, the local inbox, warnings) in Lambda too.
app.log.setLevel(os.environ.get("DEALREG_LOG_LEVEL", "INFO").upper())
# JSON logs with cold start and correlation keys in Lambda, EMF metrics of every outcome (chalicelib.observability).
observability.install(app)
http.install(app)  # one error shape for Chalice's own refusals; no credentials in query strings
app.register_blueprint(intake.bp)
app.register_blueprint(registrations.bp)
app.register_blueprint(events.bp)
app.register_blueprint(workflow.bp)
app.register_blueprint(ownership.bp)
app.register_blueprint(reclaim.bp)
app.register_blueprint(companies.bp)
app.register_blueprint(enrichment.bp)
app.register_blueprint(duplicates.bp)
app.register_blueprint(tender_feeds.bp)
app.register_blueprint(notifications.bp)
app.register_blueprint(review_sla.bp)
app.register_blueprint(review.bp)
app.register_blueprint(pool.bp)
app.register_blueprint(scoring.bp)
app.register_blueprint(pipeline.bp)
app.register_blueprint(admin.bp)
app.register_blueprint(console.bp)


def __getattr__(name: str):
    """Lambda's entry for every event function: ``Handler: app.<function>`` (``infra/package.py`` sets it).

    Chalice points a blueprint's event function at its own module (``chalicelib.handlers.tender_feeds...``), which
    Lambda then imports without this file: no blueprint registration, so no middleware (logs, metrics) and
    not even the log level above. Through here every function gets the same setup as the API.
    """
    try:
        return app.handler_map[name]
    except KeyError:
        raise AttributeError(name) from None
