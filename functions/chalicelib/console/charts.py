"""Charts as inline SVG, drawn on the server (no script: the console's CSP allows none). Pure.

Colours come from classes (``s0``, ``s1``, … in console.css), labels are escaped, every chart has a
``<title>`` and the numbers are also in a table beside it (the page's job), so nothing is only a picture.
"""
from __future__ import annotations

from decimal import Decimal
from html import escape

W, H = 640, 220  # viewBox; the SVG scales to the page width (phones too)
LEFT, BOTTOM, TOP = 44, 34, 12


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _ticks(top: float) -> list[float]:
    """Up to 4 round gridline values from 0 to at least ``top``."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / 4
    mag = 10 ** (len(str(int(raw))) - 1) if raw >= 1 else 1
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    n = int(-(-top // step))
    return [i * step for i in range(n + 1)]


def bars(title: str, labels: list[str], series: list[tuple[str, list[float]]], *, label_every: int = 1) -> str:
    """Vertical bars, one group per label, one bar per series; a legend when there is more than one series."""
    values = [float(v) for _, vs in series for v in vs]
    ticks = _ticks(max(values, default=0))
    top = ticks[-1] or 1
    plot_w, plot_h = W - LEFT - 8, H - TOP - BOTTOM
    group = plot_w / max(len(labels), 1)
    bar = max(group * 0.8 / max(len(series), 1), 1)
    out = [f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}" '
           f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for t in ticks:
        y = TOP + plot_h - plot_h * t / top
        out.append(f'<line class="grid" x1="{LEFT}" x2="{W - 8}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text class="tick" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">{_num(t)}</text>')
    for i, label in enumerate(labels):
        x0 = LEFT + i * group + group * 0.1
        for j, (name, vs) in enumerate(series):
            v = float(vs[i])
            h = plot_h * v / top
            out.append(f'<rect class="s{j}" x="{x0 + j * bar:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar:.1f}" '
                       f'height="{h:.1f}"><title>{escape(label)} · {escape(name)}: {_num(v)}</title></rect>')
        if i % label_every == 0:
            out.append(f'<text class="label" x="{LEFT + i * group + group / 2:.1f}" y="{H - BOTTOM + 14}" '
                       f'text-anchor="middle">{escape(label)}</text>')
    if len(series) > 1:
        for j, (name, _) in enumerate(series):
            x = LEFT + j * 130
            out.append(f'<rect class="s{j}" x="{x}" y="{H - 12}" width="10" height="10"/>'
                       f'<text class="label" x="{x + 14}" y="{H - 3}">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def hbars(title: str, labels: list[str], series: list[tuple[str, list[float | Decimal | None]]], *,
          mark: int | None = None) -> str:
    """Horizontal bars, one row per label (``mark``: the row drawn as highlighted, e.g. the bottleneck)."""
    values = [float(v) for _, vs in series for v in vs if v is not None]
    ticks = _ticks(max(values, default=0))
    top = ticks[-1] or 1
    left, row_h = 120, 14 * len(series) + 10
    height = TOP + row_h * len(labels) + 30
    plot_w = W - left - 40
    out = [f'<svg class="chart" viewBox="0 0 {W} {height}" role="img" aria-label="{escape(title)}" '
           f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for i, label in enumerate(labels):
        y0 = TOP + i * row_h
        cls = "label mark" if i == mark else "label"
        out.append(f'<text class="{cls}" x="{left - 6}" y="{y0 + row_h / 2 + 2:.1f}" text-anchor="end">'
                   f'{escape(label)}</text>')
        for j, (name, vs) in enumerate(series):
            v = vs[i]
            w = plot_w * float(v) / top if v is not None else 0
            y = y0 + 4 + j * 14
            out.append(f'<rect class="s{j}" x="{left}" y="{y}" width="{w:.1f}" height="12">'
                       f'<title>{escape(label)} · {escape(name)}: {"-" if v is None else _num(float(v))}</title></rect>'
                       f'<text class="tick" x="{left + w + 4:.1f}" y="{y + 10}">{"-" if v is None else _num(float(v))}'
                       f'</text>')
    if len(series) > 1:
        for j, (name, _) in enumerate(series):
            x = left + j * 130
            out.append(f'<rect class="s{j}" x="{x}" y="{height - 14}" width="10" height="10"/>'
                       f'<text class="label" x="{x + 14}" y="{height - 5}">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)
