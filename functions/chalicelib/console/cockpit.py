"""The cockpit page (驾驶舱) from the API's ``GET /v1/pipeline/cockpit`` answer: charts, tables and the CSV
export. Pure: the route reads the API and passes its JSON here."""
from __future__ import annotations

import csv
import io
from collections.abc import Callable
from decimal import Decimal

from chalicelib.console import charts


def _pct(value) -> str:
    return "-" if value is None else f"{Decimal(str(value)) * 100:.1f}%"


def stage_name(row: dict, lang: str) -> str:
    return row["name_zh"] if lang == "zh-CN" else row["name_en"]


def currencies(body: dict) -> list[str]:
    return sorted({m["currency"] for f in body["forecast"] for m in f["amounts"]})


def normalise(body: dict) -> dict:
    """The API leaves out null fields: put them back as None, so the page and the CSV show "-" / ""."""
    body = {**body, "bottleneck": body.get("bottleneck"), "team": body.get("team")}
    body["conversion"] = {k: body["conversion"].get(k) for k in
                          ("submitted", "approved", "won", "lost", "approval_rate", "won_of_approved", "win_rate")}
    body["stages"] = [{**s, "avg_days": s.get("avg_days"), "p90_days": s.get("p90_days")} for s in body["stages"]]
    return body


def view(body: dict, t: Callable[[str], str], lang: str) -> dict:
    """Everything the template shows: the API's figures, formatted, and the SVG charts."""
    body = normalise(body)
    days, weeks, conv = body["days"], body["weeks"], body["conversion"]
    stages = body["stages"]
    week_labels = [w["week"][5:] for w in weeks]
    svg = {
        "days": charts.bars(t("ck_new_per_day"), [d["day"][5:] for d in days], [(t("ck_new"), [d["new"] for d in days])],
                            label_every=max(len(days) // 8, 1)),
        "weeks": charts.bars(t("ck_weekly"), week_labels, [(t(f"ck_{k}"), [w[k] for w in weeks])
                                                          for k in ("new", "approved", "won")],
                             label_every=max(len(weeks) // 8, 1)),
        "risk": charts.bars(t("ck_conflicts_reclaims"), week_labels,
                            [(t(f"ck_{k}"), [w[k] for w in weeks]) for k in ("conflict", "reclaimed")],
                            label_every=max(len(weeks) // 8, 1)),
        "funnel": charts.hbars(t("ck_conversion"), [t("ck_new"), t("ck_approved"), t("ck_won")],
                               [(t("count"), [conv["submitted"], conv["approved"], conv["won"]])]),
        "stages": charts.hbars(t("ck_stays"), [stage_name(s, lang) for s in stages],
                               [(t("ck_avg_days"), [s["avg_days"] for s in stages]),
                                (t("ck_p90_days"), [s["p90_days"] for s in stages])],
                               mark=next((i for i, s in enumerate(stages) if s["stage"] == body["bottleneck"]), None)),
        "forecast": [(cur, charts.bars(f"{t('ck_forecast')} ({cur})", [_month_label(f, t) for f in body["forecast"]],
                                       [(t("amount"), [_amount(f["amounts"], cur) for f in body["forecast"]]),
                                        (t("weighted"), [_amount(f["weighted"], cur) for f in body["forecast"]])]))
                     for cur in currencies(body)],
    }
    bottleneck = next((stage_name(s, lang) for s in stages if s["stage"] == body["bottleneck"]), None)
    return {"c": body, "svg": svg, "pct": _pct, "bottleneck_name": bottleneck, "currencies": currencies(body),
            "amount_of": _amount_text, "stage_name": lambda s: stage_name(s, lang)}


def _month_label(f: dict, t: Callable[[str], str]) -> str:
    """A forecast month on the chart's axis; an overdue one (open deals past their expected close) says so."""
    return f"{f['month'][2:]} {t('ck_overdue')}" if f.get("overdue") else f["month"]


def _amount(monies: list[dict], currency: str) -> float:
    return float(sum((Decimal(str(m["amount"])) for m in monies if m["currency"] == currency), Decimal(0)))


def _amount_text(monies: list[dict], currency: str) -> str:
    got = [m for m in monies if m["currency"] == currency]
    return str(got[0]["amount"]) if got else "0"


def to_csv(body: dict, lang: str) -> str:
    """The same figures as one CSV table (section, key, measure, value), UTF-8 with a BOM for spreadsheets."""
    body = normalise(body)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["section", "key", "measure", "value"])
    for d in body["days"]:
        w.writerow(["day", d["day"], "new", d["new"]])
    for wk in body["weeks"]:
        for k in ("new", "approved", "won", "lost", "conflict", "reclaimed"):
            w.writerow(["week", wk["week"], k, wk[k]])
    for k, v in body["conversion"].items():
        w.writerow(["conversion", "window", k, "" if v is None else v])
    for s in body["stages"]:
        for k in ("stays", "avg_days", "p90_days"):
            w.writerow(["stage", f"{s['stage']} ({stage_name(s, lang)})", k, "" if s[k] is None else s[k]])
    w.writerow(["bottleneck", body["bottleneck"] or "", "stage", body["bottleneck"] or ""])
    for f in body["forecast"]:
        w.writerow(["forecast", f["month"], "overdue", "yes" if f.get("overdue") else "no"])
        for kind in ("amounts", "weighted"):
            for m in f[kind]:
                w.writerow(["forecast", f["month"], f"{kind} {m['currency']}", m["amount"]])
    for p in body["top_partners"]:
        for k in ("submitted", "approved", "won"):
            w.writerow(["partner", p["partner_id"], k, p[k]])
    return "\ufeff" + out.getvalue()
