"""A lossless, JSON-safe encoding of an in-silico trial's specification (format ``vhtwin-trial/1``).

Used as provenance (a JSON string in a result store's attributes) and to decide whether a store and a new run are
the same trial (for resuming): two specs are the same trial exactly when their encodings compare equal. The
encoding is *normalised*: a population's typical values include the model's defaults, its distributions are listed
for every parameter, Omega is stored as the validated diagonal and blocks -- so equivalent inputs encode equally.
Its top level is declared once (:class:`StoredTrial`, a pydantic model) and checked both ways; the population and
protocols inside it are checked by the constructors that rebuild them. Only declarative objects can be encoded:
library models or models from a ``.py`` file (by path and source hash), the population classes of
:mod:`vhtwin.population`, and protocols (regimens with scalar amounts, pacing trains, their sums). Anything that
would need code (a ``Derived`` covariate with a user function, a model made by :func:`vhtwin.link`, a solver
instance) raises :class:`InputError`.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import sys
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, NamedTuple

import numpy as np
from pydantic import ConfigDict, Field

from .. import population as vp
from ..errors import InputError
from ..model import Model
from ..options import DEFAULTS as SOLVER
from ..protocols.dosing import Dose, Regimen, Reset
from ..protocols.pacing import Combined, Pacing
from . import spec_schema as sch

FORMAT = "vhtwin-trial/1"

#: Values of the optional trial fields when a spec does not give them (the solver's from :class:`SolverOptions`).
DEFAULTS: dict[str, Any] = {
    "solver": SOLVER.solver, "rtol": SOLVER.rtol, "atol": SOLVER.atol, "precision": SOLVER.precision,
    "independent_arms": sch.TrialSpec.model_fields["independent_arms"].default,
    "max_failure_fraction": sch.TrialSpec.model_fields["max_failure_fraction"].default,
    "max_steps": SOLVER.max_steps, "dt0": SOLVER.dt0,
}

#: Every field of a trial spec, in order (the keys ``decode_trial`` returns).
TRIAL_FIELDS = (
    "model", "population", "arms", "n_per_arm", "times", "outputs", "solver", "rtol", "atol", "precision", "seed",
    "independent_arms", "max_failure_fraction", "max_steps", "dt0",
)


class StoredArm(sch.Spec):
    name: str
    protocol: list[dict[str, Any]] | None


class StoredTrial(sch.Spec):
    """The stored spec's top level (JSON: not strict about int for float)."""

    model_config = ConfigDict(strict=False)
    format: Literal["vhtwin-trial/1"]
    model: dict[str, str]
    population: dict[str, Any]
    arms: Annotated[list[StoredArm], Field(min_length=1)]
    n_per_arm: sch.Count
    times: Annotated[list[float], Field(min_length=1)]
    outputs: list[str]
    solver: str
    rtol: sch.Tolerance
    atol: sch.Tolerance
    precision: Literal["float64", "float32"] | None
    seed: Annotated[int, Field(ge=0, lt=2**64)]
    independent_arms: bool
    max_failure_fraction: Annotated[float, Field(ge=0, le=1)]
    max_steps: sch.Count
    dt0: sch.Pos | None


_KINDS = {c.__name__: c for c in (
    vp.Normal, vp.LogNormal, vp.Uniform, vp.Bernoulli, vp.CockcroftGault, vp.BodyMassIndex,
    vp.PowerCovariate, vp.LinearCovariate, vp.ExponentialCovariate, vp.CategoricalCovariate)}


def _plain(value, where: str):
    """A scalar (or list of scalars) as JSON-safe Python values (numpy unwrapped; non-finite floats refused)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    value = value.item() if isinstance(value, np.generic) else value
    if value is None or isinstance(value, (bool, str, int)) or isinstance(value, float) and math.isfinite(value):
        return value
    raise InputError(f"{where} = {value!r}: cannot be stored in a trial spec (a finite number, string or boolean)")


def _fields(obj, where: str, skip=()) -> dict:
    return {f.name: _plain(getattr(obj, f.name), f"{where}.{f.name}") for f in dataclasses.fields(obj) if f.name not in skip}


def _kind(obj, where: str) -> dict:
    """``{"kind": class name, ...fields}`` of a covariate or covariate model."""
    if type(obj) not in _KINDS.values():
        what = "a Derived covariate with its own function (code)" if isinstance(obj, vp.Derived) else type(obj).__name__
        raise InputError(f"{where} = {what}: cannot be stored in a trial spec; allowed: {list(_KINDS)} (or the values "
                         "in a CovariateTable)")
    out = {"kind": type(obj).__name__, **_fields(obj, where, skip=("function", "inputs", "factors"))}
    if hasattr(obj, "factors"):
        out["factors"] = [[_plain(k, where), _plain(f, where)] for k, f in obj.factors.items()]
    return out


def _unkind(e: Mapping, where: str):
    if not isinstance(e, Mapping) or e.get("kind") not in _KINDS:
        raise InputError(f"{where}.kind = {e.get('kind') if isinstance(e, Mapping) else e!r}: allowed: {list(_KINDS)}")
    args = {k: v for k, v in e.items() if k not in ("kind", "name")}
    if "factors" in args:
        args["factors"] = {level: f for level, f in args["factors"]}
    return _KINDS[e["kind"]](**args)


# -- model ----------------------------------------------------------------------------------------------------------------
def encode_model(model) -> dict:
    """``{"name", "source_sha256"}`` for a library model, ``{"path", "name", "source_sha256"}`` for a model file (a
    ``.py`` module, or the SBML or CellML file an imported model came from).

    Raises
    ------
    InputError
        If the model's class comes from neither the library nor a ``.py`` file that defines only it (e.g. a model
        made by :func:`vhtwin.link` or defined in an interactive session).
    """
    if not isinstance(model, Model):
        raise InputError(f"model = {type(model).__name__}: must be a vhtwin.Model instance")
    cls, parts = type(model), type(model).__module__.split(".")
    if len(parts) == 4 and parts[:2] == ["vhtwin", "models"]:
        return {"name": f"{parts[2]}/{parts[3]}", "source_sha256": model.source_hash()}
    imported = getattr(model, "source_file", None)  # an SBML or CellML import: its file
    if isinstance(imported, str) and Path(imported).is_file():
        return {"path": imported, "name": model.name, "source_sha256": model.source_hash()}
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None)
    classes = [obj for obj in vars(module).values() if inspect.isclass(obj) and issubclass(obj, Model)
               and obj is not Model and obj.__module__ == module.__name__] if module else []
    if path is None or not str(path).endswith(".py") or not Path(path).is_file() or classes != [cls]:
        raise InputError(
            f"model = {model.name!r} (class {cls.__qualname__}, file {path}): to be stored in a trial spec the model "
            "must come from the library, from a .py file that defines exactly one Model subclass "
            "(vh.load_model(name or path)), or from an SBML or CellML file (vh.import_sbml / vh.import_cellml of a path)"
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

    keys = ["path", "name", "source_sha256"] if isinstance(d, Mapping) and "path" in d else ["name", "source_sha256"]
    if not isinstance(d, Mapping) or sorted(d) != sorted(keys):
        raise InputError(f"model = {d!r}: the stored model has the keys {keys}")
    label = d.get("path", d["name"])
    model = load_model(str(label))
    if not isinstance(model, Model):
        raise InputError(f"model = {label!r}: a {type(model).__name__}, not a vhtwin.Model")
    if model.source_hash() != d["source_sha256"]:
        raise InputError(f"model {label!r} changed since the spec was written (source hash {d['source_sha256']} in "
                         f"the spec, {model.source_hash()} now)")
    return model


# -- population -----------------------------------------------------------------------------------------------------------
def _encode_covariates(source) -> dict | None:
    from ..physiology.covariates import Individuals

    where = "population.covariates"
    if source is None:
        return None
    if type(source) is vp.Covariates:
        entries = [{"name": n, **_kind(source.distributions.get(n) or source.derived[n], f"{where}.{n}")} for n in source.names]
        c, drawn = np.asarray(source.correlation), list(source.distributions)
        corr = None if np.array_equal(c, np.eye(len(drawn))) else {"names": drawn, "matrix": c.tolist()}
        return {"kind": "Covariates", "covariates": entries, "correlation": corr}
    if type(source) is vp.CovariateTable:
        columns = []
        for n, a in source.columns.items():
            if a.dtype.kind not in "fbiuU":
                raise InputError(f"{where}.{n}: dtype {a.dtype} cannot be stored in a trial spec (numbers, booleans or strings)")
            values = [v if math.isfinite(v) else repr(v) for v in a.tolist()] if a.dtype.kind == "f" else a.tolist()
            columns.append({"name": n, "dtype": a.dtype.str, "values": values})  # 'nan', 'inf', '-inf' as strings
        out = {"kind": "CovariateTable", "columns": columns, "resample": bool(source.resample),
               "units": {k: v for k, v in source.units.items() if k in source.columns and v is not None},
               "derived": [{"name": n, **_kind(d, f"{where}.{n}")} for n, d in source.derived.items()]}
        return {**out, "allow_identifiers": True} if source.allow_identifiers else out  # absent otherwise, as before
    if type(source) is Individuals:
        return {"kind": "Individuals", **{k: _plain(v, f"{where}.{k}") for k, v in source.fields().items()}}
    raise InputError(f"{where} = {type(source).__name__}: cannot be stored in a trial spec; allowed: vh.Covariates, "
                     "vh.CovariateTable, vh.physiology.Individuals")


def _decode_covariates(d):
    kind = d.get("kind") if isinstance(d, Mapping) else d
    if kind is None:
        return None
    if kind == "Covariates":
        corr = d.get("correlation")
        return vp.Covariates({e["name"]: _unkind(e, "population.covariates") for e in d["covariates"]},
                             correlation=None if corr is None else (tuple(corr["names"]), corr["matrix"]))
    if kind == "CovariateTable":
        columns = {e["name"]: np.array([float(v) for v in e["values"]] if np.dtype(e["dtype"]).kind == "f" else e["values"],
                                       dtype=np.dtype(e["dtype"])) for e in d["columns"]}
        derived = {e["name"]: _unkind(e, "population.covariates.derived") for e in d["derived"]}
        return vp.CovariateTable(columns, units=d["units"] or None, resample=d["resample"], derived=derived or None,
                                 allow_identifiers=d.get("allow_identifiers") is True)
    if kind == "Individuals":
        from ..physiology.covariates import Individuals

        return Individuals(**{k: v for k, v in d.items() if k != "kind"})
    raise InputError(f"population.covariates.kind = {kind!r}: allowed: 'Covariates', 'CovariateTable', 'Individuals'")


def encode_population(pop: vp.Population) -> dict:
    """Everything a :class:`vhtwin.Population` was given, normalised, as a JSON-safe dict (the model excluded)."""
    if not isinstance(pop, vp.Population):
        raise InputError(f"population = {type(pop).__name__}: must be a vhtwin.Population")
    bounds = pop.bounds
    return {
        "typical": {k: float(v) for k, v in pop.typical.items()},
        "omega": {"diagonal": {k: float(v) for k, v in pop.omega.diagonal.items()},
                  "blocks": [{"names": list(n), "matrix": np.asarray(m, dtype=float).tolist()} for n, m in pop.omega.blocks]},
        "distribution": {n: ["logit", *_plain([float(b) for b in bounds[n]], f"population.distribution.{n}")]
                         if kind == "logit" else kind for n, kind in pop.distribution.items()},
        "covariates": _encode_covariates(pop.covariates),
        "covariate_models": [_kind(cm, f"population.covariate_models[{i}]") for i, cm in enumerate(pop.covariate_models)],
        "residual": None if pop.residual is None else _fields(pop.residual, "population.residual"),
        "iov": None if pop.iov is None else {"variances": {k: float(v) for k, v in pop.iov.variances.items()},
                                             "n_occasions": int(pop.iov.n_occasions)},
    }


def decode_population(d: Mapping, model: Model) -> vp.Population:
    """The :class:`vhtwin.Population` of :func:`encode_population`'s dict, for ``model``."""
    keys = ["typical", "omega", "distribution", "covariates", "covariate_models", "residual", "iov"]
    if not isinstance(d, Mapping) or sorted(d) != sorted(keys):
        raise InputError(f"population = {d!r}: the stored population has the keys {keys}")
    return vp.Population(
        model, typical=d["typical"],
        omega=vp.Omega(d["omega"]["diagonal"], blocks=[(tuple(b["names"]), b["matrix"]) for b in d["omega"]["blocks"]]),
        covariates=_decode_covariates(d["covariates"]),
        covariate_models=[_unkind(e, "population.covariate_models") for e in d["covariate_models"]],
        residual=None if d["residual"] is None else vp.Residual(**d["residual"]),
        distribution={k: tuple(v) if isinstance(v, list) else v for k, v in d["distribution"].items()},
        iov=None if d["iov"] is None else vp.IOV(dict(d["iov"]["variances"]), int(d["iov"]["n_occasions"])),
    )


# -- protocols ------------------------------------------------------------------------------------------------------------
def encode_regimen(reg: Regimen) -> list[dict]:
    """The doses (``{"kind": "dose", ...every Dose field}``) then the resets (``{"kind": "reset", "time", "state"}``).

    Raises
    ------
    InputError
        For a per-patient (array) amount or reset value: a trial spec holds one schedule for every patient (give
        amounts per unit of a covariate with ``per=`` instead).
    """
    if not isinstance(reg, Regimen):
        raise InputError(f"regimen = {type(reg).__name__}: must be a vhtwin.Regimen")
    out = []
    for d in reg.doses:
        if np.ndim(d.amount) != 0:
            raise InputError(f"dose {d.describe()}: a trial spec cannot hold per-patient amounts (an array); give a "
                             "scalar amount, per unit of a covariate with per= (e.g. mg/kg with per='WT') where it varies")
        out.append({"kind": "dose", "time": float(d.time), "amount": float(d.amount), "into": d.into,
                    "duration": float(d.duration), "per": d.per, "ss_interval": float(d.ss_interval), "modelled": d.modelled})
    for r in reg.resets:
        if r.state is not None and any(np.ndim(v) != 0 for v in r.state.values()):
            raise InputError(f"{r.describe()}: a trial spec cannot hold per-patient reset values (an array)")
        state = None if r.state is None else {str(k): float(v) for k, v in r.state.items()}
        out.append({"kind": "reset", "time": float(r.time), "state": state})
    return out


def decode_regimen(x) -> Regimen:
    """The :class:`vhtwin.Regimen` of :func:`encode_regimen`'s list."""
    def entry(e):
        kind, args = e.get("kind") if isinstance(e, Mapping) else e, {k: v for k, v in e.items() if k != "kind"}
        if kind == "dose":
            return Dose(**args)
        if kind == "reset":
            return Reset(args["time"], None if args["state"] is None else dict(args["state"]))
        raise InputError(f"protocol entry kind = {kind!r}: allowed: 'dose', 'reset', 'pacing'")
    entries = [entry(e) for e in x]
    return Regimen(tuple(e for e in entries if isinstance(e, Dose)), tuple(e for e in entries if isinstance(e, Reset)))


#: Arm protocols that solve their patients themselves (:func:`solves_itself`), by the kind a spec stores them under:
#: the class to decode them with. A fixed list -- a stored spec names one of these, it never names code to import.
SELF_SOLVING_ARMS = {"cipa.DrugExposure": ("vhtwin.cipa.exposure", "DrugExposure")}


def self_solving_arm(kind: str) -> type:
    """The class of the arm kind ``kind`` (a key of :data:`SELF_SOLVING_ARMS`), imported when first asked for."""
    import importlib

    module, name = SELF_SOLVING_ARMS[kind]
    return getattr(importlib.import_module(module), name)


def solves_itself(protocol) -> bool:
    """Whether an arm's protocol solves its patients itself (e.g. :class:`vhtwin.cipa.DrugExposure`, which couples a PK
    model to the trial's cell model) instead of being doses and pacing for :func:`vhtwin.simulate`.

    Such a protocol has ``KIND`` (a key of :data:`SELF_SOLVING_ARMS`), ``outputs`` and ``per_patient()`` (tuples of
    :class:`vhtwin.Observable`: what it gives over time and once per patient), ``check(model, times)``,
    ``solve(model, draw, times, seed=, solver=, rtol=, atol=, max_steps=, precision=, dt0=)`` returning a Dataset
    over ``patient`` (and ``time``) with those variables and ``status``, ``n_steps``, ``n_rejected``, and
    ``encode()`` / ``decode(dict)``.
    """
    return getattr(protocol, "KIND", None) in SELF_SOLVING_ARMS and callable(getattr(protocol, "solve", None))


def protocol_parts(protocol) -> tuple[Regimen, list[Pacing]]:
    """A trial arm's protocol as its doses and resets (one :class:`Regimen`) and its pacing trains.

    Raises
    ------
    InputError
        If ``protocol`` is not ``None``, a :class:`vhtwin.Regimen`, a :class:`vhtwin.Pacing` or a sum of them.
    """
    if protocol is None or isinstance(protocol, (Regimen, Pacing)):
        return (protocol if isinstance(protocol, Regimen) else Regimen()), [protocol] if isinstance(protocol, Pacing) else []
    if isinstance(protocol, Combined):
        regimen, pacings = Regimen(), []
        for r, p in map(protocol_parts, protocol.parts):
            regimen, pacings = regimen + r, pacings + p
        return regimen, pacings
    raise InputError(f"a trial arm's protocol must be None, a vhtwin.Regimen, a vhtwin.Pacing or their sum (+), "
                     f"got {type(protocol).__name__}")


def encode_protocol(protocol) -> list[dict] | None:
    """``None``, or the regimen's entries (:func:`encode_regimen`) then one ``{"kind": "pacing", ...}`` per train."""
    if protocol is None:
        return None
    if solves_itself(protocol):
        return [{"kind": protocol.KIND, **protocol.encode()}]
    regimen, pacings = protocol_parts(protocol)
    return encode_regimen(regimen) + [{"kind": "pacing", **_fields(p, "pacing")} for p in pacings]


def decode_protocol(x):
    """The protocol of :func:`encode_protocol`'s list: a Regimen, a Pacing, their sum, or ``None``."""
    if x is None:
        return None
    if len(x) == 1 and isinstance(x[0], Mapping) and x[0].get("kind") in SELF_SOLVING_ARMS:
        return self_solving_arm(x[0]["kind"]).decode({k: v for k, v in x[0].items() if k != "kind"})
    pacings = [Pacing(**{k: v for k, v in e.items() if k != "kind"}) for e in x if e.get("kind") == "pacing"]
    regimen = decode_regimen([e for e in x if e.get("kind") != "pacing"])
    if not pacings:
        return regimen
    if not regimen.doses and not regimen.resets:
        return pacings[0] if len(pacings) == 1 else Combined(tuple(pacings))
    return Combined((regimen, *pacings))


# -- trial ----------------------------------------------------------------------------------------------------------------
def encode_trial(*, model, population, arms: Mapping[str, Any], n_per_arm: int, times, outputs, seed: int,
                 solver: str = DEFAULTS["solver"], rtol=DEFAULTS["rtol"], atol=DEFAULTS["atol"],
                 precision: str | None = DEFAULTS["precision"], independent_arms: bool = DEFAULTS["independent_arms"],
                 max_failure_fraction: float = DEFAULTS["max_failure_fraction"], max_steps: int = DEFAULTS["max_steps"],
                 dt0: float | None = DEFAULTS["dt0"]) -> dict:
    """The whole trial spec as a JSON-safe dict with ``"format": "vhtwin-trial/1"``.

    Arms keep their order (a list of ``{"name", "protocol"}``). ``precision`` is stored as given (``None`` means
    the default precision of the machine that runs it; resolve it first to pin it).
    """
    from ..population.streams import check_seed

    if isinstance(population, vp.Population) and population.model != model:
        raise InputError(f"population: the population is of model {population.model.name!r}, not of "
                         f"{getattr(model, 'name', model)!r}")
    if not isinstance(arms, Mapping):
        raise InputError(f"arms = {arms!r}: must be a non-empty dict of protocols by arm name")
    if not isinstance(solver, str):
        raise InputError(f"solver = {solver!r}: must be a name such as 'auto' (a solver instance cannot be stored)")
    plain = {k: _plain(v, k) for k, v in dict(
        n_per_arm=n_per_arm, outputs=list(outputs) if not isinstance(outputs, str) else outputs, seed=check_seed(seed),
        precision=precision, independent_arms=independent_arms, max_failure_fraction=max_failure_fraction,
        max_steps=max_steps, dt0=dt0).items()}
    stored = dict(
        format=FORMAT, model=encode_model(model), population=encode_population(population),
        arms=[{"name": name, "protocol": encode_protocol(protocol)} for name, protocol in arms.items()],
        times=_plain(np.asarray(times, dtype=float).reshape(-1).tolist(), "times"), solver=solver,
        rtol={k: _plain(v, f"rtol.{k}") for k, v in rtol.items()} if isinstance(rtol, Mapping) else _plain(rtol, "rtol"),
        atol={k: _plain(v, f"atol.{k}") for k, v in atol.items()} if isinstance(atol, Mapping) else _plain(atol, "atol"),
        **plain,
    )
    return sch.validate(StoredTrial, stored).model_dump(mode="json")


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
    s = sch.validate(StoredTrial, d)
    return StoredDesign(outputs=list(s.outputs), arms={a.name: _design_protocol(a.protocol) for a in s.arms},
                        times=np.asarray(s.times, dtype=float), n_per_arm=s.n_per_arm)


def _design_protocol(x):
    """An arm's protocol for a store's reader: a self-solving arm stays its stored dict (decoding it would load its
    PK model, which may be a file of code)."""
    if x is not None and len(x) == 1 and isinstance(x[0], Mapping) and x[0].get("kind") in SELF_SOLVING_ARMS:
        return dict(x[0])
    return decode_protocol(x)


def decode_trial(d: Mapping) -> dict:
    """The trial's constructor fields (:data:`TRIAL_FIELDS`) from :func:`encode_trial`'s dict.

    ``times`` comes back as a float64 numpy array, ``arms`` as a dict (in order) of protocols (:class:`vhtwin.Regimen`,
    :class:`vhtwin.Pacing`, their sum, or ``None``).

    Raises
    ------
    InputError
        If the format is not ``vhtwin-trial/1``, a key is missing or unknown, or the model changed (source hash).
    """
    design, s = decode_design(d), sch.validate(StoredTrial, d)
    model = decode_model(s.model)
    fields = {**s.model_dump(include=set(TRIAL_FIELDS) - {"model", "population", "arms", "times"}),
              "model": model, "population": decode_population(s.population, model),
              "arms": {a.name: decode_protocol(a.protocol) for a in s.arms},
              "times": design.times}
    return {k: fields[k] for k in TRIAL_FIELDS}
