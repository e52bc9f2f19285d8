"""dealreg: one Chalice app; each blueprint module is one trigger (see docs/ARCHITECTURE.md)."""
from __future__ import annotations

import os

from chalice import Chalice

from chalicelib.handlers import events, intake, registrations, workflow
from chalicelib.handlers import ownership, reclaim
from chalicelib.handlers import companies, enrichment
from chalicelib.handlers import dedup
from chalicelib.handlers import tenders
from chalicelib.handlers import notifications
from chalicelib.handlers import review_sla
from chalicelib.handlers import review
from chalicelib.handlers import pipeline
from chalicelib.console import routes as console  # issue 18: the web console at /console

app = Chalice(app_name="dealreg")
# Chalice sets its app logger ("dealreg", stdout, not propagating) to ERROR unless debug, which would silence
# every "dealreg.*" module logger below it (job summaries, the local inbox, warnings) in Lambda too.
app.log.setLevel(os.environ.get("DEALREG_LOG_LEVEL", "INFO").upper())
app.register_blueprint(intake.bp)
app.register_blueprint(registrations.bp)
app.register_blueprint(events.bp)
app.register_blueprint(workflow.bp)
app.register_blueprint(ownership.bp)
app.register_blueprint(reclaim.bp)
app.register_blueprint(companies.bp)
app.register_blueprint(enrichment.bp)
app.register_blueprint(dedup.bp)
app.register_blueprint(tenders.bp)
app.register_blueprint(notifications.bp)
app.register_blueprint(review_sla.bp)
app.register_blueprint(review.bp)
app.register_blueprint(pipeline.bp)
app.register_blueprint(console.bp)
