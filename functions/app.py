"""dealreg: one Chalice app; each blueprint module is one trigger (see docs/ARCHITECTURE.md)."""
from __future__ import annotations

from chalice import Chalice

from chalicelib.handlers import events, intake, registrations, workflow
from chalicelib.handlers import ownership, reclaim
from chalicelib.handlers import companies, enrichment
from chalicelib.handlers import dedup
from chalicelib.handlers import tenders
from chalicelib.handlers import notifications

app = Chalice(app_name="dealreg")
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
