"""The page's figures as inline SVG, drawn on the server: no script, no external file, printable, readable without
zoom (text is 15 px at the figure's natural width and scales with it).

* :func:`forecast_svg` -- the level over time: the 90 % band, the median and the individual (MAP) prediction, the
  observed levels (below the limit of quantification: an open triangle at the limit) and the dose times.
* :func:`parameters_svg` -- each estimated parameter against the population: the estimate with its 90 % interval
  over the population's 90 % range, on a log scale relative to the typical value for this patient's covariates.

Every figure carries a ``<title>`` and a ``<desc>`` for screen readers; the same numbers are in the page's tables.
"""

from __future__ import annotations

import math
from html import escape

import numpy as np

WIDTH, HEIGHT = 760, 400
FONT = 15
BAND, MEDIAN, MAP, OBSERVED, DOSE, AXIS = "#9ecae1", "#3182bd", "#08306b", "#b30000", "#555555", "#222222"


def nice_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """Round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(count - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(lo / step) * step
    ticks, t = [], first
    while t <= hi + 1e-9 * step:
        ticks.append(round(t, 10))
        t += step
    return ticks


def _fmt(v: float) -> str:
    return f"{v:g}"


class _Frame:
    """Data to pixel coordinates in a plotting area with margins for the axis labels."""

    def __init__(self, x: tuple, y: tuple, left=70, right=20, top=20, bottom=56, log_x=False):
        self.x0, self.x1 = x
        self.y0, self.y1 = y
        self.left, self.right, self.top, self.bottom = left, WIDTH - right, top, HEIGHT - bottom
        self.log_x = log_x

    def px(self, x):
        if self.log_x:
            x, a, b = np.log(x), math.log(self.x0), math.log(self.x1)
        else:
            a, b = self.x0, self.x1
        return self.left + (np.asarray(x, float) - a) / (b - a) * (self.right - self.left)

    def py(self, y):
        return self.bottom - (np.asarray(y, float) - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)


def _svg(title: str, desc: str, body: list[str], height: int = HEIGHT, ident: str = "") -> str:
    key = ident or "figure"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
            f'aria-labelledby="{key}-title {key}-desc" font-family="sans-serif" font-size="{FONT}">'
            f'<title id="{key}-title">{escape(title)}</title><desc id="{key}-desc">{escape(desc)}</desc>'
            + "".join(body) + "</svg>")


def _axes(f: _Frame, xticks, yticks, xlabel: str, ylabel: str, xfmt=_fmt) -> list[str]:
    out = [f'<line x1="{f.left}" y1="{f.bottom}" x2="{f.right}" y2="{f.bottom}" stroke="{AXIS}"/>',
           f'<line x1="{f.left}" y1="{f.top}" x2="{f.left}" y2="{f.bottom}" stroke="{AXIS}"/>']
    for t in xticks:
        x = float(f.px(t))
        out.append(f'<line x1="{x:.1f}" y1="{f.bottom}" x2="{x:.1f}" y2="{f.bottom + 6}" stroke="{AXIS}"/>'
                   f'<text x="{x:.1f}" y="{f.bottom + 22}" text-anchor="middle">{escape(xfmt(t))}</text>')
    for t in yticks:
        y = float(f.py(t))
        out.append(f'<line x1="{f.left - 6}" y1="{y:.1f}" x2="{f.left}" y2="{y:.1f}" stroke="{AXIS}"/>'
                   f'<line x1="{f.left}" y1="{y:.1f}" x2="{f.right}" y2="{y:.1f}" stroke="#e5e5e5"/>'
                   f'<text x="{f.left - 10}" y="{y + 5:.1f}" text-anchor="end">{_fmt(t)}</text>')
    mid_x, mid_y = (f.left + f.right) / 2, (f.top + f.bottom) / 2
    out.append(f'<text x="{mid_x:.0f}" y="{f.bottom + 46}" text-anchor="middle">{escape(xlabel)}</text>')
    out.append(f'<text x="18" y="{mid_y:.0f}" text-anchor="middle" transform="rotate(-90 18 {mid_y:.0f})">'
               f'{escape(ylabel)}</text>')
    return out


def _path(xs, ys) -> str:
    return "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))


def forecast_svg(forecast: list[dict], observed: list[dict], doses: list[dict], *, unit: str, drug: str,
                 level: float = 0.9) -> str:
    """The forecast figure (see the module docstring). ``forecast``: rows of time, median, lower, upper, map;
    ``observed``: rows of time, value, lloq; ``doses``: rows of time, amount, duration."""
    t = np.array([r["time"] for r in forecast], float)
    lower = np.array([r["lower"] for r in forecast], float)
    upper = np.array([r["upper"] for r in forecast], float)
    median = np.array([r["median"] for r in forecast], float)
    best = np.array([r["map"] for r in forecast], float)
    values = [r["value"] for r in observed if r.get("value") is not None]
    limits = [r["lloq"] for r in observed if r.get("value") is None and r.get("lloq") is not None]
    top = max([float(np.nanmax(upper))] + values + limits) * 1.08
    yticks = nice_ticks(0.0, top)
    xticks = nice_ticks(min(0.0, float(t[0])), float(t[-1]), 8)
    f = _Frame((xticks[0], max(xticks[-1], float(t[-1]))), (0.0, yticks[-1]), bottom=92)
    body = _axes(f, xticks, yticks, "time since the first dose (h)", f"{drug} level ({unit})")
    xs, lo, hi = f.px(t), f.py(lower), f.py(upper)
    body.append(f'<path d="{_path(xs, hi)} L{_path(xs[::-1], lo[::-1])[1:]} Z" fill="{BAND}" fill-opacity="0.6" '
                f'stroke="none"/>')
    body.append(f'<path d="{_path(xs, f.py(median))}" fill="none" stroke="{MEDIAN}" stroke-width="2" '
                f'stroke-dasharray="7 5"/>')
    body.append(f'<path d="{_path(xs, f.py(best))}" fill="none" stroke="{MAP}" stroke-width="2.5"/>')
    for d in doses:
        x = float(f.px(d["time"]))
        body.append(f'<path d="M{x:.1f},{f.bottom} l-6,10 l12,0 Z" fill="{DOSE}"><title>dose {d["amount"]:g} mg at '
                    f'{d["time"]:g} h</title></path>')
    for r in observed:
        x = float(f.px(r["time"]))
        if r.get("value") is not None:
            y = float(f.py(r["value"]))
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{OBSERVED}" stroke="white" stroke-width="1.5">'
                        f'<title>{r["value"]:g} {escape(unit)} at {r["time"]:g} h</title></circle>')
        elif r.get("lloq") is not None:
            y = float(f.py(r["lloq"]))
            body.append(f'<path d="M{x:.1f},{y - 7:.1f} l7,12 l-14,0 Z" fill="white" stroke="{OBSERVED}" '
                        f'stroke-width="2"><title>below {r["lloq"]:g} {escape(unit)} at {r["time"]:g} h</title></path>')
    # the legend, in a row under the axis (never over the curves)
    ly = HEIGHT - 14
    items = [(f'<rect x="{{x}}" y="{ly - 12}" width="26" height="14" fill="{BAND}"/>', f"{round(level * 100):d} % band"),
             (f'<line x1="{{x}}" y1="{ly - 5}" x2="{{x2}}" y2="{ly - 5}" stroke="{MAP}" stroke-width="2.5"/>',
              "this patient (MAP)"),
             (f'<line x1="{{x}}" y1="{ly - 5}" x2="{{x2}}" y2="{ly - 5}" stroke="{MEDIAN}" stroke-width="2" '
              f'stroke-dasharray="7 5"/>', "median of the band"),
             (f'<circle cx="{{xc}}" cy="{ly - 5}" r="6" fill="{OBSERVED}"/>', "measured")]
    x = f.left
    for mark, label in items:
        body.append(mark.format(x=x, x2=x + 26, xc=x + 13) + f'<text x="{x + 34}" y="{ly}">{escape(label)}</text>')
        x += 34 + 8 * len(label) + 30
    n_obs = len(values) + len(limits)
    desc = (f"{drug} level against time since the first dose: {n_obs} measured level(s), {len(doses)} dose(s) "
            f"(triangles on the time axis), the individual prediction and its {round(level * 100):d} % band to "
            f"{t[-1]:g} h. The numbers are in the forecast table.")
    return _svg(f"{drug}: measured levels and forecast", desc, body, ident="forecast")


def parameters_svg(parameters: list[dict]) -> str:
    """The parameters figure: estimate and 90 % interval over the population's 90 % range, relative to typical."""
    rows = len(parameters)
    height = 70 + 46 * rows
    ratios = [r[k] / r["typical"] for r in parameters for k in ("lower", "upper", "population_lower",
                                                                 "population_upper", "estimate")]
    span = max(2.0, max(max(ratios), 1 / min(ratios)) * 1.15)
    f = _Frame((1 / span, span), (0, rows), left=150, right=30, top=16, bottom=40, log_x=True)
    f.bottom = height - 40
    body = []
    ticks = [x for x in (0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 10.0) if 1 / span <= x <= span]
    ticks = [x for x in ticks if not (span < 6 and x in (0.2, 5.0)) and not (span >= 6 and x in (0.25, 4.0))]
    for x in ticks:
        px = float(f.px(x))
        body.append(f'<line x1="{px:.1f}" y1="{f.top}" x2="{px:.1f}" y2="{f.bottom}" '
                    f'stroke="{"#888888" if x == 1.0 else "#e5e5e5"}"/>'
                    f'<text x="{px:.1f}" y="{f.bottom + 20}" text-anchor="middle">{x:g}x</text>')
    body.append(f'<text x="{(f.left + f.right) / 2:.0f}" y="{height - 4}" text-anchor="middle">relative to the typical '
                f'value for this patient (log scale)</text>')
    for i, r in enumerate(parameters):
        y = f.top + 46 * i + 26
        tv = r["typical"]
        p0, p1 = float(f.px(r["population_lower"] / tv)), float(f.px(r["population_upper"] / tv))
        e0, e1 = float(f.px(r["lower"] / tv)), float(f.px(r["upper"] / tv))
        e = float(f.px(r["estimate"] / tv))
        body.append(f'<text x="{f.left - 12}" y="{y + 5}" text-anchor="end">{escape(r["parameter"])} '
                    f'({escape(r["unit"])})</text>')
        body.append(f'<rect x="{p0:.1f}" y="{y - 10}" width="{max(p1 - p0, 1):.1f}" height="20" fill="#d9d9d9">'
                    f'<title>population 90 % range {r["population_lower"]:.3g}-{r["population_upper"]:.3g}</title>'
                    f'</rect>')
        body.append(f'<line x1="{e0:.1f}" y1="{y}" x2="{e1:.1f}" y2="{y}" stroke="{MAP}" stroke-width="4"/>'
                    f'<circle cx="{e:.1f}" cy="{y}" r="7" fill="{MAP}"><title>estimate {r["estimate"]:.3g} '
                    f'(90 % {r["lower"]:.3g}-{r["upper"]:.3g})</title></circle>')
    desc = ("Each estimated parameter of this patient (dot, with its 90 % interval) against the 90 % range of the "
            "population (grey bar), relative to the typical value for the patient's covariates. The numbers are in "
            "the parameters table.")
    return _svg("This patient's parameters against the population", desc, body, height=height, ident="parameters")
