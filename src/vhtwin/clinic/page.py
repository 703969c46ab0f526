"""The clinician's page as HTML rendered on the server: the entry form and the report.

No script is needed to use it (one small file adds a print button), nothing is fetched from elsewhere (it works
offline), and the report prints on A4 without the form. Every value shown comes from an
:class:`~vhtwin.clinic.assess.Assessment` as plain data (:meth:`~vhtwin.clinic.assess.Assessment.to_dict`); every
string from a record or a prior is escaped.

Typed entry (for a record that is not in FHIR): one level per line, ``hours, level`` (``hours, <limit`` below the
limit of quantification), and one dose per line, ``hours, mg`` or ``hours, mg, infusion hours``; hours count from
any origin (they are re-counted from the first dose).
"""

from __future__ import annotations

import math
from html import escape

import numpy as np
import pandas as pd

from .._version import __version__
from ..errors import InputError
from .figure import forecast_svg, parameters_svg

#: Lines read from each typed table (a record's levels and doses are tens, not thousands).
MAX_LINES = 200
#: Rows of the forecast shown in the report's table (evenly spread over the forecast grid, both ends included).
FORECAST_ROWS = 25

_CREATININE_TO_MG_DL = {"mg/dL": 1.0, "umol/L": 1.0 / 88.42}
FACT_UNITS = {"age": "years", "weight": "kg", "height": "cm", "creatinine": "mg/dL"}


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)}</title><link rel=\"stylesheet\" href=\"/static/clinic.css\">"
            "<script src=\"/static/print.js\" defer></script></head><body>"
            "<a class=\"skip\" href=\"#main\">Skip to the content</a>"
            "<header><p class=\"brand\">vhtwin &middot; clinician's twin</p></header>"
            f"<main id=\"main\">{body}</main>"
            f"<footer><p>vhtwin {escape(__version__)}. Decision support: the forecast and the advice are for a "
            "clinician to weigh, not orders.</p></footer></body></html>")


# -- the form -----------------------------------------------------------------------------------------------------------
def form_page(priors: list[dict], csrf: str, *, error: str | None = None, values: dict | None = None) -> str:
    """The entry form: choose the drug model, upload a FHIR bundle or type the levels, doses and facts."""
    v = {k: escape(str(x)) for k, x in (values or {}).items() if x is not None}
    chosen = (values or {}).get("model")
    options = "".join(f'<option value="{escape(p["name"])}"{" selected" if p["name"] == chosen else ""}>'
                      f'{escape(p["title"])}</option>' for p in priors)
    alert = (f'<div class="alert" role="alert" id="error"><h2>The record was not read</h2><p>{escape(error)}</p></div>'
             if error else "")
    sexes = "".join(f'<option value="{s}"{" selected" if v.get("sex") == s else ""}>{label}</option>'
                    for s, label in [("", "not given"), ("female", "female"), ("male", "male")])
    units = "".join(f'<option value="{u}"{" selected" if v.get("creatinine_unit", "mg/dL") == u else ""}>{u}</option>'
                    for u in _CREATININE_TO_MG_DL)
    dialysis = " checked" if (values or {}).get("dialysis") else ""
    body = f"""
<h1>Calibrate a patient's twin and choose a dose</h1>
<p class="intro">Load the patient's record as a FHIR R4 Bundle (JSON, from the health record), or type the levels,
doses and facts. The twin is the drug's published population model, calibrated to this patient's levels; the report
shows the fit with its 90&nbsp;% band, the parameters against the population and the probability that each regimen
reaches the target.</p>
{alert}
<form method="post" action="/assess" enctype="multipart/form-data" id="entry">
<input type="hidden" name="csrf" value="{escape(csrf)}">
<fieldset><legend>Drug model</legend>
<label for="model">Published model (prior)</label>
<select id="model" name="model" required>{options}</select>
</fieldset>
<fieldset><legend>The record: a FHIR bundle&hellip;</legend>
<label for="bundle">FHIR R4 Bundle (JSON file, at most 5 MB)</label>
<input type="file" id="bundle" name="bundle" accept=".json,application/json,application/fhir+json">
</fieldset>
<fieldset><legend>&hellip;or typed in</legend>
<p class="hint">Hours may count from any time (they are counted again from the first dose). Leave these empty when
a bundle is loaded.</p>
<div class="columns">
<div><label for="levels">Levels: one per line, <kbd>hours, level</kbd> (<kbd>hours, &lt;limit</kbd> below the limit of
quantification)</label>
<textarea id="levels" name="levels" rows="6" spellcheck="false">{v.get("levels", "")}</textarea></div>
<div><label for="doses">Doses: one per line, <kbd>hours, mg</kbd> or <kbd>hours, mg, infusion hours</kbd></label>
<textarea id="doses" name="doses" rows="6" spellcheck="false">{v.get("doses", "")}</textarea></div>
</div>
<div class="facts">
<label for="age">Age (years)<input id="age" name="age" inputmode="decimal" value="{v.get("age", "")}"></label>
<label for="sex">Sex<select id="sex" name="sex">{sexes}</select></label>
<label for="weight">Weight (kg)<input id="weight" name="weight" inputmode="decimal" value="{v.get("weight", "")}"></label>
<label for="height">Height (cm)<input id="height" name="height" inputmode="decimal" value="{v.get("height", "")}"></label>
<label for="creatinine">Serum creatinine<input id="creatinine" name="creatinine" inputmode="decimal"
 value="{v.get("creatinine", "")}"></label>
<label for="creatinine_unit">Creatinine unit<select id="creatinine_unit" name="creatinine_unit">{units}</select></label>
<label class="check" for="dialysis"><input type="checkbox" id="dialysis" name="dialysis" value="1"{dialysis}>
On intermittent haemodialysis</label>
</div>
</fieldset>
<button type="submit" id="submit">Calibrate and recommend</button>
</form>"""
    return _page("vhtwin: calibrate a patient's twin", body)


def typed_record(form: dict) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The levels, doses and facts typed in the form, as tables for :func:`vhtwin.clinic.make_record`.

    Raises :class:`InputError` naming the field and line of the first entry that cannot be read.
    """
    levels = []
    for k, parts in _lines(form.get("levels", ""), "levels", 2, 2):
        t = _number(parts[0], "levels", k, "hours")
        text = parts[1]
        if text.startswith("<"):
            levels.append((t, math.nan, _number(text[1:], "levels", k, "limit of quantification")))
        else:
            levels.append((t, _number(text, "levels", k, "level"), math.nan))
    doses = []
    for k, parts in _lines(form.get("doses", ""), "doses", 2, 3):
        doses.append((_number(parts[0], "doses", k, "hours"), _number(parts[1], "doses", k, "mg"),
                      _number(parts[2], "doses", k, "infusion hours") if len(parts) == 3 else 0.0))
    facts = {}
    for name, unit in [("age", "years"), ("weight", "kg"), ("height", "cm"), ("creatinine", "")]:
        text = str(form.get(name, "") or "").strip()
        if text:
            value = _number(text, name, None, unit or "value")
            if not value > 0:
                raise InputError(f"{name}: {text!r} must be a positive number")
            facts[name] = value
    unit = form.get("creatinine_unit") or "mg/dL"
    if unit not in _CREATININE_TO_MG_DL:
        raise InputError(f"creatinine unit: {unit!r} is not one of {sorted(_CREATININE_TO_MG_DL)}")
    if "creatinine" in facts:
        facts["creatinine"] *= _CREATININE_TO_MG_DL[unit]
    sex = form.get("sex") or None
    if sex not in (None, "female", "male"):
        raise InputError(f"sex: {sex!r} is not one of 'female', 'male' or empty")
    facts["sex"] = sex
    if form.get("dialysis"):
        facts["DIAL"] = 1.0
    return (pd.DataFrame(levels, columns=["time", "value", "lloq"]),
            pd.DataFrame(doses, columns=["time", "amount", "duration"]), facts)


def _lines(text: str, field: str, least: int, most: int):
    rows = [(k + 1, line) for k, line in enumerate(str(text).splitlines()) if line.strip()]
    if len(rows) > MAX_LINES:
        raise InputError(f"{field}: {len(rows)} lines; at most {MAX_LINES} are read")
    for k, line in rows:
        parts = [p.strip() for p in line.replace(";", ",").replace("\t", ",").split(",")]
        parts = [p for p in parts if p] if len(parts) > 1 else line.split()
        if not least <= len(parts) <= most:
            want = f"{least}" if least == most else f"{least} or {most}"
            raise InputError(f"{field}: line {k} {line.strip()[:60]!r} has {len(parts)} value(s); {want} are expected, "
                             f"separated by commas")
        yield k, parts


def _number(text: str, field: str, line: int | None, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        where = f"{field}: line {line}" if line is not None else field
        raise InputError(f"{where}: {what} {str(text)[:40]!r} is not a number")
    return value


# -- the report ---------------------------------------------------------------------------------------------------------
def report_page(doc: dict, audit: dict) -> str:
    """The report of one assessment (``doc``: :meth:`Assessment.to_dict`; ``audit``: the hashes of its audit
    entries)."""
    prior = doc["prior"]
    unit = doc["level_unit"]
    targets = prior["targets"]
    rec, cur = doc["recommended"], doc["current"]
    target_text = "; ".join(_target(t) for t in targets)
    warnings = doc["warnings"] + ([] if doc["converged"] else
                                  ["the calibration did not converge: read the fit with care"])
    alert = ("" if not warnings else '<section class="alert" role="alert" id="warnings"><h2>Warnings</h2><ul>'
             + "".join(f"<li>{escape(w)}</li>" for w in warnings) + "</ul></section>")
    pct = lambda p: "&ndash;" if p is None else f"{100 * p:.0f}&nbsp;%"
    infusion = f" (infused over {doc['dose_duration_h']:g} h)" if doc.get("dose_duration_h") else ""
    summary = f"""
<section class="advice" aria-labelledby="advice-title">
<h2 id="advice-title">Recommended regimen</h2>
<p class="dose" id="recommendation"><span id="rec-amount">{rec["amount_mg"]:g}</span>&nbsp;mg every
<span id="rec-interval">{rec["interval_h"]:g}</span>&nbsp;h{infusion}</p>
<p>Probability of reaching the target: <strong id="rec-probability">{pct(rec["probability"])}</strong>
(target: {escape(target_text)}).</p>
<p>Current regimen, {cur["amount_mg"]:g}&nbsp;mg every {cur["interval_h"]:g}&nbsp;h: <strong id="current-probability">
{pct(cur["probability"])}</strong>.</p>
</section>"""
    fig = forecast_svg(doc["forecast"], doc["observed"], doc["doses"], unit=unit, drug=prior["drug"],
                       level=doc["level"])
    fit = f"""
<section aria-labelledby="fit-title"><h2 id="fit-title">The fit and the forecast</h2>
<figure class="figure">{fig}<figcaption>Measured levels, this patient's prediction (MAP) and its
{round(100 * doc["level"]):d}&nbsp;% band from the posterior of the calibrated twin; the current regimen continued
for two days. Triangles on the time axis: doses.</figcaption></figure>
{_forecast_table(doc, unit)}
</section>"""
    params = f"""
<section aria-labelledby="par-title"><h2 id="par-title">This patient against the population</h2>
<figure class="figure narrow">{parameters_svg(doc["parameters"])}</figure>
{_table("parameters", "Estimated parameters (90 % intervals) and the population's typical value and 90 % range for "
        "this patient's covariates",
        ["parameter", "unit", "estimate", "90 % interval", "typical", "population 90 % range"],
        [[escape(r["parameter"]), escape(r["unit"]), _g(r["estimate"]), f'{_g(r["lower"])} &ndash; {_g(r["upper"])}',
          _g(r["typical"]), f'{_g(r["population_lower"])} &ndash; {_g(r["population_upper"])}']
         for r in doc["parameters"]])}
</section>"""
    options = f"""
<section aria-labelledby="opt-title"><h2 id="opt-title">Regimens and their probability of target attainment</h2>
<p>Each regimen at steady state, over {doc["n_samples"]} draws of this patient's posterior: the probability is the share
of draws that meet the target ({escape(target_text)}); under it, the median {escape(_metric_names(targets))} of the
draws.</p>
{_options_table(doc["options"], rec, cur, pct)}
</section>"""
    facts = doc["facts"]
    fact_rows = [[escape(f"{k} ({FACT_UNITS[k]})" if k in FACT_UNITS else k),
                  escape(_g(v) if isinstance(v, (int, float)) else str(v))] for k, v in facts.items() if v is not None]
    described = prior.get("covariates", {})
    fact_rows += [[escape(f"{k}: {described[k]['description']} ({described[k]['unit']})" if k in described else k),
                   _g(v)] for k, v in doc["covariates"].items()]
    sources = "".join(f"<li>{escape(v)}</li>" for v in prior["sources"].values())
    about = f"""
<section aria-labelledby="about-title"><h2 id="about-title">Record, model and audit</h2>
{_table("facts", "Patient facts used (no identifiers are kept)", ["fact", "value"], fact_rows)}
<p>Model: {escape(prior["title"])}, version {escape(prior["version"])}, sha256 <code>{escape(prior["sha256"])}</code>.</p>
<p>Sources:</p><ul class="sources">{sources}</ul>
<p>Audit trail: calibration <code id="audit-calibration">{escape(audit.get("calibration", ""))}</code>,
recommendation <code id="audit-recommendation">{escape(audit.get("recommendation", ""))}</code>.</p>
</section>
<p class="actions"><button type="button" id="print" hidden>Print the report</button>
<a href="/">Another patient</a></p>"""
    body = (f'<h1>{escape(prior["title"])}</h1>' + alert + summary + fit + params + options + about)
    return _page(f"vhtwin report: {prior['drug']}", body)


def _options_table(options: list[dict], rec: dict, cur: dict, pct) -> str:
    """The options as a grid: a row per dose, a column per interval; the recommended and the current cell marked in
    words (not by colour alone)."""
    amounts = sorted({r["amount_mg"] for r in options})
    intervals = sorted({r["interval_h"] for r in options})
    cells = {(r["amount_mg"], r["interval_h"]): r for r in options}
    metrics = [k for k in (options[0] if options else {}) if k.endswith("_median")]
    head = "".join(f'<th scope="col">every {t:g} h</th>' for t in intervals)
    rows = []
    for a in amounts:
        tds = []
        for t in intervals:
            r = cells.get((a, t))
            if r is None:
                tds.append("<td>&ndash;</td>")
                continue
            notes = [w for w, x in (("recommended", rec), ("current", cur))
                     if x["amount_mg"] == a and x["interval_h"] == t]
            label = "".join(f'<span class="tag">{w}</span>' for w in notes)
            medians = " &middot; ".join(_g(r[m]) for m in metrics)
            mark = ' class="marked"' if "recommended" in notes else ""
            ident = ' id="rec-cell"' if "recommended" in notes else ""
            tds.append(f'<td{mark}{ident}><span class="pta">{pct(r["probability"])}</span>'
                       f'<span class="median">{medians}</span>{label}</td>')
        rows.append(f'<tr><th scope="row">{a:g} mg</th>{"".join(tds)}</tr>')
    return (f'<table id="options" class="grid"><caption>Probability of target attainment by dose (rows) and interval '
            f'(columns)</caption><thead><tr><th scope="col">dose</th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def _metric_names(targets: list[dict]) -> str:
    return " and ".join(f"{t['name']} ({t.get('unit', '')})" for t in targets)


def _forecast_table(doc: dict, unit: str) -> str:
    rows = doc["forecast"]
    pick = np.unique(np.linspace(0, len(rows) - 1, FORECAST_ROWS).round().astype(int))
    body = [[_g(rows[i]["time"]), _g(rows[i]["map"]), _g(rows[i]["lower"]), _g(rows[i]["median"]),
             _g(rows[i]["upper"])] for i in pick]
    obs = [[_g(r["time"]), _g(r["value"]) if r["value"] is not None else f'&lt;{_g(r["lloq"])}']
           for r in doc["observed"]]
    return ("<details><summary>The measured levels and the forecast in numbers</summary>"
            + _table("observed", f"Measured levels ({unit})", ["time (h)", f"level ({unit})"], obs)
            + _table("forecast", f"Forecast ({unit})", ["time (h)", "this patient (MAP)", "5 %", "median", "95 %"], body)
            + "</details>")


def _table(ident: str, caption: str, heads: list[str], rows: list[list[str]], marked=None) -> str:
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in heads)
    out = []
    for k, row in enumerate(rows):
        cls = ' class="marked"' if marked and marked[k] else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    return (f'<table id="{ident}"><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(out)}</tbody></table>')


def _target(t: dict) -> str:
    lo, hi = t.get("lower"), t.get("upper")
    if lo is not None and hi is not None:
        rng = f"{lo:g}-{hi:g}"
    elif lo is not None:
        rng = f">= {lo:g}"
    else:
        rng = f"<= {hi:g}"
    return f"{t['name']} {rng} {t.get('unit', '')}".strip()


def _g(v) -> str:
    if v is None:
        return "&ndash;"
    if isinstance(v, float) and not math.isfinite(v):
        return "&ndash;"
    return f"{v:.4g}" if isinstance(v, float) else str(v)
