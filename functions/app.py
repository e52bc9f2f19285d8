"""dealreg: one Chalice app; each blueprint module is one trigger (see docs/ARCHITECTURE.md)."""
from __future__ import annotations

from chalice import Chalice

from chalicelib.handlers import events, intake, registrations, workflow

app = Chalice(app_name="dealreg")
app.register_blueprint(intake.bp)
app.register_blueprint(registrations.bp)
app.register_blueprint(events.bp)
app.register_blueprint(workflow.bp)
