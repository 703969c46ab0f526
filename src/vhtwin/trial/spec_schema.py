"""The TOML trial spec declared once, as typed models: its reading, its error messages and its JSON Schema.

The models are pydantic (v2) models because one declaration then gives the checks (types, ranges, unknown and
missing keys), the location of every problem, and a JSON Schema editors use to complete and check a spec. What
depends on the model (parameter, state and output names) is checked after, in :mod:`.toml_spec`.
"""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, ValidationError, model_validator

from ..errors import InputError
from ..options import DEFAULTS

__all__ = ["TrialSpec", "PopulationSpec", "ProtocolSpec", "PriorSpec", "EstimationSpec", "SCHEMAS", "validate", "key_path",
           "json_schema"]

Pos = Annotated[float, Field(gt=0)]
NonNeg = Annotated[float, Field(ge=0)]
Count = Annotated[int, Field(ge=1)]
Pair = Annotated[list[float], Field(min_length=2, max_length=2, description="[low, high]")]
ModelTime = Union[Pos, Literal["model"]]


class Spec(BaseModel):
    """A table of a spec: unknown keys refused, TOML types kept (no string is read as a number), finite numbers."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


def _one_of(spec: Spec, *names: str, where: str = "") -> None:
    if sum(n in spec.model_fields_set for n in names) != 1:
        raise ValueError(f"give exactly one of {' or '.join(names)}{where}")


class ModelRef(Spec):
    name: str | None = Field(None, description="a library model (`vhtwin models` lists them)")
    path: str | None = Field(None, description="a model file -- .py, SBML (.xml, .sbml) or CellML (.cellml) -- "
                                             "relative to the TOML file")
    _check = model_validator(mode="after")(lambda s: (_one_of(s, "name", "path"), s)[1])


class TimeGrid(Spec):
    start: float
    stop: float
    step: Pos | None = None
    count: Count | None = None
    _check = model_validator(mode="after")(lambda s: (_one_of(s, "step", "count", where=" with start and stop"), s)[1])


# -- population ---------------------------------------------------------------------------------------------------------
class Normal(Spec):
    distribution: Literal["normal"]
    mean: float
    sd: float
    lower: float | None = None
    upper: float | None = None
    unit: str | None = None


class LogNormal(Spec):
    distribution: Literal["lognormal"]
    median: float
    cv: float | None = None
    sd_log: float | None = None
    lower: float | None = None
    upper: float | None = None
    unit: str | None = None


class Uniform(Spec):
    distribution: Literal["uniform"]
    low: float
    high: float
    unit: str | None = None


class Bernoulli(Spec):
    distribution: Literal["bernoulli"]
    p: float
    unit: str | None = None


class CockcroftGault(Spec):
    derived: Literal["cockcroft_gault"]
    age: str | None = None
    weight: str | None = None
    sex: str | None = None
    scr: str | None = None
    female: float | None = None
    unit: str | None = None


class BodyMassIndex(Spec):
    derived: Literal["body_mass_index"]
    weight: str | None = None
    height: str | None = None
    unit: str | None = None


Derived = Annotated[Union[CockcroftGault, BodyMassIndex], Field(discriminator="derived")]
Drawn = Annotated[Union[Normal, LogNormal, Uniform, Bernoulli], Field(discriminator="distribution")]
Covariate = Annotated[Union[Annotated[Drawn, Tag("drawn_")], Annotated[Derived, Tag("derived_")]],
                      Discriminator(lambda v: "derived_" if isinstance(v, dict) and "derived" in v else "drawn_")]


class Correlation(Spec):
    between: list[str]
    rho: float


class CovariateTable(Spec):
    columns: dict[str, list[Union[bool, int, float, str]]] | None = None
    csv: str | None = Field(None, description="a CSV file, relative to the TOML file")
    units: dict[str, str] = {}
    resample: bool = False
    derived: dict[str, Derived] = {}
    _check = model_validator(mode="after")(lambda s: (_one_of(s, "columns", "csv"), s)[1])


class Physiology(Spec):
    age: Pair | None = None
    sex: Union[str, float, None] = None
    weight: Pair | None = None
    bmi: Pair | None = None
    volume_cv: NonNeg | None = None
    flow_cv: NonNeg | None = None


class Power(Spec):
    type: Literal["power"]
    param: str
    covariate: str
    reference: float
    exponent: float


class Linear(Spec):
    type: Literal["linear"]
    param: str
    covariate: str
    reference: float
    slope: float


class Exponential(Spec):
    type: Literal["exponential"]
    param: str
    covariate: str
    reference: float
    coefficient: float


class Level(Spec):
    level: Union[bool, int, float, str]
    factor: float


class Categorical(Spec):
    type: Literal["categorical"]
    param: str
    covariate: str
    factors: list[Level]


class Logit(Spec):
    kind: Literal["lognormal", "normal", "logit"]
    lower: float | None = None
    upper: float | None = None


class OmegaBlock(Spec):
    names: list[str]
    matrix: list[list[float]]


class Residual(Spec):
    additive: NonNeg | None = None
    proportional: NonNeg | None = None
    exponential: NonNeg | None = None
    combined: Literal["variance", "sum"] | None = None


class IOV(Spec):
    variances: dict[str, NonNeg]
    n_occasions: Count


Kind = Literal["lognormal", "normal", "logit"]


class PopulationSpec(Spec):
    """The ``[population]`` table of a trial spec (also a calibration prior)."""

    typical: dict[str, float] = {}
    omega: dict[str, NonNeg] = {}
    omega_blocks: list[OmegaBlock] = []
    cv: dict[str, NonNeg] | None = None
    distribution: Union[Kind, dict[str, Union[Kind, Logit]], None] = None
    covariates: dict[str, Covariate] | None = None
    covariate_table: CovariateTable | None = None
    covariate_correlation: list[Correlation] | None = None
    physiology: Physiology | None = None
    covariate_models: list[Annotated[Union[Power, Linear, Exponential, Categorical], Field(discriminator="type")]] = []
    residual: Residual | None = None
    iov: IOV | None = None


# -- protocols ------------------------------------------------------------------------------------------------------------
class Bolus(Spec):
    amount: NonNeg
    into: str
    at: float = 0.0
    per: str | None = None


class Infusion(Bolus):
    duration: ModelTime | None = None
    rate: ModelTime | None = None


class Repeated(Spec):
    amount: NonNeg
    interval: Pos
    count: Count
    into: str
    start: float = 0.0
    duration: ModelTime | None = None
    rate: ModelTime | None = None
    per: str | None = None
    steady_state: bool = False


class OneDose(Spec):
    time: float
    amount: NonNeg
    into: str
    duration: NonNeg = 0.0
    per: str | None = None
    ss_interval: NonNeg = 0.0
    modelled: Literal["rate", "duration"] | None = None


class DoseEntry(Spec):
    """A dose: a table with exactly one key, the kind of dose."""

    bolus: Bolus | None = None
    infusion: Infusion | None = None
    repeated: Repeated | None = None
    dose: OneDose | None = None
    _check = model_validator(mode="after")(lambda s: (_one_of(s, "bolus", "infusion", "repeated", "dose"), s)[1])


class ResetSpec(Spec):
    at: float
    state: dict[str, float] | None = None


class PacingSpec(Spec):
    period: Pos
    duration: Pos
    count: Count
    amplitude: float | None = None
    start: float = 0.0
    input: str | None = None


class ProtocolSpec(Spec):
    """A protocol: doses and resets (a calibration's ``--protocol`` file)."""

    doses: Annotated[list[DoseEntry], Field(min_length=1)] | None = None
    resets: list[ResetSpec] = []


class ExposureSpec(Spec):
    """An arm's ``exposure`` table: a CiPA drug whose PK drives the trial's heart cells (:class:`vhtwin.cipa.DrugExposure`).

    Without ``pk_model`` the drug's PK is the one vhtwin ships from its label (``omega`` may replace its variances);
    with it, ``pk`` (a population table), ``fraction_unbound`` and ``molar_mass`` describe the drug's PK. A key left
    out takes the arm's default.
    """

    drug: str = Field(description="a CiPA drug (`vh.cipa.drugs()`)")
    pk_model: ModelRef | None = Field(None, description="the PK model (default: the drug's label PK shipped with vhtwin)")
    pk: PopulationSpec | None = Field(None, description="the PK population of pk_model (typical values, omega, ...)")
    omega: dict[str, NonNeg] | None = Field(None, description="label PK only: variances of the PK etas, in place of "
                                                              "the label file's")
    fraction_unbound: Annotated[float, Field(gt=0, le=1)] | None = None
    molar_mass: Pos | None = Field(None, description="g/mol")
    concentration: str | None = Field(None, description="the PK observable of the plasma concentration (default Cc)")
    beats_per_point: Count | None = None
    baseline_beats: Count | None = None
    sample: Annotated[int, Field(ge=0)] | None = Field(None, description="0: the drug's optimal fit; 1-2000: that "
                                                                         "uncertainty sample")
    cycle_length: Pos | None = Field(None, description="ms")
    coupling: Literal["multirate", "full"] | None = None
    accelerate_binding: bool | None = None

    @model_validator(mode="after")
    def _pk_together(self):
        own = [k for k in ("pk", "fraction_unbound", "molar_mass") if k in self.model_fields_set]
        if self.pk_model is None and own:
            raise ValueError(f"{', '.join(own)}: these describe a PK model of your own; give pk_model with them "
                             "(without it, the drug's label PK is used)")
        if self.pk_model is not None:
            missing = [k for k in ("pk", "fraction_unbound", "molar_mass") if k not in self.model_fields_set]
            if missing:
                raise ValueError(f"with pk_model, give {', '.join(missing)} too")
            if self.omega is not None:
                raise ValueError("omega replaces the label PK's variances; with pk_model, give them in pk.omega")
        return self


class Arm(ProtocolSpec):
    name: str
    pacing: Union[PacingSpec, list[PacingSpec]] = []
    exposure: ExposureSpec | None = Field(None, description="a CiPA drug's PK driving the heart cells (the doses are "
                                                            "then the PK model's, in its units)")


Tolerance = Union[Pos, dict[str, Pos]]


class TrialSpec(Spec):
    """A trial spec file (``examples/README.md`` describes every key)."""

    seed: Annotated[int, Field(ge=0, lt=2**64)]
    n_per_arm: Count
    outputs: Annotated[list[str], Field(min_length=1)]
    times: Annotated[Union[Annotated[list[float], Tag("list")], Annotated[TimeGrid, Tag("grid")]],
                     Discriminator(lambda v: "list" if isinstance(v, list) else "grid")]
    model: ModelRef
    population: PopulationSpec
    arms: Annotated[list[Arm], Field(min_length=1)]
    solver: str = DEFAULTS.solver
    rtol: Tolerance = DEFAULTS.rtol
    atol: Tolerance = DEFAULTS.atol
    precision: Literal["float64", "float32"] | None = DEFAULTS.precision
    independent_arms: bool = False
    max_failure_fraction: Annotated[float, Field(ge=0, le=1)] = 0.01
    max_steps: Count = DEFAULTS.max_steps
    dt0: Pos | None = DEFAULTS.dt0


# -- errors ---------------------------------------------------------------------------------------------------------------
def key_path(parts) -> str:
    """``("arms", 1, "doses")`` as ``arms[1].doses``; a key that is not a plain name is quoted."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            p = p if p.replace("_", "a").isalnum() and p.isascii() else f'"{p}"'
            out += f".{p}" if out else p
    return out


def _fields_at(root, loc) -> list[str]:
    """The keys allowed where ``loc`` (pydantic's location, union tags included) points."""
    tp = root
    for el in loc:
        tp, tag = _unwrap(tp, el)
        if tag:
            continue
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            tp = tp.model_fields[el].annotation if el in tp.model_fields else None
        elif typing.get_origin(tp) in (list, dict):
            tp = typing.get_args(tp)[-1]
    tp = _unwrap(tp, None)[0]
    return list(tp.model_fields) if isinstance(tp, type) and issubclass(tp, BaseModel) else []


def _unwrap(tp, el):
    """``tp`` without Annotated and unions (the member that ``el`` selects); True when ``el`` was a union's tag."""
    while True:
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is Annotated:
            tp = args[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in args if a is not type(None)]
            tagged = [m for m in members if _tag_of(m) == el]
            if tagged:
                return tagged[0], True
            tp = ([m for m in members if (typing.get_origin(m) is list) == isinstance(el, int)] or members)[0]
        else:
            return tp, False


def _tag_of(tp):
    if typing.get_origin(tp) is Annotated:
        tags = [a.tag for a in typing.get_args(tp)[1:] if isinstance(a, Tag)]
        if tags:
            return tags[0]
        tp = typing.get_args(tp)[0]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name in ("distribution", "derived", "type"):
            f = tp.model_fields.get(name)
            if f is not None and typing.get_origin(f.annotation) is Literal:
                return typing.get_args(f.annotation)[0]
    return None


def _message(root, data, err: dict, where: tuple) -> str:
    kind, loc, ctx = err["type"], err["loc"], err.get("ctx", {})
    parts, node = list(where), data
    for i, el in enumerate(loc):  # the keys of the document; the tags pydantic adds for unions are left out
        if isinstance(node, dict) and el in node or isinstance(node, list) and isinstance(el, int) and el < len(node):
            parts.append(el)
            node = node[el]
        elif i == len(loc) - 1 and kind == "missing":
            parts.append(el)
    path = key_path(parts) or "the spec"
    if kind == "missing":
        return f"{path}: missing required key (the keys here: {_fields_at(root, loc[:-1])})"
    if kind == "extra_forbidden":
        return f"{path} = {node!r}: unknown key; allowed here: {_fields_at(root, loc[:-1])}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        key = ctx.get("discriminator", "").strip("'")
        key = key if key.isidentifier() else "distribution"
        got = node.get(key) if isinstance(node, dict) else node
        allowed = ctx.get("expected_tags") or "'normal', 'lognormal', 'uniform', 'bernoulli'"  # a covariate's tags
        said = ": missing required key; allowed" if got is None else f" = {got!r}: allowed"
        return f"{key_path(parts + [key])}{said}: {allowed}" + (
            " (or give the key 'derived': 'cockcroft_gault', 'body_mass_index')" if key == "distribution" else "")
    msg = err["msg"].replace("Value error, ", "")
    return f"{path} = {node!r}: {msg[0].lower()}{msg[1:]}"


def validate(cls: type[Spec], data: Any, where: tuple = ()) -> Spec:
    """``data`` checked as a ``cls``; a problem is an :class:`InputError` naming the key path, value and what is
    allowed. ``where`` is the key path of ``data`` in its document."""
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        first = next((x for x in errors if x["type"] == "extra_forbidden"), errors[0])  # a typo explains the rest
        raise InputError(_message(cls, data, first, where)) from None


class PriorSpec(Spec):
    """A calibration prior file with its ``[population]`` table (the table's keys may also stand at the top)."""

    population: PopulationSpec


# -- population estimation (vhtwin estimate) ----------------------------------------------------------------------------
class DataRef(Spec):
    path: str = Field(description="a NONMEM-style CSV dataset, relative to the TOML file")
    compartments: dict[str, str] | None = Field(None, description="CMT number -> state name, e.g. {1 = 'depot'}")


class SaemSpec(Spec):
    exploration: Count = 300
    smoothing: Count = 100
    chains: Count | None = None
    kernels: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=3, max_length=3)] = [2, 2, 2]
    annealing: Annotated[int, Field(ge=0)] = 100
    seed: Annotated[int, Field(ge=0, lt=2**32)] = 0


class EstimationOptions(Spec):
    method: Literal["focei", "foce", "laplace", "saem"] = "focei"
    fix: list[str] = []
    covariance: Literal["sandwich", "R", "S", "none"] = "sandwich"
    max_iter: Count = 200
    gtol: Pos = 1e-3
    npde_simulations: Annotated[int, Field(ge=0)] = 1000
    saem: SaemSpec | None = None


class EstimationSpec(Spec):
    """A population estimation (``vhtwin estimate``): model, dataset, starting population and options."""

    model: ModelRef
    data: DataRef
    population: PopulationSpec
    estimation: EstimationOptions = EstimationOptions()


SCHEMAS = {"trial": TrialSpec, "prior": Union[PriorSpec, PopulationSpec], "protocol": ProtocolSpec,
           "estimate": EstimationSpec}


def json_schema(name: str) -> dict:
    """The JSON Schema (draft 2020-12) of a spec file: one of :data:`SCHEMAS` (``"trial"``, ``"prior"``,
    ``"protocol"``, ``"estimate"``)."""
    schema = TypeAdapter(SCHEMAS[name]).json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema, "title": f"vhtwin {name} spec"}
