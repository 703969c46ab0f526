"""Trial specifications written by hand in TOML (see ``examples/README.md`` for every key).

:func:`load_trial_toml` returns the same constructor fields as :func:`vhtwin.trial.spec_codec.decode_trial`. Parsing
runs no code (``tomllib``); only a model given by ``path`` is a ``.py`` file, which is code and is imported. Every
problem is an :class:`~vhtwin.InputError` whose message starts with the TOML key path (``population.omega.CL``,
``arms[1].doses[0].repeated.interval``), then the value and what is allowed.
"""

from __future__ import annotations

import contextlib
import math
import tomllib
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..protocols.dosing import Dose, Regimen, Reset
from ..protocols.pacing import Pacing
from ..errors import InputError
from ..model import Model
from ..population import (
    IOV, Bernoulli, BodyMassIndex, CategoricalCovariate, CockcroftGault, CovariateTable, Covariates,
    ExponentialCovariate, LinearCovariate, LogNormal, Normal, Omega, Population, PowerCovariate, Residual, Uniform,
)
from .spec_codec import DEFAULTS, TRIAL_FIELDS

__all__ = ["load_trial_toml", "parse_trial_toml"]

_TOP_REQUIRED = ("seed", "n_per_arm", "outputs", "times", "model", "population", "arms")
_TOP_OPTIONAL = ("solver", "rtol", "atol", "precision", "independent_arms", "max_failure_fraction", "max_steps", "dt0")


# -- checks that name the key path ------------------------------------------------------------------------------------------
def _fail(path: str, message: str):
    raise InputError(f"{path}: {message}")


@contextlib.contextmanager
def _at(path: str):
    """Re-raise a vhtwin InputError (a constructor's own check) with the key path in front."""
    try:
        yield
    except InputError as e:
        if str(e).startswith(path):  # already names its key path
            raise
        raise InputError(f"{path}: {e}") from None


def _type_name(value) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
            dict: "a table"}.get(type(value), type(value).__name__)


def _table(value, path: str) -> dict:
    if not isinstance(value, dict):
        _fail(path, f"expected a table, got {_type_name(value)} {value!r}")
    return value


def _keys(table, path: str, required=(), optional=()) -> dict:
    table = _table(table, path)
    allowed = list(required) + list(optional)
    for key in table:
        if key not in allowed:
            _fail(_join(path, key), f"unknown key {key!r}; allowed keys here: {allowed}")
    for key in required:
        if key not in table:
            _fail(_join(path, key), f"missing required key {key!r} (in {path or 'the top level'}; keys: {allowed})")
    return table


def _join(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    key = str(key)
    if not (key.replace("_", "a").isalnum() and key.isascii()):
        key = f'"{key}"'
    return f"{path}.{key}" if path else key


def _number(value, path: str, *, positive=False, nonnegative=False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(path, f"expected a number, got {_type_name(value)} {value!r}")
    v = float(value)
    if not math.isfinite(v):
        _fail(path, f"{value!r} must be a finite number")
    if positive and not v > 0:
        _fail(path, f"{value!r} must be a number > 0")
    if nonnegative and not v >= 0:
        _fail(path, f"{value!r} must be a number >= 0")
    return v


def _opt_number(table, key, path, **kw):
    return None if key not in table else _number(table[key], _join(path, key), **kw)


def _integer(value, path: str, low: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(path, f"expected an integer, got {_type_name(value)} {value!r}")
    if low is not None and value < low:
        _fail(path, f"{value!r} must be an integer >= {low}")
    return value


def _string(value, path: str, allowed=None) -> str:
    if not isinstance(value, str):
        _fail(path, f"expected a string, got {_type_name(value)} {value!r}")
    if allowed is not None and value not in allowed:
        _fail(path, f"{value!r} is not allowed; allowed: {list(allowed)}")
    return value


def _boolean(value, path: str) -> bool:
    if not isinstance(value, bool):
        _fail(path, f"expected true or false, got {_type_name(value)} {value!r}")
    return value


def _array(value, path: str) -> list:
    if not isinstance(value, list):
        _fail(path, f"expected an array, got {_type_name(value)} {value!r}")
    return value


def _names(value, path: str, known, what: str) -> list[str]:
    out = []
    for i, v in enumerate(_array(value, path)):
        name = _string(v, _join(path, i))
        if name not in known:
            _fail(_join(path, i), f"unknown {what} {name!r}; allowed: {list(known)}")
        out.append(name)
    return out


# -- sections ---------------------------------------------------------------------------------------------------------------
def _model(table, base: Path) -> Model:
    from ..library import list_models, load_model

    t = _keys(table, "model", optional=("name", "path"))
    if ("name" in t) == ("path" in t):
        _fail("model", f"give exactly one of name (a library model, one of {list_models()}) or path (a .py file)")
    if "name" in t:
        name = _string(t["name"], "model.name")
        if name not in list_models():
            _fail("model.name", f"unknown library model {name!r}; the library has {list_models()}")
        with _at("model.name"):
            model = load_model(name)
    else:
        raw = _string(t["path"], "model.path")
        path = Path(raw)
        if not path.is_absolute():
            path = base / path
        if path.suffix != ".py" or not path.is_file():
            _fail("model.path", f"{raw!r} ({path}) must be an existing .py file (relative paths are relative to the TOML file)")
        with _at("model.path"):
            model = load_model(str(path.resolve()))
    if not isinstance(model, Model):
        _fail("model", f"{type(model).__name__} is not a vhtwin.Model (a DirectEffect is used through vh.link)")
    return model


def _times(value) -> np.ndarray:
    if isinstance(value, list):
        t = np.array([_number(v, f"times[{i}]") for i, v in enumerate(value)], dtype=float)
        if t.size == 0:
            _fail("times", "is empty; give at least one output time")
    else:
        table = _keys(value, "times", required=("start", "stop"), optional=("step", "count"))
        start, stop = _number(table["start"], "times.start"), _number(table["stop"], "times.stop")
        if ("step" in table) == ("count" in table):
            _fail("times", f"give exactly one of step or count with start and stop, got keys {list(table)}")
        if stop < start:
            _fail("times.stop", f"{stop!r} must be >= times.start {start!r}")
        if "step" in table:
            step = _number(table["step"], "times.step", positive=True)
            n = int(math.floor((stop - start) / step * (1 + 1e-12) + 1e-9)) + 1
            t = start + step * np.arange(n, dtype=float)
        else:
            n = _integer(table["count"], "times.count", low=1)
            if n == 1 and stop != start:
                _fail("times.count", "1 time point needs start == stop")
            t = np.linspace(start, stop, n)
    d = np.diff(t)
    if np.any(d <= 0):
        k = int(np.flatnonzero(d <= 0)[0])
        _fail(f"times[{k + 1}]", f"times must be strictly increasing; {t[k + 1]!r} follows times[{k}] = {t[k]!r}")
    return t


def _tolerance(value, path: str, model: Model):
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k not in model.state_names:
                _fail(_join(path, k), f"unknown state {k!r}; the states are {list(model.state_names)}")
            out[k] = _number(v, _join(path, k), positive=True)
        return out
    return _number(value, path, positive=True)


def _parameter_table(value, path: str, model: Model, *, nonnegative=False) -> dict[str, float]:
    out = {}
    for k, v in _table(value, path).items():
        if k not in model.parameter_names:
            _fail(_join(path, k), f"unknown parameter {k!r} for model {model.name}; its parameters are {list(model.parameter_names)}")
        out[k] = _number(v, _join(path, k), nonnegative=nonnegative)
    return out


_COVARIATE_KINDS = {
    "normal": (Normal, ("mean", "sd"), ("lower", "upper", "unit")),
    "lognormal": (LogNormal, ("median",), ("cv", "sd_log", "lower", "upper", "unit")),
    "uniform": (Uniform, ("low", "high"), ("unit",)),
    "bernoulli": (Bernoulli, ("p",), ("unit",)),
}
_DERIVED_KINDS = {
    "cockcroft_gault": (CockcroftGault, ("age", "weight", "sex", "scr", "female", "unit")),
    "body_mass_index": (BodyMassIndex, ("weight", "height", "unit")),
}


def _covariate(value, path: str, derived_only=False):
    t = _table(value, path)
    if "derived" in t:
        kind = _string(t["derived"], _join(path, "derived"), allowed=_DERIVED_KINDS)
        cls, optional = _DERIVED_KINDS[kind]
        _keys(t, path, required=("derived",), optional=optional)
        args = {}
        for k in optional:
            if k in t:
                args[k] = _number(t[k], _join(path, k)) if k == "female" else _string(t[k], _join(path, k))
        with _at(path):
            return cls(**args)
    if derived_only:
        _fail(_join(path, "derived"), f"missing required key 'derived' (one of {list(_DERIVED_KINDS)})")
    if "distribution" not in t:
        _fail(_join(path, "distribution"),
              f"missing required key 'distribution' (one of {list(_COVARIATE_KINDS)}) or 'derived' (one of {list(_DERIVED_KINDS)})")
    kind = _string(t["distribution"], _join(path, "distribution"), allowed=_COVARIATE_KINDS)
    cls, required, optional = _COVARIATE_KINDS[kind]
    _keys(t, path, required=("distribution",) + required, optional=optional)
    args = {}
    for k in required + optional:
        if k in t:
            args[k] = _string(t[k], _join(path, k)) if k == "unit" else _number(t[k], _join(path, k))
    with _at(path):
        return cls(**args)


def _covariates(pop: dict):
    given = [k for k in ("covariates", "covariate_table", "physiology") if k in pop]
    if len(given) > 1:
        _fail("population", f"give one source of covariates -- covariates (drawn), covariate_table (values) or "
                            f"physiology (virtual adults) -- not {' and '.join(given)}")
    if "physiology" in pop:
        from ..physiology.covariates import Individuals

        path = "population.physiology"
        t = _keys(pop["physiology"], path, optional=("age", "sex", "weight", "bmi", "volume_cv", "flow_cv"))
        args = {}
        for key in ("age", "weight", "bmi"):
            if key in t:
                pair = _array(t[key], _join(path, key))
                if len(pair) != 2:
                    _fail(_join(path, key), f"{t[key]!r} must be [low, high]")
                args[key] = [_number(v, _join(_join(path, key), i)) for i, v in enumerate(pair)]
        if "sex" in t:
            args["sex"] = t["sex"] if isinstance(t["sex"], str) else _number(t["sex"], _join(path, "sex"))
        for key in ("volume_cv", "flow_cv"):
            if key in t:
                args[key] = _number(t[key], _join(path, key), nonnegative=True)
        with _at(path):
            return Individuals(**args)
    if "covariate_correlation" in pop and "covariates" not in pop:
        _fail("population.covariate_correlation", "needs population.covariates (correlations apply to drawn covariates)")
    if "covariates" in pop:
        spec = {name: _covariate(v, _join("population.covariates", name))
                for name, v in _table(pop["covariates"], "population.covariates").items()}
        correlation = None
        if "covariate_correlation" in pop:
            correlation = {}
            for i, entry in enumerate(_array(pop["covariate_correlation"], "population.covariate_correlation")):
                path = f"population.covariate_correlation[{i}]"
                e = _keys(entry, path, required=("between", "rho"))
                between = _names(e["between"], _join(path, "between"), list(spec), "covariate")
                if len(between) != 2:
                    _fail(_join(path, "between"), f"{between!r} must name exactly two covariates")
                correlation[tuple(between)] = _number(e["rho"], _join(path, "rho"))
        with _at("population.covariates"):
            return Covariates(spec, correlation=correlation)
    if "covariate_table" in pop:
        path = "population.covariate_table"
        t = _keys(pop["covariate_table"], path, optional=("columns", "csv", "units", "resample", "derived"))
        if ("columns" in t) == ("csv" in t):
            _fail(path, "give exactly one of columns (a table of arrays) or csv (a file)")
        if "columns" in t:
            data = {}
            for name, col in _table(t["columns"], _join(path, "columns")).items():
                cpath = _join(_join(path, "columns"), name)
                values = _array(col, cpath)
                for i, v in enumerate(values):
                    if isinstance(v, (list, dict)):
                        _fail(_join(cpath, i), f"expected a number or a string, got {_type_name(v)}")
                data[name] = np.asarray(values) if values and not all(isinstance(v, bool) for v in values) else np.asarray(values, dtype=bool)
        else:
            import pandas as pd

            file = Path(_string(t["csv"], _join(path, "csv")))
            if not file.is_absolute():
                file = _BASE[-1] / file
            if not file.is_file():
                _fail(_join(path, "csv"), f"{t['csv']!r} ({file}) is not a file (relative paths are relative to the TOML file)")
            data = pd.read_csv(file)
        units = {k: _string(v, _join(_join(path, "units"), k)) for k, v in _table(t.get("units", {}), _join(path, "units")).items()}
        derived = {k: _covariate(v, _join(_join(path, "derived"), k), derived_only=True)
                   for k, v in _table(t.get("derived", {}), _join(path, "derived")).items()}
        resample = _boolean(t.get("resample", False), _join(path, "resample"))
        with _at(path):
            return CovariateTable(data, units=units or None, resample=resample, derived=derived or None)
    return None


_COVARIATE_MODEL_KINDS = {
    "power": (PowerCovariate, ("reference", "exponent")),
    "linear": (LinearCovariate, ("reference", "slope")),
    "exponential": (ExponentialCovariate, ("reference", "coefficient")),
    "categorical": (CategoricalCovariate, ("factors",)),
}


def _covariate_models(value, model: Model, covariate_names) -> list:
    out = []
    for i, entry in enumerate(_array(value, "population.covariate_models")):
        path = f"population.covariate_models[{i}]"
        t = _table(entry, path)
        if "type" not in t:
            _fail(_join(path, "type"), f"missing required key 'type' (one of {list(_COVARIATE_MODEL_KINDS)})")
        kind = _string(t["type"], _join(path, "type"), allowed=_COVARIATE_MODEL_KINDS)
        cls, fields = _COVARIATE_MODEL_KINDS[kind]
        _keys(t, path, required=("type", "param", "covariate") + fields)
        param = _string(t["param"], _join(path, "param"))
        if param not in model.parameter_names:
            _fail(_join(path, "param"), f"unknown parameter {param!r} for model {model.name}; its parameters are {list(model.parameter_names)}")
        covariate = _string(t["covariate"], _join(path, "covariate"))
        if covariate not in covariate_names:
            _fail(_join(path, "covariate"), f"unknown covariate {covariate!r}; the covariates are {list(covariate_names)}")
        if kind == "categorical":
            factors = {}
            for j, level in enumerate(_array(t["factors"], _join(path, "factors"))):
                lpath = f"{path}.factors[{j}]"
                e = _keys(level, lpath, required=("level", "factor"))
                if not isinstance(e["level"], (int, float, str)):
                    _fail(_join(lpath, "level"), f"expected a number, string or boolean, got {_type_name(e['level'])}")
                factors[e["level"]] = _number(e["factor"], _join(lpath, "factor"))
            args = {"factors": factors}
        else:
            args = {k: _number(t[k], _join(path, k)) for k in fields}
        with _at(path):
            out.append(cls(param, covariate, **args))
    return out


def _distribution(value, model: Model):
    path = "population.distribution"
    kinds = ("lognormal", "normal", "logit")
    if isinstance(value, str):
        return _string(value, path, allowed=kinds)
    out = {}
    for name, d in _table(value, path).items():
        p = _join(path, name)
        if name not in model.parameter_names:
            _fail(p, f"unknown parameter {name!r} for model {model.name}; its parameters are {list(model.parameter_names)}")
        if isinstance(d, dict):
            e = _keys(d, p, required=("kind",), optional=("lower", "upper"))
            kind = _string(e["kind"], _join(p, "kind"), allowed=kinds)
            if kind != "logit" and ("lower" in e or "upper" in e):
                _fail(p, f"lower/upper apply to kind 'logit' only, not {kind!r}")
            if "lower" in e or "upper" in e:
                if not ("lower" in e and "upper" in e):
                    _fail(p, "give both lower and upper (or neither: the parameter's declared bounds)")
                out[name] = ("logit", _number(e["lower"], _join(p, "lower")), _number(e["upper"], _join(p, "upper")))
            else:
                out[name] = kind
        else:
            out[name] = _string(d, p, allowed=kinds)
    return out


def population_from_toml(table, model: Model) -> Population:
    """The :class:`vhtwin.Population` a ``[population]`` TOML table describes for ``model`` (checked, errors name
    the key path)."""
    path = "population"
    pop = _keys(table, path, optional=(
        "typical", "omega", "omega_blocks", "cv", "distribution", "covariates", "covariate_table", "covariate_correlation",
        "physiology",
        "covariate_models", "residual", "iov",
    ))
    typical = _parameter_table(pop.get("typical", {}), "population.typical", model)
    for k, v in typical.items():
        with _at(_join("population.typical", k)):
            Population(model, typical={k: v})
    diagonal = _parameter_table(pop.get("omega", {}), "population.omega", model, nonnegative=True)
    blocks = []
    for i, entry in enumerate(_array(pop.get("omega_blocks", []), "population.omega_blocks")):
        bpath = f"population.omega_blocks[{i}]"
        e = _keys(entry, bpath, required=("names", "matrix"))
        names = _names(e["names"], _join(bpath, "names"), model.parameter_names, "parameter")
        rows = _array(e["matrix"], _join(bpath, "matrix"))
        matrix = [[_number(x, f"{bpath}.matrix[{r}][{c}]") for c, x in enumerate(_array(row, f"{bpath}.matrix[{r}]"))]
                  for r, row in enumerate(rows)]
        with _at(bpath):
            Omega(blocks=[(tuple(names), matrix)])
        blocks.append((tuple(names), matrix))
    with _at("population.omega_blocks" if blocks else "population.omega"):
        omega = Omega(diagonal, blocks=blocks)
    distribution = None if "distribution" not in pop else _distribution(pop["distribution"], model)
    with _at("population.omega_blocks" if blocks else "population.omega"):
        Population(model, typical=typical, omega=omega, distribution=distribution)  # variances on their scales
    covariates = _covariates(pop)
    names = () if covariates is None else covariates.names
    models = _covariate_models(pop.get("covariate_models", []), model, names)
    residual = None
    if "residual" in pop:
        r = _keys(pop["residual"], "population.residual", optional=("additive", "proportional", "exponential", "combined"))
        args = {k: _number(r[k], _join("population.residual", k), nonnegative=True)
                for k in ("additive", "proportional", "exponential") if k in r}
        if "combined" in r:
            args["combined"] = _string(r["combined"], "population.residual.combined", allowed=("variance", "sum"))
        with _at("population.residual"):
            residual = Residual(**args)
    iov = None
    if "iov" in pop:
        r = _keys(pop["iov"], "population.iov", required=("variances", "n_occasions"))
        variances = _parameter_table(r["variances"], "population.iov.variances", model, nonnegative=True)
        n = _integer(r["n_occasions"], "population.iov.n_occasions", low=1)
        with _at("population.iov"):
            iov = IOV(variances, n)
    cv = _parameter_table(pop["cv"], "population.cv", model, nonnegative=True) if "cv" in pop else None
    with _at("population.cv" if cv else path):
        return Population(model, typical=typical, omega=omega, covariates=covariates, covariate_models=models,
                          residual=residual, distribution=distribution, iov=iov, cv=cv)


# -- arms -----------------------------------------------------------------------------------------------------------------
_DOSE_KINDS = {
    "bolus": (("amount", "into"), ("at", "per")),
    "infusion": (("amount", "into"), ("duration", "rate", "at", "per")),
    "repeated": (("amount", "interval", "count", "into"), ("start", "duration", "rate", "per", "steady_state")),
    "dose": (("time", "amount", "into"), ("duration", "per", "ss_interval", "modelled")),
}


def _dose_entry(entry, path: str, model: Model, covariate_names) -> Regimen:
    t = _table(entry, path)
    if len(t) != 1 or next(iter(t)) not in _DOSE_KINDS:
        _fail(path, f"a dose entry is a table with exactly one key, one of {list(_DOSE_KINDS)}; got keys {list(t)}")
    kind, spec = next(iter(t.items()))
    p = _join(path, kind)
    required, optional = _DOSE_KINDS[kind]
    s = _keys(spec, p, required=required, optional=optional)
    into = _string(s["into"], _join(p, "into"))
    if into not in model.dosable_states:
        _fail(_join(p, "into"), f"unknown dose target {into!r}; the dosable states of {model.name} are {list(model.dosable_states)}")
    amount = _number(s["amount"], _join(p, "amount"), nonnegative=True)
    per = None
    if "per" in s:
        per = _string(s["per"], _join(p, "per"))
        if per not in covariate_names:
            _fail(_join(p, "per"), f"unknown covariate {per!r}; the population's covariates are {list(covariate_names)}")

    def time_or_model(key):
        if key not in s:
            return None
        if s[key] == "model":
            return "model"
        return _number(s[key], _join(p, key), positive=True)

    with _at(p):
        if kind == "bolus":
            return Regimen.bolus(amount, into, at=_opt_number(s, "at", p) or 0.0, per=per)
        if kind == "infusion":
            return Regimen.infusion(amount, into, duration=time_or_model("duration"), rate=time_or_model("rate"),
                                    at=_opt_number(s, "at", p) or 0.0, per=per)
        if kind == "repeated":
            return Regimen.repeated(
                amount, _number(s["interval"], _join(p, "interval"), positive=True),
                _integer(s["count"], _join(p, "count"), low=1), into,
                start=_opt_number(s, "start", p) or 0.0, duration=time_or_model("duration"), rate=time_or_model("rate"),
                per=per, steady_state=_boolean(s.get("steady_state", False), _join(p, "steady_state")),
            )
        modelled = None if "modelled" not in s else _string(s["modelled"], _join(p, "modelled"), allowed=("rate", "duration"))
        return Regimen((Dose(
            _number(s["time"], _join(p, "time")), amount, into,
            _opt_number(s, "duration", p, nonnegative=True) or 0.0, per,
            _opt_number(s, "ss_interval", p, nonnegative=True) or 0.0, modelled,
        ),))


def _pacing_entry(entry, path: str, model: Model) -> Pacing:
    t = _keys(entry, path, required=("period", "duration", "count"), optional=("amplitude", "start", "input"))
    args = {
        "period": _number(t["period"], _join(path, "period"), positive=True),
        "duration": _number(t["duration"], _join(path, "duration"), positive=True),
        "count": _integer(t["count"], _join(path, "count"), low=1),
    }
    if "amplitude" in t:
        args["amplitude"] = _number(t["amplitude"], _join(path, "amplitude"))
    if "start" in t:
        args["start"] = _number(t["start"], _join(path, "start"))
    if "input" in t:
        args["input"] = _string(t["input"], _join(path, "input"), allowed=[i.name for i in model.inputs])
    with _at(path):
        pacing = Pacing(**args)
        pacing.for_model(model)  # the model must have the input it drives
    return pacing


def arms_from_toml(value, model: Model, covariate_names) -> dict:
    """``{name: arm}`` from an ``[[arms]]`` TOML array of tables (doses, resets, pacing), checked against ``model``
    and the population's ``covariate_names``; errors name the key path."""
    arms = {}
    entries = _array(value, "arms")
    if not entries:
        _fail("arms", "give at least one arm ([[arms]] with name and doses, pacing, or neither)")
    for i, entry in enumerate(entries):
        path = f"arms[{i}]"
        a = _keys(entry, path, required=("name",), optional=("doses", "resets", "pacing"))
        name = _string(a["name"], _join(path, "name"))
        if name in arms:
            _fail(_join(path, "name"), f"arm name {name!r} is used twice; arm names must be unique")
        regimen = Regimen()
        if "doses" in a:
            doses = _array(a["doses"], _join(path, "doses"))
            if not doses:
                _fail(_join(path, "doses"), "an empty array of doses: leave the key out for an arm without doses, "
                                            "or give amount = 0.0 for a placebo arm")
            for j, d in enumerate(doses):
                regimen = regimen + _dose_entry(d, f"{path}.doses[{j}]", model, covariate_names)
        resets = []
        for j, r in enumerate(_array(a.get("resets", []), _join(path, "resets"))):
            rpath = f"{path}.resets[{j}]"
            e = _keys(r, rpath, required=("at",), optional=("state",))
            state = None
            if "state" in e:
                state = {}
                for k, v in _table(e["state"], _join(rpath, "state")).items():
                    if k not in model.state_names:
                        _fail(_join(_join(rpath, "state"), k), f"unknown state {k!r}; the states are {list(model.state_names)}")
                    state[k] = _number(v, _join(_join(rpath, "state"), k))
            with _at(rpath):
                resets.append(Reset(_number(e["at"], _join(rpath, "at")), state))
        pacing = a.get("pacing", [])
        pacing = [pacing] if isinstance(pacing, dict) else _array(pacing, _join(path, "pacing"))
        trains = [_pacing_entry(p, f"{path}.pacing" + (f"[{j}]" if isinstance(a["pacing"], list) else ""), model)
                  for j, p in enumerate(pacing)]
        regimen = Regimen(regimen.doses, regimen.resets + tuple(resets))
        protocol = None if not (regimen.doses or regimen.resets) else regimen
        for train in trains:
            protocol = train if protocol is None else protocol + train
        arms[name] = protocol
    return arms


# -- entry points ---------------------------------------------------------------------------------------------------------
_BASE: list[Path] = [Path.cwd()]


def parse_trial_toml(data: Mapping[str, Any], base: str | Path = ".") -> dict:
    """Constructor fields from an already parsed TOML document; relative paths are relative to ``base``."""
    base = Path(base)
    _BASE.append(base)
    try:
        top = _keys(dict(data), "", required=_TOP_REQUIRED, optional=_TOP_OPTIONAL)
        model = _model(top["model"], base)
        population = population_from_toml(top["population"], model)
        covariate_names = () if population.covariates is None else population.covariates.names
        allowed_outputs = model.observable_names + model.state_names
        outputs = _names(top["outputs"], "outputs", allowed_outputs, "output (observable or state)")
        if not outputs:
            _fail("outputs", f"give at least one output; allowed: {list(allowed_outputs)}")
        fields = {
            "model": model,
            "population": population,
            "arms": arms_from_toml(top["arms"], model, covariate_names),
            "n_per_arm": _integer(top["n_per_arm"], "n_per_arm", low=1),
            "times": _times(top["times"]),
            "outputs": outputs,
            "solver": _string(top.get("solver", DEFAULTS["solver"]), "solver"),
            "rtol": _tolerance(top.get("rtol", DEFAULTS["rtol"]), "rtol", model),
            "atol": _tolerance(top.get("atol", DEFAULTS["atol"]), "atol", model),
            "precision": None if "precision" not in top else _string(top["precision"], "precision", ("float64", "float32")),
            "seed": _integer(top["seed"], "seed", low=0),
            "independent_arms": _boolean(top.get("independent_arms", DEFAULTS["independent_arms"]), "independent_arms"),
            "max_failure_fraction": _number(top.get("max_failure_fraction", DEFAULTS["max_failure_fraction"]),
                                            "max_failure_fraction", nonnegative=True),
            "max_steps": _integer(top.get("max_steps", DEFAULTS["max_steps"]), "max_steps", low=1),
            "dt0": None if "dt0" not in top else _number(top["dt0"], "dt0", positive=True),
        }
        if fields["max_failure_fraction"] > 1:
            _fail("max_failure_fraction", f"{fields['max_failure_fraction']!r} must be in [0, 1]")
        if fields["seed"] >= 2**64:
            _fail("seed", f"{fields['seed']!r} must be an integer from 0 to 2**64 - 1")
        if fields["solver"] != "auto":
            with _at("solver"):
                from ..validation import resolve_solver

                resolve_solver(model, fields["solver"])
        assert tuple(fields) == tuple(f for f in TRIAL_FIELDS)
        return fields
    finally:
        _BASE.pop()


def load_trial_toml(path: str | Path) -> dict:
    """Constructor fields of a trial (as :func:`vhtwin.trial.spec_codec.decode_trial` returns) from a TOML file.

    Raises
    ------
    InputError
        If the file cannot be read or parsed, or any key is unknown, missing, of the wrong type or out of range;
        the message names the key path (e.g. ``population.omega.CL``), the value and what is allowed.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise InputError(f"trial TOML file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"trial TOML file {str(path)!r} is not valid TOML: {e}") from None
    return parse_trial_toml(data, path.resolve().parent)
