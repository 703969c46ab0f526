"""A lossless, JSON-safe encoding of an in-silico trial's specification.

Used as provenance (a JSON string in a result store's attributes) and to decide whether a store and a new run are
the same trial (for resuming): two specs are the same trial exactly when their encodings compare equal. The
encoding is *normalised*: a population's typical values include the model's defaults, its distributions are listed
for every parameter, Omega is stored as the validated diagonal and blocks -- so equivalent inputs encode equally.

Everything in an encoding is plain JSON (dicts with string keys, lists, strings, finite floats, ints, booleans,
null); ``json.loads(json.dumps(x)) == x`` holds and floats round-trip exactly. Only declarative objects can be
encoded: library models or models from a ``.py`` file (by path and source hash), the population classes of
:mod:`vhtwin.population`, and protocols (regimens with scalar amounts, pacing trains, their sums). Anything that would need code (a ``Derived`` covariate
with a user function, a composed model made by :func:`vhtwin.link`, a solver instance) raises :class:`InputError`.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import sys
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import numpy as np

from ..protocols.dosing import Dose, Regimen, Reset
from ..protocols.pacing import Combined, Pacing
from ..errors import InputError
from ..model import Model
from ..population import (
    IOV, Bernoulli, BodyMassIndex, CategoricalCovariate, CockcroftGault, CovariateTable, Covariates, Derived,
    ExponentialCovariate, LinearCovariate, LogNormal, Normal, Omega, Population, PowerCovariate, Residual, Uniform,
)

FORMAT = "vhtwin-trial/1"

#: Values of the optional trial fields when a spec does not give them.
DEFAULTS: dict[str, Any] = {
    "solver": "auto",
    "rtol": 1e-6,
    "atol": 1e-9,
    "precision": None,
    "independent_arms": False,
    "max_failure_fraction": 0.01,
    "max_steps": 100_000,
    "dt0": None,
}

#: Every field of a trial spec, in order (the keys ``decode_trial`` returns).
TRIAL_FIELDS = (
    "model", "population", "arms", "n_per_arm", "times", "outputs", "solver", "rtol", "atol", "precision", "seed",
    "independent_arms", "max_failure_fraction", "max_steps", "dt0",
)

_DISTRIBUTIONS = {"Normal": Normal, "LogNormal": LogNormal, "Uniform": Uniform, "Bernoulli": Bernoulli}
_DERIVED = {"CockcroftGault": CockcroftGault, "BodyMassIndex": BodyMassIndex}
_COVARIATE_MODELS = {
    "PowerCovariate": PowerCovariate, "LinearCovariate": LinearCovariate,
    "ExponentialCovariate": ExponentialCovariate, "CategoricalCovariate": CategoricalCovariate,
}


# -- small helpers ------------------------------------------------------------------------------------------------------
def _plain(value, where: str):
    """A scalar as a JSON-safe Python value (numpy scalars unwrapped; non-finite floats refused)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(f"{where}: value {value!r} is not finite and cannot be stored in a trial spec")
        return value
    raise InputError(f"{where}: value {value!r} of type {type(value).__name__} cannot be stored in a trial spec")


def _plain_tree(value, where: str):
    """A scalar, or a list of scalars, as JSON-safe values."""
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    return _plain(value, where)


def _float(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{where}: {value!r} must be a number")
    v = float(value)
    if not math.isfinite(v):
        raise InputError(f"{where}: {value!r} must be a finite number")
    return v


def _expect(d, keys: tuple[str, ...], where: str, optional: tuple[str, ...] = ()) -> Mapping:
    if not isinstance(d, Mapping):
        raise InputError(f"{where}: expected a dict, got {type(d).__name__}")
    missing = [k for k in keys if k not in d]
    unknown = [k for k in d if k not in keys and k not in optional]
    if missing or unknown:
        raise InputError(f"{where}: missing keys {missing}, unknown keys {unknown}; expected {list(keys + optional)}")
    return d


def _fields(obj) -> dict:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


# -- model ----------------------------------------------------------------------------------------------------------------
def _library_name(cls: type) -> str | None:
    module = cls.__module__
    parts = module.split(".")
    if len(parts) == 4 and parts[:2] == ["vhtwin", "models"]:
        return f"{parts[2]}/{parts[3]}"
    return None


def encode_model(model) -> dict:
    """``{"name", "source_sha256"}`` for a library model, ``{"path", "name", "source_sha256"}`` for a model file.

    Raises
    ------
    InputError
        If the model's class comes from neither the library nor a ``.py`` file that defines only it (e.g. a model
        made by :func:`vhtwin.link` or defined in an interactive session).
    """
    if not isinstance(model, Model):
        raise InputError(f"trial spec: model must be a vhtwin.Model instance, got {type(model).__name__}")
    cls = type(model)
    library = _library_name(cls)
    if library is not None:
        return {"name": library, "source_sha256": model.source_hash()}
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None)
    if path is None or not str(path).endswith(".py") or not Path(path).is_file():
        raise InputError(
            f"model {model.name!r} (class {cls.__qualname__}) has no source file: to be stored in a trial spec the "
            "model must come from the library (vh.load_model(name)) or from a .py file (vh.load_model(path))"
        )
    classes = [
        obj for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, Model) and obj is not Model and obj.__module__ == module.__name__
    ]
    if classes != [cls]:
        raise InputError(
            f"model {model.name!r}: its file {path} defines {[c.__name__ for c in classes]}; to be stored in a trial "
            "spec the model must come from the library or from a .py file that defines exactly one Model subclass"
        )
    return {"path": str(Path(path).resolve()), "name": model.name, "source_sha256": model.source_hash()}


def decode_model(d: Mapping) -> Model:
    """The model of :func:`encode_model`'s dict, loaded by library name or path, its source hash checked.

    Raises
    ------
    InputError
        If the model cannot be found, or its source changed since the spec was written.
    """
    from ..library import load_model

    if not isinstance(d, Mapping):
        raise InputError(f"trial spec model: expected a dict, got {type(d).__name__}")
    if "path" in d:
        _expect(d, ("path", "name", "source_sha256"), "trial spec model")
        model = load_model(str(d["path"]))
        label = d["path"]
    else:
        _expect(d, ("name", "source_sha256"), "trial spec model")
        model = load_model(d["name"])
        label = d["name"]
    if not isinstance(model, Model):
        raise InputError(f"trial spec model {label!r} is a {type(model).__name__}, not a vhtwin.Model")
    if model.source_hash() != d["source_sha256"]:
        raise InputError(
            f"model {label!r} changed since the spec was written (source hash {d['source_sha256']} in the spec, "
            f"{model.source_hash()} now)"
        )
    return model


# -- population -----------------------------------------------------------------------------------------------------------
def _encode_covariate(name: str, d) -> dict:
    kind = type(d).__name__
    if type(d) in _DISTRIBUTIONS.values() or type(d) in _DERIVED.values():
        fields = {k: _plain(v, f"covariate {name!r} {k}") for k, v in _fields(d).items() if k not in ("function", "inputs")}
        return {"name": name, "kind": kind, **fields}
    if isinstance(d, Derived):
        raise InputError(
            f"covariate {name!r}: a Derived covariate with its own function cannot be stored in a trial spec (it is "
            f"code); use CockcroftGault or BodyMassIndex, or put the values in a CovariateTable"
        )
    raise InputError(f"covariate {name!r}: {kind} cannot be stored in a trial spec; allowed: "
                     f"{list(_DISTRIBUTIONS) + list(_DERIVED)}")


def _decode_covariate(e: Mapping):
    kinds = {**_DISTRIBUTIONS, **_DERIVED}
    if not isinstance(e, Mapping) or e.get("kind") not in kinds:
        raise InputError(f"trial spec covariate {e!r}: kind must be one of {list(kinds)}")
    args = {k: v for k, v in e.items() if k not in ("name", "kind")}
    return e["name"], kinds[e["kind"]](**args)


def _encode_column(name: str, a: np.ndarray) -> dict:
    kind = a.dtype.kind
    if kind == "f":
        values = [v if math.isfinite(v) else repr(v) for v in a.tolist()]  # 'nan', 'inf', '-inf'
    elif kind in "biuU":
        values = a.tolist()
    else:
        raise InputError(f"covariate table column {name!r} has dtype {a.dtype}; a trial spec stores numbers, booleans or strings")
    return {"name": name, "dtype": a.dtype.str, "values": values}


def _decode_column(e: Mapping) -> np.ndarray:
    dtype = np.dtype(e["dtype"])
    if dtype.kind == "f":
        return np.array([float(v) for v in e["values"]], dtype=dtype)
    return np.array(e["values"], dtype=dtype)


def _encode_covariates(source) -> dict | None:
    if source is None:
        return None
    if type(source) is Covariates:
        entries = [_encode_covariate(n, source.distributions[n] if n in source.distributions else source.derived[n]) for n in source.names]
        drawn = list(source.distributions)
        c = np.asarray(source.correlation)
        corr = None if np.array_equal(c, np.eye(len(drawn))) else {"names": drawn, "matrix": c.tolist()}
        return {"kind": "Covariates", "covariates": entries, "correlation": corr}
    if type(source) is CovariateTable:
        out = {
            "kind": "CovariateTable",
            "columns": [_encode_column(n, a) for n, a in source.columns.items()],
            "units": {k: v for k, v in source.units.items() if k in source.columns and v is not None},
            "resample": bool(source.resample),
            "derived": [_encode_covariate(n, d) for n, d in source.derived.items()],
        }
        if source.allow_identifiers:  # the user's explicit choice, kept (absent otherwise: specs stay as they were)
            out["allow_identifiers"] = True
        return out
    from ..physiology.covariates import Individuals

    if type(source) is Individuals:
        return {"kind": "Individuals", **{k: _plain_tree(v, f"Individuals {k}") for k, v in source.fields().items()}}
    raise InputError(f"population covariates of type {type(source).__name__} cannot be stored in a trial spec; "
                     "use vh.Covariates, vh.CovariateTable or vh.physiology.Individuals")


def _decode_covariates(d):
    if d is None:
        return None
    if d.get("kind") == "Covariates":
        spec = dict(_decode_covariate(e) for e in d["covariates"])
        corr = d.get("correlation")
        return Covariates(spec, correlation=None if corr is None else (tuple(corr["names"]), corr["matrix"]))
    if d.get("kind") == "CovariateTable":
        columns = {e["name"]: _decode_column(e) for e in d["columns"]}
        derived = dict(_decode_covariate(e) for e in d["derived"])
        return CovariateTable(columns, units=d["units"] or None, resample=d["resample"], derived=derived or None,
                              allow_identifiers=d.get("allow_identifiers") is True)
    if d.get("kind") == "Individuals":
        from ..physiology.covariates import Individuals

        args = {k: v for k, v in d.items() if k != "kind"}
        return Individuals(**args)
    raise InputError(f"trial spec population covariates: unknown kind {d.get('kind')!r}")


def _encode_covariate_model(cm) -> dict:
    kind = type(cm).__name__
    if type(cm) not in _COVARIATE_MODELS.values():
        raise InputError(f"covariate model {cm!r} cannot be stored in a trial spec; allowed: {list(_COVARIATE_MODELS)}")
    out = {"kind": kind}
    for k, v in _fields(cm).items():
        if k == "factors":
            out[k] = [[_plain(level, f"{kind} level"), _plain(f, f"{kind} factor")] for level, f in v.items()]
        else:
            out[k] = _plain(v, f"{kind} {k}")
    return out


def _decode_covariate_model(e: Mapping):
    cls = _COVARIATE_MODELS.get(e.get("kind"))
    if cls is None:
        raise InputError(f"trial spec covariate model: kind {e.get('kind')!r} must be one of {list(_COVARIATE_MODELS)}")
    args = {k: v for k, v in e.items() if k != "kind"}
    if "factors" in args:
        args["factors"] = {level: f for level, f in args["factors"]}
    return cls(**args)


def encode_population(pop: Population) -> dict:
    """Everything a :class:`vhtwin.Population` was given, normalised, as a JSON-safe dict (the model excluded)."""
    if not isinstance(pop, Population):
        raise InputError(f"trial spec: population must be a vhtwin.Population, got {type(pop).__name__}")
    bounds = getattr(pop, "_bounds", {})
    distribution = {}
    for name, kind in pop.distribution.items():
        if kind == "logit":
            lo, hi = bounds[name]
            distribution[name] = ["logit", _float(lo, f"logit lower bound of {name}"), _float(hi, f"logit upper bound of {name}")]
        else:
            distribution[name] = kind
    return {
        "typical": {k: float(v) for k, v in pop.typical.items()},
        "omega": {
            "diagonal": {k: float(v) for k, v in pop.omega.diagonal.items()},
            "blocks": [{"names": list(names), "matrix": np.asarray(m, dtype=float).tolist()} for names, m in pop.omega.blocks],
        },
        "distribution": distribution,
        "covariates": _encode_covariates(pop.covariates),
        "covariate_models": [_encode_covariate_model(cm) for cm in pop.covariate_models],
        "residual": None if pop.residual is None else {k: _plain(v, f"residual {k}") for k, v in _fields(pop.residual).items()},
        "iov": None if pop.iov is None else {
            "variances": {k: float(v) for k, v in pop.iov.variances.items()}, "n_occasions": int(pop.iov.n_occasions),
        },
    }


def decode_population(d: Mapping, model: Model) -> Population:
    """The :class:`vhtwin.Population` of :func:`encode_population`'s dict, for ``model``."""
    _expect(d, ("typical", "omega", "distribution", "covariates", "covariate_models", "residual", "iov"),
            "trial spec population")
    omega = Omega(d["omega"]["diagonal"], blocks=[(tuple(b["names"]), b["matrix"]) for b in d["omega"]["blocks"]])
    distribution = {k: tuple(v) if isinstance(v, list) else v for k, v in d["distribution"].items()}
    return Population(
        model,
        typical=d["typical"],
        omega=omega,
        covariates=_decode_covariates(d["covariates"]),
        covariate_models=[_decode_covariate_model(e) for e in d["covariate_models"]],
        residual=None if d["residual"] is None else Residual(**d["residual"]),
        distribution=distribution,
        iov=None if d["iov"] is None else IOV(dict(d["iov"]["variances"]), int(d["iov"]["n_occasions"])),
    )


# -- regimen ----------------------------------------------------------------------------------------------------------------
def encode_regimen(reg: Regimen) -> list[dict]:
    """The doses (``{"kind": "dose", ...every Dose field}``) then the resets (``{"kind": "reset", "time", "state"}``).

    Raises
    ------
    InputError
        For a per-patient (array) amount or reset value: a trial spec holds one schedule for every patient (give
        amounts per unit of a covariate with ``per=`` instead).
    """
    if not isinstance(reg, Regimen):
        raise InputError(f"trial spec: a regimen must be a vhtwin.Regimen, got {type(reg).__name__}")
    out = []
    for d in reg.doses:
        amount = np.asarray(d.amount)
        if amount.ndim != 0:
            raise InputError(
                f"dose {d.describe()}: a trial spec cannot hold per-patient amounts (an array); give a scalar amount, "
                "per unit of a covariate with per= (e.g. mg/kg with per='WT') where it varies by patient"
            )
        out.append({
            "kind": "dose", "time": float(d.time), "amount": float(amount), "into": d.into,
            "duration": float(d.duration), "per": d.per, "ss_interval": float(d.ss_interval), "modelled": d.modelled,
        })
    for r in reg.resets:
        state = None
        if r.state is not None:
            state = {}
            for name, value in r.state.items():
                v = np.asarray(value, dtype=float)
                if v.ndim != 0:
                    raise InputError(f"{r.describe()}: a trial spec cannot hold per-patient reset values of {name!r} (an array)")
                state[str(name)] = float(v)
        out.append({"kind": "reset", "time": float(r.time), "state": state})
    return out


def decode_regimen(x) -> Regimen:
    """The :class:`vhtwin.Regimen` of :func:`encode_regimen`'s list."""
    if not isinstance(x, list):
        raise InputError(f"trial spec regimen: expected a list, got {type(x).__name__}")
    doses, resets = [], []
    for e in x:
        kind = e.get("kind") if isinstance(e, Mapping) else None
        if kind == "dose":
            _expect(e, ("kind", "time", "amount", "into", "duration", "per", "ss_interval", "modelled"), "trial spec dose")
            doses.append(Dose(e["time"], e["amount"], e["into"], e["duration"], e["per"], e["ss_interval"], e["modelled"]))
        elif kind == "reset":
            _expect(e, ("kind", "time", "state"), "trial spec reset")
            resets.append(Reset(e["time"], None if e["state"] is None else dict(e["state"])))
        else:
            raise InputError(f"trial spec regimen entry {e!r}: kind must be 'dose' or 'reset'")
    return Regimen(tuple(doses), tuple(resets))


def protocol_parts(protocol) -> tuple[Regimen, list[Pacing]]:
    """A trial arm's protocol as its doses and resets (one :class:`Regimen`) and its pacing trains.

    Raises
    ------
    InputError
        If ``protocol`` is not ``None``, a :class:`vhtwin.Regimen`, a :class:`vhtwin.Pacing` or a sum of them.
    """
    if protocol is None:
        return Regimen(), []
    if isinstance(protocol, Regimen):
        return protocol, []
    if isinstance(protocol, Pacing):
        return Regimen(), [protocol]
    if isinstance(protocol, Combined):
        regimen, pacings = Regimen(), []
        for part in protocol.parts:
            r, p = protocol_parts(part)
            regimen, pacings = regimen + r, pacings + p
        return regimen, pacings
    raise InputError(f"a trial arm's protocol must be None, a vhtwin.Regimen, a vhtwin.Pacing or their sum (+), "
                     f"got {type(protocol).__name__}")


def encode_protocol(protocol) -> list[dict] | None:
    """``None``, or the regimen's entries (:func:`encode_regimen`) then one ``{"kind": "pacing", ...}`` per train."""
    if protocol is None:
        return None
    regimen, pacings = protocol_parts(protocol)
    out = encode_regimen(regimen)
    for p in pacings:
        out.append({"kind": "pacing", **{k: _plain(v, f"pacing {k}") for k, v in _fields(p).items()}})
    return out


def decode_protocol(x):
    """The protocol of :func:`encode_protocol`'s list: a Regimen, a Pacing, their sum, or ``None``."""
    if x is None:
        return None
    if not isinstance(x, list):
        raise InputError(f"trial spec protocol: expected a list or null, got {type(x).__name__}")
    pacing_keys = ("kind",) + tuple(f.name for f in dataclasses.fields(Pacing))
    pacings = [Pacing(**{k: v for k, v in _expect(e, pacing_keys, "trial spec pacing").items() if k != "kind"})
               for e in x if isinstance(e, Mapping) and e.get("kind") == "pacing"]
    regimen = decode_regimen([e for e in x if not (isinstance(e, Mapping) and e.get("kind") == "pacing")])
    if not pacings:
        return regimen
    if not regimen.doses and not regimen.resets:
        return pacings[0] if len(pacings) == 1 else Combined(tuple(pacings))
    return Combined((regimen, *pacings))


# -- trial ----------------------------------------------------------------------------------------------------------------
def _tolerance(value, name: str):
    if isinstance(value, Mapping):
        return {str(k): _float(v, f"{name}[{k!r}]") for k, v in value.items()}
    return _float(value, name)


def encode_trial(
    *,
    model,
    population: Population,
    arms: Mapping[str, Any],
    n_per_arm: int,
    times,
    outputs,
    seed: int,
    solver: str = DEFAULTS["solver"],
    rtol=DEFAULTS["rtol"],
    atol=DEFAULTS["atol"],
    precision: str | None = DEFAULTS["precision"],
    independent_arms: bool = DEFAULTS["independent_arms"],
    max_failure_fraction: float = DEFAULTS["max_failure_fraction"],
    max_steps: int = DEFAULTS["max_steps"],
    dt0: float | None = DEFAULTS["dt0"],
) -> dict:
    """The whole trial spec as a JSON-safe dict with ``"format": "vhtwin-trial/1"``.

    Arms keep their order (a list of ``{"name", "protocol"}``). ``precision`` is stored as given (``None`` means
    the default precision of the machine that runs it; resolve it first to pin it).
    """
    from ..population.streams import check_seed

    if not isinstance(population, Population):
        raise InputError(f"trial spec: population must be a vhtwin.Population, got {type(population).__name__}")
    if population.model != model:
        raise InputError(f"trial spec: the population is of model {population.model.name!r}, not of {getattr(model, 'name', model)!r}")
    if not isinstance(arms, Mapping) or not arms:
        raise InputError("trial spec: arms must be a non-empty dict of protocols by arm name")
    for name in arms:
        if not isinstance(name, str):
            raise InputError(f"trial spec: arm name {name!r} must be a string")
    if isinstance(n_per_arm, bool) or not isinstance(n_per_arm, (int, np.integer)) or n_per_arm < 1:
        raise InputError(f"trial spec: n_per_arm {n_per_arm!r} must be an integer >= 1")
    t = np.asarray(times, dtype=float)
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)):
        raise InputError("trial spec: times must be a non-empty 1-D array of finite numbers")
    if isinstance(outputs, str) or not all(isinstance(o, str) for o in outputs):
        raise InputError(f"trial spec: outputs must be a list of names, got {outputs!r}")
    if not isinstance(solver, str):
        raise InputError(f"trial spec: solver must be a name such as 'auto' (a solver instance cannot be stored), got {solver!r}")
    if precision is not None and precision not in ("float64", "float32"):
        raise InputError(f"trial spec: precision {precision!r} must be None, 'float64' or 'float32'")
    if not isinstance(independent_arms, (bool, np.bool_)):
        raise InputError(f"trial spec: independent_arms {independent_arms!r} must be True or False")
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise InputError(f"trial spec: max_steps {max_steps!r} must be an integer >= 1")
    if dt0 is not None and not _float(dt0, "trial spec: dt0") > 0:
        raise InputError(f"trial spec: dt0 {dt0!r} must be None or a number > 0")
    mff = _float(max_failure_fraction, "trial spec: max_failure_fraction")
    if not 0.0 <= mff <= 1.0:
        raise InputError(f"trial spec: max_failure_fraction {mff!r} must be in [0, 1]")
    return {
        "format": FORMAT,
        "model": encode_model(model),
        "population": encode_population(population),
        "arms": [{"name": name, "protocol": encode_protocol(protocol)} for name, protocol in arms.items()],
        "n_per_arm": int(n_per_arm),
        "times": t.tolist(),
        "outputs": list(outputs),
        "solver": solver,
        "rtol": _tolerance(rtol, "trial spec: rtol"),
        "atol": _tolerance(atol, "trial spec: atol"),
        "precision": precision,
        "seed": check_seed(seed),
        "independent_arms": bool(independent_arms),
        "max_failure_fraction": mff,
        "max_steps": int(max_steps),
        "dt0": None if dt0 is None else float(dt0),
    }


class StoredDesign(NamedTuple):
    """What a stored spec says of a trial's design, read without loading its model (nothing is imported or run)."""

    outputs: list
    arms: dict
    times: np.ndarray
    n_per_arm: int


def decode_design(d: Mapping) -> StoredDesign:
    """The outputs, arms (protocols), times and patients per arm of :func:`encode_trial`'s dict -- data only.

    Figures and summaries of a store need these and not the model, so opening a store never imports the model
    file its spec names (a store is data; a model file is code).
    """
    if not isinstance(d, Mapping) or d.get("format") != FORMAT:
        got = d.get("format") if isinstance(d, Mapping) else type(d).__name__
        raise InputError(f"trial spec: format {got!r} is not {FORMAT!r}")
    _expect(d, ("format",) + TRIAL_FIELDS, "trial spec")
    return StoredDesign(
        outputs=list(d["outputs"]),
        arms={a["name"]: decode_protocol(a["protocol"]) for a in d["arms"]},
        times=np.asarray(d["times"], dtype=float),
        n_per_arm=int(d["n_per_arm"]),
    )


def decode_trial(d: Mapping) -> dict:
    """The trial's constructor fields (:data:`TRIAL_FIELDS`) from :func:`encode_trial`'s dict.

    ``times`` comes back as a float64 numpy array, ``arms`` as a dict (in order) of protocols (:class:`vhtwin.Regimen`,
    :class:`vhtwin.Pacing`, their sum, or ``None``).

    Raises
    ------
    InputError
        If the format is not ``vhtwin-trial/1``, a key is missing or unknown, or the model changed (source hash).
    """
    if not isinstance(d, Mapping) or d.get("format") != FORMAT:
        got = d.get("format") if isinstance(d, Mapping) else type(d).__name__
        raise InputError(f"trial spec: format {got!r} is not {FORMAT!r}")
    _expect(d, ("format",) + TRIAL_FIELDS, "trial spec")
    model = decode_model(d["model"])
    return {
        "model": model,
        "population": decode_population(d["population"], model),
        "arms": {a["name"]: decode_protocol(a["protocol"]) for a in d["arms"]},
        "n_per_arm": int(d["n_per_arm"]),
        "times": np.asarray(d["times"], dtype=float),
        "outputs": list(d["outputs"]),
        "solver": d["solver"],
        "rtol": dict(d["rtol"]) if isinstance(d["rtol"], Mapping) else d["rtol"],
        "atol": dict(d["atol"]) if isinstance(d["atol"], Mapping) else d["atol"],
        "precision": d["precision"],
        "seed": int(d["seed"]),
        "independent_arms": bool(d["independent_arms"]),
        "max_failure_fraction": float(d["max_failure_fraction"]),
        "max_steps": int(d["max_steps"]),
        "dt0": None if d["dt0"] is None else float(d["dt0"]),
    }
