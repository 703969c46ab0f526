"""Trial specifications written by hand in TOML (see ``examples/README.md`` for every key).

The file is checked against its declaration (:mod:`.spec_schema`), then against the model it names (parameter,
state, output and covariate names) while the objects are built. :func:`load_trial_toml` returns the same
constructor fields as :func:`vhtwin.trial.spec_codec.decode_trial`. Parsing runs no code (``tomllib``); only a model
given by ``path`` is a ``.py`` file, which is code and is imported. Every problem is an :class:`~vhtwin.InputError`
whose message starts with the TOML key path (``population.omega.CL``), then the value and what is allowed.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .. import population as vp
from ..errors import InputError
from ..io import read_toml
from ..model import Model
from ..protocols.dosing import Dose, Regimen, Reset
from ..protocols.pacing import Pacing
from . import spec_schema as sch
from .spec_codec import TRIAL_FIELDS

__all__ = ["load_trial_toml", "model_from_toml", "parse_trial_toml", "population_from_toml", "protocol_from_toml"]

_COVARIATES = {"normal": vp.Normal, "lognormal": vp.LogNormal, "uniform": vp.Uniform, "bernoulli": vp.Bernoulli,
               "cockcroft_gault": vp.CockcroftGault, "body_mass_index": vp.BodyMassIndex}
_COVARIATE_MODELS = {"power": vp.PowerCovariate, "linear": vp.LinearCovariate,
                     "exponential": vp.ExponentialCovariate, "categorical": vp.CategoricalCovariate}


def _fail(path: str, value, allowed: str):
    raise InputError(f"{path} = {value!r}: {allowed}")


@contextlib.contextmanager
def _at(path: str):
    """Re-raise a vhtwin InputError (a constructor's own check) with the key path in front."""
    try:
        yield
    except InputError as e:
        if str(e).startswith(path):  # already names its key path
            raise
        raise InputError(f"{path}: {e}") from None


def _join(path: str, key) -> str:
    return path + sch.key_path(["x", key])[1:]


def _known(names, path: str, known, what: str):
    """``names`` (a name, a list, or the keys of a table) must be among ``known``."""
    if isinstance(names, str) and names not in known:
        _fail(path, names, f"unknown {what}; allowed: {list(known)}")
    for i, name in enumerate([] if isinstance(names, str) else names):
        if name not in known:
            _fail(_join(path, i if isinstance(names, list) else name), name, f"unknown {what}; allowed: {list(known)}")


def model_from_toml(ref: sch.ModelRef, base: Path, where: str = "model") -> Model:
    """The model a spec's ``[model]`` table (at key path ``where``) names (a library name, or a ``.py``, SBML or
    CellML file relative to ``base``)."""
    from ..library import list_models, load_model

    if ref.name is not None:
        if ref.name not in list_models():
            _fail(f"{where}.name", ref.name, f"unknown library model; the library has {list_models()}")
        with _at(f"{where}.name"):
            model = load_model(ref.name)
    else:
        path = Path(ref.path) if Path(ref.path).is_absolute() else base / ref.path
        if path.suffix.lower() not in (".py", ".xml", ".sbml", ".cellml") or not path.is_file():
            _fail(f"{where}.path", ref.path, f"must be an existing .py, SBML (.xml, .sbml) or CellML (.cellml) file "
                                             f"({path}; a relative path is relative to the TOML file)")
        with _at(f"{where}.path"):
            model = load_model(str(path.resolve()))
    if not isinstance(model, Model):
        _fail(where, type(model).__name__, "must be a vhtwin.Model (a DirectEffect is used through vh.link)")
    return model


def _times(t) -> np.ndarray:
    if isinstance(t, list):
        if not t:
            _fail("times", t, "give at least one output time")
        out = np.array(t, dtype=float)
    elif t.stop < t.start:
        _fail("times.stop", t.stop, f"must be >= times.start ({t.start!r})")
    elif t.step is not None:
        n = int(math.floor((t.stop - t.start) / t.step * (1 + 1e-12) + 1e-9)) + 1  # the stop is kept despite rounding
        out = t.start + t.step * np.arange(n, dtype=float)
    else:
        if t.count == 1 and t.stop != t.start:
            _fail("times.count", 1, "1 time point needs start == stop")
        out = np.linspace(t.start, t.stop, t.count)
    bad = np.flatnonzero(np.diff(out) <= 0)
    if bad.size:
        k = int(bad[0])
        _fail(f"times[{k + 1}]", float(out[k + 1]), f"times must be strictly increasing; it follows times[{k}] = {float(out[k])!r}")
    return out


# -- population -----------------------------------------------------------------------------------------------------------
def _covariate(c, path: str):
    kind = getattr(c, "distribution", None) or c.derived
    with _at(path):
        return _COVARIATES[kind](**c.model_dump(exclude_unset=True, exclude={"distribution", "derived"}))


def _covariates(pop: sch.PopulationSpec, base: Path):
    given = [k for k in ("covariates", "covariate_table", "physiology") if getattr(pop, k) is not None]
    if len(given) > 1:
        _fail("population", given, "give one source of covariates -- covariates (drawn), covariate_table (values) "
                                   "or physiology (virtual adults)")
    if pop.covariate_correlation is not None and pop.covariates is None:
        _fail("population.covariate_correlation", [c.model_dump() for c in pop.covariate_correlation],
              "needs population.covariates (correlations apply to drawn covariates)")
    if pop.physiology is not None:
        from ..physiology.covariates import Individuals

        with _at("population.physiology"):
            return Individuals(**pop.physiology.model_dump(exclude_unset=True))
    if pop.covariates is not None:
        spec = {n: _covariate(c, _join("population.covariates", n)) for n, c in pop.covariates.items()}
        correlation = None
        if pop.covariate_correlation is not None:
            correlation = {}
            for i, e in enumerate(pop.covariate_correlation):
                path = f"population.covariate_correlation[{i}].between"
                _known(e.between, path, list(spec), "covariate")
                if len(e.between) != 2:
                    _fail(path, e.between, "must name exactly two covariates")
                correlation[tuple(e.between)] = e.rho
        with _at("population.covariates"):
            return vp.Covariates(spec, correlation=correlation)
    if pop.covariate_table is not None:
        t, path = pop.covariate_table, "population.covariate_table"
        if t.columns is not None:
            data = {k: np.asarray(v, dtype=bool) if v and all(isinstance(x, bool) for x in v) else np.asarray(v)
                    for k, v in t.columns.items()}
        else:
            import pandas as pd

            file = Path(t.csv) if Path(t.csv).is_absolute() else base / t.csv
            if not file.is_file():
                _fail(f"{path}.csv", t.csv, f"must be a CSV file ({file}; a relative path is relative to the TOML file)")
            data = pd.read_csv(file)
        derived = {k: _covariate(c, _join(f"{path}.derived", k)) for k, c in t.derived.items()}
        with _at(path):
            return vp.CovariateTable(data, units=t.units or None, resample=t.resample, derived=derived or None)
    return None


def _population(pop: sch.PopulationSpec, model: Model, base: Path) -> vp.Population:
    params = model.parameter_names
    for key in ("typical", "omega", "cv", "distribution"):
        if isinstance(getattr(pop, key), dict):
            _known(getattr(pop, key), f"population.{key}", params, f"parameter of {model.name}")
    for k, v in pop.typical.items():
        with _at(f"population.typical.{k}"):
            vp.Population(model, typical={k: v})
    blocks = []
    for i, b in enumerate(pop.omega_blocks):
        _known(b.names, f"population.omega_blocks[{i}].names", params, f"parameter of {model.name}")
        with _at(f"population.omega_blocks[{i}]"):
            vp.Omega(blocks=[(tuple(b.names), b.matrix)])
        blocks.append((tuple(b.names), b.matrix))
    where = "population.omega_blocks" if blocks else "population.omega"
    with _at(where):
        omega = vp.Omega(pop.omega, blocks=blocks)
    distribution = pop.distribution
    if isinstance(distribution, dict):
        distribution = {}
        for name, d in pop.distribution.items():
            if isinstance(d, str) or not ({"lower", "upper"} & d.model_fields_set):
                distribution[name] = d if isinstance(d, str) else d.kind
            elif d.kind != "logit" or d.lower is None or d.upper is None:
                _fail(f"population.distribution.{name}", d.model_dump(exclude_unset=True),
                      "lower and upper go together, with kind 'logit' (neither: the parameter's declared bounds)")
            else:
                distribution[name] = ("logit", d.lower, d.upper)
    with _at(where):
        vp.Population(model, typical=pop.typical, omega=omega, distribution=distribution)  # variances on their scales
    covariates = _covariates(pop, base)
    names = () if covariates is None else covariates.names
    models = []
    for i, cm in enumerate(pop.covariate_models):
        path = f"population.covariate_models[{i}]"
        _known(cm.param, f"{path}.param", params, f"parameter of {model.name}")
        _known(cm.covariate, f"{path}.covariate", names, "covariate")
        args = cm.model_dump(exclude={"type", "param", "covariate"})
        if cm.type == "categorical":
            args = {"factors": {e.level: e.factor for e in cm.factors}}
        with _at(path):
            models.append(_COVARIATE_MODELS[cm.type](cm.param, cm.covariate, **args))
    residual = iov = None
    if pop.residual is not None:
        with _at("population.residual"):
            residual = vp.Residual(**pop.residual.model_dump(exclude_none=True))
    if pop.iov is not None:
        _known(pop.iov.variances, "population.iov.variances", params, f"parameter of {model.name}")
        with _at("population.iov"):
            iov = vp.IOV(pop.iov.variances, pop.iov.n_occasions)
    with _at("population.cv" if pop.cv else "population"):
        return vp.Population(model, typical=pop.typical, omega=omega, covariates=covariates, covariate_models=models,
                             residual=residual, distribution=distribution, iov=iov, cv=pop.cv)


def population_from_toml(table: Mapping, model: Model, base: str | Path = ".") -> vp.Population:
    """The :class:`vhtwin.Population` a ``[population]`` TOML table describes for ``model`` (checked, errors name
    the key path)."""
    return _population(sch.validate(sch.PopulationSpec, table, where=("population",)), model, Path(base))


# -- protocols ------------------------------------------------------------------------------------------------------------
def _dose(entry: sch.DoseEntry, path: str, model: Model, covariate_names) -> Regimen:
    kind = next(k for k in ("bolus", "infusion", "repeated", "dose") if getattr(entry, k) is not None)
    s, p = getattr(entry, kind), f"{path}.{kind}"
    _known(s.into, f"{p}.into", model.dosable_states, f"dose target (a dosable state of {model.name})")
    if s.per is not None:
        _known(s.per, f"{p}.per", covariate_names, "covariate of the population")
    with _at(p):
        if kind == "bolus":
            return Regimen.bolus(s.amount, s.into, at=s.at, per=s.per)
        if kind == "infusion":
            return Regimen.infusion(s.amount, s.into, duration=s.duration, rate=s.rate, at=s.at, per=s.per)
        if kind == "repeated":
            return Regimen.repeated(s.amount, s.interval, s.count, s.into, start=s.start, duration=s.duration,
                                    rate=s.rate, per=s.per, steady_state=s.steady_state)
        return Regimen((Dose(s.time, s.amount, s.into, s.duration, s.per, s.ss_interval, s.modelled),))


def _protocol(arm: sch.ProtocolSpec, path: str, model: Model, covariate_names):
    regimen = Regimen()
    for j, d in enumerate(arm.doses or []):
        regimen = regimen + _dose(d, f"{path}doses[{j}]", model, covariate_names)
    resets = []
    for j, r in enumerate(arm.resets):
        if r.state is not None:
            _known(r.state, f"{path}resets[{j}].state", model.state_names, "state")
        with _at(f"{path}resets[{j}]"):
            resets.append(Reset(r.at, r.state))
    regimen = Regimen(regimen.doses, regimen.resets + tuple(resets))
    protocol = regimen if regimen.doses or regimen.resets else None
    pacing = getattr(arm, "pacing", [])
    for j, p in enumerate(pacing if isinstance(pacing, list) else [pacing]):
        where = f"{path}pacing" + (f"[{j}]" if isinstance(pacing, list) else "")
        if p.input is not None:
            _known(p.input, f"{where}.input", [i.name for i in model.inputs], f"input of {model.name}")
        with _at(where):
            train = Pacing(**p.model_dump(exclude_unset=True))
            train.for_model(model)  # the model must have the input it drives
        protocol = train if protocol is None else protocol + train
    return protocol


def protocol_from_toml(doc: Mapping, model: Model, covariate_names=()):
    """The protocol (a :class:`vhtwin.Regimen` or ``None``) of a TOML document with ``doses`` and ``resets``."""
    return _protocol(sch.validate(sch.ProtocolSpec, doc), "", model, covariate_names)


@contextlib.contextmanager
def _rebased(old: str, new: str):
    """Re-raise an InputError whose message names key paths under ``old`` (``population``) under ``new``."""
    try:
        yield
    except InputError as e:
        text = str(e)
        raise InputError(new + text[len(old):] if text.startswith(old) else f"{new}: {text}") from None


def _exposure(arm: sch.Arm, path: str, base: Path):
    """The :class:`vhtwin.cipa.DrugExposure` of an arm with an ``exposure`` table: its doses are the PK model's."""
    from dataclasses import replace

    from .spec_codec import self_solving_arm

    e, where = arm.exposure, f"{path}exposure"
    for key in ("resets", "pacing"):
        if getattr(arm, key):
            _fail(f"{path}{key}", [r.model_dump(exclude_unset=True) for r in getattr(arm, key)]
                  if isinstance(getattr(arm, key), list) else getattr(arm, key).model_dump(exclude_unset=True),
                  "an arm with an exposure table has doses only (the drug's PK model takes them)")
    if not arm.doses:
        _fail(f"{path}doses", None, "an arm with an exposure table needs doses (into its PK model, in its units)")
    cls = self_solving_arm("cipa.DrugExposure")
    options = e.model_dump(include={"concentration", "beats_per_point", "baseline_beats", "sample", "cycle_length",
                                    "coupling", "accelerate_binding"}, exclude_none=True)
    with _at(where):
        if e.pk_model is None:
            exposure = cls.from_label(e.drug, Regimen(), omega=e.omega, **options)
        else:
            pk_model = model_from_toml(e.pk_model, base, where=f"{where}.pk_model")
            with _rebased("population", f"{where}.pk"):
                pk = _population(e.pk, pk_model, base)
            exposure = cls(e.drug, pk=pk, regimen=Regimen(), fraction_unbound=e.fraction_unbound,
                           molar_mass=e.molar_mass, **options)
    pk = exposure.pk
    regimen = _protocol(sch.ProtocolSpec(doses=arm.doses), path, pk.model,
                        () if pk.covariates is None else pk.covariates.names)
    with _at(where):
        return replace(exposure, regimen=regimen)


# -- entry points ---------------------------------------------------------------------------------------------------------
def parse_trial_toml(data: Mapping[str, Any], base: str | Path = ".") -> dict:
    """Constructor fields from an already parsed TOML document; relative paths are relative to ``base``."""
    spec, base = sch.validate(sch.TrialSpec, dict(data)), Path(base)
    model = model_from_toml(spec.model, base)
    population = _population(spec.population, model, base)
    covariate_names = () if population.covariates is None else population.covariates.names
    for key in ("rtol", "atol"):
        if isinstance(getattr(spec, key), dict):
            _known(getattr(spec, key), key, model.state_names, f"state of {model.name}")
    exposures = [arm.exposure is not None for arm in spec.arms]
    if any(exposures) and not all(exposures):
        i = exposures.index(False)
        _fail(f"arms[{i}]", spec.arms[i].name, "a trial's arms are all exposure arms or none (their outputs differ); "
                                               "give this arm an exposure table, or run two trials")
    arms = {}
    for i, arm in enumerate(spec.arms):
        if arm.name in arms:
            _fail(f"arms[{i}].name", arm.name, "is used twice; arm names must be unique")
        arms[arm.name] = (_exposure(arm, f"arms[{i}].", base) if arm.exposure is not None
                          else _protocol(arm, f"arms[{i}].", model, covariate_names))
    if any(exposures):  # the arms give their own outputs
        given = [o.name for o in next(iter(arms.values())).outputs]
        _known(spec.outputs, "outputs", given, "output of an exposure arm")
    else:
        _known(spec.outputs, "outputs", model.observable_names + model.state_names, "output (observable or state)")
    if spec.solver != "auto":
        from ..validation import resolve_solver

        with _at("solver"):
            resolve_solver(model, spec.solver)
    times = _times(spec.times)
    for i, (arm, protocol) in enumerate(zip(spec.arms, arms.values())):
        if arm.exposure is not None:  # what the exposure asks of the trial (its cell model, times, population)
            with _at(f"arms[{i}].exposure"):
                protocol.check(model, times, population)
    fields = spec.model_dump(include=set(TRIAL_FIELDS) - {"model", "population", "arms", "times"})
    fields.update(model=model, population=population, arms=arms, times=times, outputs=list(spec.outputs))
    return {k: fields[k] for k in TRIAL_FIELDS}


def load_trial_toml(path: str | Path) -> dict:
    """Constructor fields of a trial (as :func:`vhtwin.trial.spec_codec.decode_trial` returns) from a TOML file.

    Raises
    ------
    InputError
        If the file cannot be read or parsed, or any key is unknown, missing, of the wrong type or out of range;
        the message names the key path (e.g. ``population.omega.CL``), the value and what is allowed.
    """
    path = Path(path)
    return parse_trial_toml(read_toml(path, "trial TOML file"), path.resolve().parent)
