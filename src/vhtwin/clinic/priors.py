"""The prior library: published population models as data, each with its sources, the population it was built on and
the usual targets.

A prior is a TOML file in ``vhtwin.models.pharmacokinetics.priors`` (``models/pharmacokinetics/priors/`` in the
repository): the library model it calibrates, its typical values, Omega (variances of the etas), residual error and
covariate models, the covariates the model reads and how each is obtained from a patient's record, the ranges of the
population the model was built on, and the targets of the drug's monitoring. Every value names a source. A prior is
identified by its name, its version and the sha256 of its file: two priors never share a hash unless their files
are identical.

Covariates outside the source population's ranges are not refused -- a clinician may still want the forecast -- but
:meth:`Prior.warnings` says so in one sentence per covariate, and every result built on the prior carries them.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import InputError
from ..io import read_toml
from ..model import Model
from ..population import (CategoricalCovariate, ExponentialCovariate, LinearCovariate, Population, PowerCovariate,
                          Residual)
from .renal import cockcroft_gault

# -- the file's declared form ------------------------------------------------------------------------------------------


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LevelSpec(_Spec):
    observable: str
    unit: str
    loinc: list[str] = Field(min_length=1)


class CovariateSpec(_Spec):
    """How a covariate the model reads is obtained from a patient's record, and the source population's range."""

    unit: str
    description: str
    #: the patient fact it is read from directly (``weight``, ``height``, ``age``) ...
    from_: Literal["weight", "height", "age"] | None = Field(None, alias="from")
    #: ... or the rule that derives it (``cockcroft_gault``: from age, sex, weight and serum creatinine)
    derived: Literal["cockcroft_gault"] | None = None
    cap: float | None = Field(None, gt=0, description="largest value used (a derived clearance above it is capped)")
    creatinine_floor_umol_per_L: float | None = Field(None, gt=0)
    #: categorical covariates: the levels, and the value when the record says nothing
    levels: list[int] | None = None
    default: int | None = None
    range: tuple[float, float] | None = None


class PowerSpec(_Spec):
    type: Literal["power"]
    param: str
    covariate: str
    reference: float
    exponent: float


class LinearSpec(_Spec):
    type: Literal["linear"]
    param: str
    covariate: str
    reference: float
    slope: float


class ExponentialSpec(_Spec):
    type: Literal["exponential"]
    param: str
    covariate: str
    reference: float
    coefficient: float


class CategoricalSpec(_Spec):
    type: Literal["categorical"]
    param: str
    covariate: str
    factors: dict[str, float]


class ResidualSpec(_Spec):
    additive: float | None = Field(None, ge=0)
    proportional: float | None = Field(None, ge=0)


class SourcePopulation(_Spec):
    subjects: int = Field(gt=0)
    samples: int = Field(gt=0)
    setting: str
    age: tuple[float, float] | None = None
    weight: tuple[float, float] | None = None
    CrCL: tuple[float, float] | None = None


class Target(_Spec):
    """A monitoring target: ``metric`` of the concentration at steady state between ``lower`` and ``upper``."""

    name: str
    description: str
    metric: Literal["auc24", "trough", "peak", "average"]
    lower: float | None = None
    upper: float | None = None
    unit: str
    source: str
    status: str | None = None
    #: For ``peak``: the level this many hours after the end of the infusion (e.g. 0.5, as aminoglycoside peaks are
    #: drawn); without it, the largest level of the interval.
    after_infusion_h: float | None = Field(None, ge=0)


class Dosing(_Spec):
    """The regimens a recommendation chooses among."""

    amounts: list[float] = Field(min_length=1)  # mg per dose
    intervals: list[float] = Field(min_length=1)  # h between doses
    duration: float = Field(0.0, ge=0)  # h of infusion (0: a bolus or an oral dose)


class PriorFile(_Spec):
    name: str
    drug: str
    version: str
    title: str
    model: str
    dose_into: str
    route: Literal["oral", "intravenous infusion", "intravenous bolus"]
    level: LevelSpec
    sources: dict[str, str]
    typical: dict[str, float]
    omega: dict[str, float] = {}
    residual: ResidualSpec
    covariate_models: list[Union[PowerSpec, LinearSpec, ExponentialSpec, CategoricalSpec]] = []
    covariates: dict[str, CovariateSpec] = {}
    source_population: SourcePopulation
    targets: list[Target] = Field(min_length=1)
    dosing: Dosing


# -- the prior ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Prior:
    """A published population model ready to calibrate a patient twin (:func:`prior` loads one by name)."""

    spec: PriorFile
    model: Model
    population: Population
    content_hash: str  # sha256 of the file's bytes
    path: str = field(compare=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def drug(self) -> str:
        return self.spec.drug

    @property
    def targets(self) -> list[Target]:
        return list(self.spec.targets)

    def covariates(self, facts: dict) -> dict[str, float]:
        """The model's covariates from a patient's facts (``age`` in years, ``sex`` 'male'/'female', ``weight`` kg,
        ``height`` cm, ``creatinine`` mg/dL, and any covariate given by its own name, e.g. ``DIAL``).

        Raises :class:`InputError` naming the covariate and the fact it needs when a fact is missing.
        """
        out = {}
        for name, c in self.spec.covariates.items():
            if name in facts and facts[name] is not None:
                out[name] = float(facts[name])
            elif c.from_ is not None:
                out[name] = float(_need(facts, c.from_, name, self.name))
            elif c.derived == "cockcroft_gault":
                scr = float(_need(facts, "creatinine", name, self.name))
                if c.creatinine_floor_umol_per_L is not None:
                    scr = max(scr, c.creatinine_floor_umol_per_L / CREATININE_UMOL_PER_MG_DL)
                value = cockcroft_gault(_need(facts, "age", name, self.name), _need(facts, "weight", name, self.name),
                                        scr, _need(facts, "sex", name, self.name))
                out[name] = min(value, c.cap) if c.cap is not None else value
            elif c.levels is not None and c.default is not None:
                out[name] = float(c.default)
            else:
                raise InputError(f"prior {self.name}: covariate {name!r} ({c.description}) is not in the record")
        return out

    def warnings(self, covariates: dict, facts: dict | None = None) -> list[str]:
        """One sentence for each covariate or patient fact outside the range of the population the prior was built
        on (empty when the patient is inside it)."""
        out = []
        checks = [(n, covariates.get(n), c.unit, c.range) for n, c in self.spec.covariates.items()]
        pop = self.spec.source_population
        facts = facts or {}
        checks += [("age", facts.get("age"), "years", pop.age), ("weight", facts.get("weight"), "kg", pop.weight)]
        seen = set()
        for name, value, unit, bounds in checks:
            if value is None or bounds is None or name in seen or (name == "weight" and "WT" in covariates):
                continue
            seen.add(name)
            lo, hi = bounds
            if not (lo <= float(value) <= hi):
                out.append(f"{name} {float(value):.4g} {unit} is outside {lo:g}-{hi:g} {unit}, the range of the "
                           f"population the prior {self.name} was built on ({pop.subjects} patients); the forecast "
                           f"extrapolates")
        return out

    def describe(self) -> dict:
        """The prior as plain data (for reports, the audit trail and the API)."""
        return {"name": self.name, "version": self.version, "sha256": self.content_hash, "drug": self.drug,
                "title": self.spec.title, "model": self.spec.model, "route": self.spec.route,
                "sources": dict(self.spec.sources),
                "source_population": self.spec.source_population.model_dump(),
                "covariates": {n: {"unit": c.unit, "description": c.description}
                               for n, c in self.spec.covariates.items()},
                "targets": [t.model_dump(exclude_none=True) for t in self.spec.targets]}


#: 1 mg/dL of creatinine (molar mass 113.12 g/mol) in umol/L.
CREATININE_UMOL_PER_MG_DL = 88.42


def _need(facts, key, covariate, prior):
    value = facts.get(key)
    if value is None:
        raise InputError(f"prior {prior}: covariate {covariate!r} needs the patient's {key}, which the record does "
                         f"not give")
    return value


def _directory() -> Path:
    return Path(str(resources.files("vhtwin.models"))) / "pharmacokinetics" / "priors"


def priors() -> list[str]:
    """The names of the priors in the library."""
    return sorted(p.stem for p in _directory().glob("*.toml"))


def prior(name_or_path: str | Path) -> Prior:
    """A prior of the library by name (:func:`priors`), or from a TOML file of the same form."""
    text = str(name_or_path)
    path = Path(text) if text.endswith(".toml") else _directory() / f"{text}.toml"
    if not path.is_file():
        raise InputError(f"prior {text!r} is not in the library; the library has {priors()}")
    return _load(str(path.resolve()))


@functools.lru_cache(maxsize=32)
def _load(path: str) -> Prior:
    raw = Path(path).read_bytes()
    doc = read_toml(path, "prior")
    try:
        spec = PriorFile.model_validate(doc)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise InputError(f"prior file {path}: {where}: {first['msg']} (got {first.get('input')!r})") from None
    from ..library import load_model

    model = load_model(spec.model)
    cited = {t.source for t in spec.targets}
    unknown = sorted(cited - set(spec.sources))
    if unknown:
        raise InputError(f"prior file {path}: targets cite {unknown}, which are not in [sources]")
    if spec.level.observable not in model.observable_names:
        raise InputError(f"prior file {path}: level.observable {spec.level.observable!r} is not an observable of "
                         f"{spec.model}")
    if spec.dose_into not in model.dosable_states:
        raise InputError(f"prior file {path}: dose_into {spec.dose_into!r} is not a dosable state of {spec.model}")
    models = []
    for cm in spec.covariate_models:
        if cm.covariate not in spec.covariates:
            raise InputError(f"prior file {path}: a covariate model reads {cm.covariate!r}, which [covariates] does "
                             f"not declare")
        if cm.type == "power":
            models.append(PowerCovariate(cm.param, cm.covariate, reference=cm.reference, exponent=cm.exponent))
        elif cm.type == "linear":
            models.append(LinearCovariate(cm.param, cm.covariate, reference=cm.reference, slope=cm.slope))
        elif cm.type == "exponential":
            models.append(ExponentialCovariate(cm.param, cm.covariate, reference=cm.reference,
                                               coefficient=cm.coefficient))
        else:
            models.append(CategoricalCovariate(cm.param, cm.covariate, factors={int(k): v for k, v in cm.factors.items()}))
    residual = Residual(**{k: v for k, v in spec.residual.model_dump().items() if v is not None},
                        **({"combined": "variance"} if spec.residual.additive and spec.residual.proportional else {}))
    try:
        population = Population(model, typical=spec.typical, omega=spec.omega, covariate_models=models,
                                residual=residual)
    except InputError as err:
        raise InputError(f"prior file {path}: {err}") from None
    if not all(math.isfinite(v) for v in spec.typical.values()):
        raise InputError(f"prior file {path}: typical values must be finite")
    return Prior(spec, model, population, hashlib.sha256(raw).hexdigest(), path)

