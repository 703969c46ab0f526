"""``DrugExposure``: a trial arm in which each virtual patient's PK drives block of their own heart cell.

Each patient has two draws, both from ``(seed, patient id)``: PK parameters from the arm's PK population (e.g.
clearance and volume), and ionic conductances from the trial's population of ``cardio/ohara_rudy_cipa2017`` (e.g.
``GKr``, ``GKs``, ``PCa``). The patient's PK model gives the plasma concentration at the trial's time points under the
arm's regimen; the free concentration (``fraction_unbound`` x concentration / molar mass, in nM) blocks the cell's
currents as the CiPA drug does, by multi-rate coupling (:func:`vhtwin.cipa.coupling.multirate_coupling`): at each time
point the cell is paced ``beats_per_point`` beats at that point's concentration, carrying its state from the point
before, and the last beat is measured.

Outputs over time: the free concentration ``C_free`` (nM), ``APD90``, ``APD50`` (ms), ``qNet`` (uC/uF), ``EAD`` (1 if
the beat has one) and ``dAPD90``, the change of APD90 from the patient's own drug-free baseline (ms) -- a surrogate of
the drug's QTc change at the cell level (a cell's APD is not an ECG's QT interval: this ranks and compares exposures,
it does not predict a QTc value). Per patient: ``APD90_baseline``, ``dAPD90_max``, ``C_free_max`` and the PK
parameters drawn (``pk_<name>``).

>>> cells = vh.Population(vh.load_model("cardio/ohara_rudy_cipa2017"), omega={"GKr": 0.04, "GKs": 0.04, "PCa": 0.04})
>>> arm = vh.cipa.DrugExposure.from_label("dofetilide", vh.Regimen.repeated(0.5, 12.0, 6, into="depot"))
>>> trial = vh.Trial(model=cells.model, population=cells, arms={"500 ug bid": arm}, n_per_arm=100,
...                  times=np.arange(0.0, 73.0, 3.0) * 3.6e6, outputs=["APD90", "dAPD90", "qNet", "EAD"],
...                  solver="rodas4", rtol=1e-4, atol=1e-7, max_steps=10_000_000)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from importlib import resources
from typing import Any, Mapping

import numpy as np
import xarray as xr

from ..errors import InputError
from ..model import Model, Observable
from ..population import Population
from ..protocols.dosing import Regimen
from ..simulate import simulate
from ..units import TIME_UNITS, conversion_factor
from .assay import CYCLE_LENGTH, MODEL
from .coupling import BASELINE_BEATS, BEATS_PER_POINT, full_coupling, multirate_coupling
from .drugs import HERG_PARAMETERS, HILL_CURRENTS, N_SAMPLES, drug as get_drug

#: the outputs over time of an exposure arm
OUTPUTS = (
    Observable("C_free", "nM", "free plasma drug concentration"),
    Observable("APD90", "ms", "action potential duration at 90 % repolarisation"),
    Observable("APD50", "ms", "action potential duration at 50 % repolarisation"),
    Observable("qNet", "uC uF-1", "net charge of INaL, ICaL, IKr, IKs, IK1 and Ito over the beat"),
    Observable("EAD", "1", "1 if the beat has an early afterdepolarisation"),
    Observable("dAPD90", "ms", "APD90 change from the patient's drug-free baseline (a QTc-change surrogate)"),
)

#: the cell parameters an exposure arm sets from its drug
_DRUG_PARAMETERS = ("D", *HERG_PARAMETERS, *(f"{p}_{c}" for c in HILL_CURRENTS for p in ("IC50", "h")))


@dataclass(frozen=True, eq=False)
class DrugExposure:
    """A trial arm: a CiPA drug given by a regimen, its free plasma concentration from a PK population driving the
    trial's heart cells (multi-rate coupling).

    Parameters
    ----------
    drug : str
        A CiPA drug (:func:`vhtwin.cipa.drugs`): its block of the seven currents.
    pk : Population
        The PK population; its model has the observable ``concentration`` (a mass concentration).
    regimen : Regimen
        Doses, in the PK model's units (amount, time).
    fraction_unbound : float
        Fraction of the plasma concentration not bound to plasma proteins, in (0, 1].
    molar_mass : float
        Molar mass of the drug (g/mol): mass concentration to nM.
    concentration : str
        The PK observable of the plasma concentration (default ``"Cc"``).
    beats_per_point : int
        Beats paced at each time point's concentration (the multi-rate coupling's one setting).
    baseline_beats : int
        Drug-free beats before the first point (the patient's baseline).
    sample : int
        0: the drug's optimal block fit; 1-2000: that FDA uncertainty sample.
    cycle_length : float
        Pacing cycle length (ms).
    coupling : {"multirate", "full"}
        ``"multirate"``: ``beats_per_point`` beats at each time point (:func:`~vhtwin.cipa.coupling.multirate_coupling`).
        ``"full"``: every beat of real time from the first dose's clock (time 0) to the last point, each at the
        concentration at its start (:func:`~vhtwin.cipa.coupling.full_coupling`): exact in the coupling, and as many
        beats as the hours hold (1,800 an hour at 2000 ms). The guide gives the multi-rate coupling's error.
    accelerate_binding : bool
        With multi-rate coupling: run the drug's hERG binding kinetics (binding, unbinding, trapping) faster in each
        point's window by the beats of real time since the previous point over ``beats_per_point``, so that the
        drug binds as far as it would have in that time (:func:`~vhtwin.cipa.coupling.multirate_coupling`'s
        ``real_beats``), at most :data:`~vhtwin.cipa.coupling.MAX_BINDING_SPEED` times. The first point stands for
        the time since time 0. At dofetilide's label dose it gives the error of ten times the beats without it (the
        guide); it assumes the drug binds slowly against a beat.
    """

    drug: str
    pk: Population
    regimen: Regimen
    fraction_unbound: float
    molar_mass: float
    concentration: str = "Cc"
    beats_per_point: int = BEATS_PER_POINT
    baseline_beats: int = BASELINE_BEATS
    sample: int = 0
    cycle_length: float = CYCLE_LENGTH
    coupling: str = "multirate"
    accelerate_binding: bool = False

    #: the name a trial spec stores this arm kind under
    KIND = "cipa.DrugExposure"

    def __post_init__(self):
        object.__setattr__(self, "drug", get_drug(self.drug).name)
        if not isinstance(self.pk, Population):
            raise InputError(f"DrugExposure pk must be a vhtwin.Population of a PK model, got {type(self.pk).__name__}")
        if not isinstance(self.regimen, Regimen):
            raise InputError(f"DrugExposure regimen must be a vhtwin.Regimen, got {type(self.regimen).__name__}")
        model = self.pk.model
        observed = {o.name: o for o in model.observed}
        if self.concentration not in observed:
            raise InputError(f"DrugExposure concentration {self.concentration!r} is not an observable of "
                             f"{model.name}; it has {list(observed)}")
        if conversion_factor(observed[self.concentration].unit, "g/L") is None:
            raise InputError(f"DrugExposure concentration {self.concentration!r} has unit "
                             f"{observed[self.concentration].unit!r}; a mass concentration (mg/L, ng/mL, ...) is needed")
        for name, low, high in (("fraction_unbound", 0.0, 1.0), ("molar_mass", 0.0, math.inf)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not low < value <= high \
                    or not math.isfinite(value):
                allowed = "in (0, 1]" if name == "fraction_unbound" else "a finite number > 0 (g/mol)"
                raise InputError(f"DrugExposure {name} {value!r} must be {allowed}")
        for name in ("beats_per_point", "baseline_beats"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InputError(f"DrugExposure {name} {value!r} must be a whole number >= 1")
        if isinstance(self.sample, bool) or not isinstance(self.sample, (int, np.integer)) \
                or not 0 <= self.sample <= N_SAMPLES:
            raise InputError(f"DrugExposure sample {self.sample!r} must be a whole number from 0 to {N_SAMPLES}")
        if not isinstance(self.accelerate_binding, (bool, np.bool_)):
            raise InputError(f"DrugExposure accelerate_binding {self.accelerate_binding!r} must be True or False")
        if self.coupling not in ("multirate", "full"):
            raise InputError(f"DrugExposure coupling {self.coupling!r} must be 'multirate' or 'full'")
        if not isinstance(self.cycle_length, (int, float)) or not 10.0 < self.cycle_length < math.inf:
            raise InputError(f"DrugExposure cycle_length {self.cycle_length!r} must be a number of ms > 10")
        for d in self.regimen.doses:
            if d.into not in model.dosable_states:
                raise InputError(f"DrugExposure regimen doses into {d.into!r}, which is not a dosable state of "
                                 f"{model.name} ({list(model.dosable_states)})")

    @classmethod
    def from_label(cls, drug: str, regimen: Regimen, *, omega: Mapping[str, float] | None = None,
                   **options: Any) -> "DrugExposure":
        """The exposure of a drug whose PK ships with vhtwin (``vhtwin/cipa/data/pk_<drug>.toml``, from its label).

        Parameters
        ----------
        drug : str
            A drug with a PK file: ``"dofetilide"``.
        regimen : Regimen
            Doses (mg) into the PK model's depot, times in h.
        omega : dict, optional
            Between-patient variances of log-normal eta by PK parameter, in place of the file's.
        **options
            The other fields (``beats_per_point``, ``baseline_beats``, ``sample``, ``cycle_length``, ``coupling``,
            ``accelerate_binding``).
        """
        from ..io import read_toml
        from ..library import load_model

        name = get_drug(drug).name
        path = resources.files("vhtwin.cipa") / "data" / f"pk_{name}.toml"
        if not path.is_file():
            known = sorted(p.name[3:-5] for p in (resources.files("vhtwin.cipa") / "data").iterdir()
                           if p.name.startswith("pk_") and p.name.endswith(".toml"))
            raise InputError(f"drug {drug!r} has no PK file in vhtwin; those with one: {known}. Give a PK population "
                             "with DrugExposure(drug, pk=..., regimen=..., fraction_unbound=..., molar_mass=...)")
        spec = read_toml(path, "the PK file")
        pk = Population(load_model(spec["model"]), typical=spec["typical"],
                        omega=spec["omega"] if omega is None else dict(omega))
        return cls(name, pk=pk, regimen=regimen, fraction_unbound=spec["fraction_unbound"],
                   molar_mass=spec["molar_mass"], concentration=spec["concentration"], **options)

    # -- the trial's arm protocol ---------------------------------------------------------------------------------------
    @property
    def outputs(self) -> tuple[Observable, ...]:
        """What the arm gives over time (the trial's ``outputs`` choose among these)."""
        return OUTPUTS

    def per_patient(self) -> tuple[Observable, ...]:
        """What the arm gives once per patient, besides the trial population's draw."""
        pk = tuple(Observable(f"pk_{q.name}", q.unit, f"PK parameter {q.name} drawn") for q in self.pk.model.parameters)
        return (Observable("APD90_baseline", "ms", "drug-free APD90"),
                Observable("dAPD90_max", "ms", "largest APD90 change from baseline over the time points"),
                Observable("C_free_max", "nM", "largest free concentration over the time points"), *pk)

    def check(self, model: Model, times: np.ndarray, population: Population | None = None) -> None:
        """Refuse, in a sentence, a trial this arm cannot run (before any compute)."""
        if model.name != MODEL:
            raise InputError(f"a DrugExposure arm drives {MODEL}; the trial's model is {model.name}")
        varied = sorted(set(population.omega.names if population is not None else ()) & set(_DRUG_PARAMETERS))
        if varied:
            raise InputError(f"the trial population varies {varied}, which the arm's drug sets (its concentration and "
                             "block); vary the conductances (GKr, GKs, PCa, GNaL, ...) instead")
        if np.any(np.asarray(times) < 0):
            raise InputError("a DrugExposure arm's time points must be >= 0 ms (time 0 is the first dose's clock)")
        if self.coupling == "full" and np.any(np.diff(np.floor(np.asarray(times) / self.cycle_length + 1e-9)) < 1):
            raise InputError(f"a DrugExposure arm with full coupling measures one beat per time point: the points must "
                             f"be at least one cycle length ({self.cycle_length:g} ms) apart")

    def solve(self, model: Model, draw: xr.Dataset, times: np.ndarray, *, seed: int, solver: str, rtol, atol,
              max_steps: int, **_: Any) -> xr.Dataset:
        """The patients of ``draw`` (cell parameters; its ``patient`` coordinate the global ids) at ``times`` (ms).

        Returns a Dataset over ``patient`` (and ``time``): the outputs, :meth:`per_patient`, and ``status``,
        ``n_steps``, ``n_rejected`` of the cell's solve (a PK failure is reported when the cell solved).
        """
        ids = np.asarray(draw["patient"].values, np.int64)
        first = int(ids.min())
        pk_draw = self.pk.sample(n=int(ids.max()) - first + 1, seed=seed, first_patient=first).isel(patient=ids - first)
        pk_model = self.pk.model
        scale = TIME_UNITS[model.time_unit] / TIME_UNITS[pk_model.time_unit]
        times = np.asarray(times, float)
        unit = next(o.unit for o in pk_model.observed if o.name == self.concentration)
        to_nM = conversion_factor(unit, "g/L") / self.molar_mass * 1e9 * self.fraction_unbound

        def free_at(t_cell):  # free concentration (nM) of each patient at cell times t_cell (ms)
            pk = simulate(pk_model, pk_draw, times=t_cell * scale, protocol=self.regimen, outputs=[self.concentration])
            c = np.asarray(pk[self.concentration].transpose("patient", "time").values, float)
            return np.nan_to_num(np.maximum(c, 0.0) * to_nM, nan=0.0), np.asarray(pk["status"].values)

        free, pk_status = free_at(times)
        block = {k: v for k, v in get_drug(self.drug).parameters(0.0, self.sample).items() if k != "D"}
        cell = {q: np.asarray(draw[q].values, float) for q in model.parameter_names if q in draw and q not in block
                and q != "D"}
        options = dict(cycle_length=float(self.cycle_length), solver=solver, rtol=rtol, atol=atol, max_steps=max_steps,
                       baseline_beats=int(self.baseline_beats))
        if self.coupling == "full":
            # every beat from the first dose's clock to the last point, at the concentration at its start; the beat
            # that starts at or just before each time point is measured
            points = np.floor(times / self.cycle_length + 1e-9).astype(int)
            per_beat, beat_status = free_at(np.arange(points[-1] + 1) * float(self.cycle_length))
            pk_status = np.where(pk_status != 0, pk_status, beat_status)
            gaps = np.diff(points)
            chunk = int(gaps[gaps > 0].min()) if np.any(gaps > 0) else points[-1] + 1
            beats = full_coupling({**cell, **block}, per_beat, points, chunk=chunk, **options)
        else:
            real = np.diff(np.concatenate([[0.0], times])) / float(self.cycle_length) if self.accelerate_binding \
                else None
            beats = multirate_coupling({**cell, **block}, free, beats_per_point=int(self.beats_per_point),
                                       real_beats=real, **options)
        base = beats["APD90"][:, 0]
        apd90 = beats["APD90"][:, 1:]
        d_apd90 = apd90 - base[:, None]
        series = {"C_free": free, "APD90": apd90, "APD50": beats["APD50"][:, 1:], "qNet": beats["qNet"][:, 1:],
                  "EAD": beats["EAD"][:, 1:].astype(float), "dAPD90": d_apd90}
        data = {k: (("patient", "time"), v) for k, v in series.items()}
        # the drug's parameters as used, in place of the population's defaults (the store keeps what was simulated);
        # D varies over time (C_free): NaN
        for k, v in block.items():
            data[k] = ("patient", np.broadcast_to(np.asarray(v, float), ids.shape).copy())
        data["D"] = ("patient", np.full(ids.shape, np.nan))
        data["APD90_baseline"] = ("patient", base)
        with np.errstate(invalid="ignore"):
            data["dAPD90_max"] = ("patient", np.where(np.isnan(d_apd90).all(axis=1), np.nan,
                                                      np.nanmax(np.where(np.isnan(d_apd90), -np.inf, d_apd90), axis=1)))
        data["C_free_max"] = ("patient", free.max(axis=1))
        for q in pk_model.parameter_names:
            data[f"pk_{q}"] = ("patient", np.asarray(pk_draw[q].values, float))
        data["status"] = ("patient", np.where(beats["status"] != 0, beats["status"], pk_status).astype(np.int8))
        data["n_steps"] = ("patient", beats["n_steps"])
        data["n_rejected"] = ("patient", beats["n_rejected"])
        return xr.Dataset(data, coords={"patient": ids, "time": np.asarray(times, float)})

    # -- the spec --------------------------------------------------------------------------------------------------------
    def encode(self) -> dict:
        """The arm as JSON-safe data (a trial spec stores it)."""
        from ..trial.spec_codec import encode_model, encode_population, encode_regimen

        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("pk", "regimen")}
        out = {k: (bool(v) if isinstance(v, (bool, np.bool_)) else float(v) if isinstance(v, (float, np.floating))
                   else int(v) if isinstance(v, (int, np.integer)) else v) for k, v in out.items()}
        return {**out, "pk_model": encode_model(self.pk.model), "pk": encode_population(self.pk),
                "regimen": encode_regimen(self.regimen)}

    @classmethod
    def decode(cls, d: Mapping) -> "DrugExposure":
        """The arm of :meth:`encode`'s dict (its PK model loaded by library name or path, its source hash checked)."""
        from ..trial.spec_codec import decode_model, decode_population, decode_regimen

        names = {f.name for f in fields(cls)}
        expected = (names - {"pk"}) | {"pk", "pk_model"}
        if not isinstance(d, Mapping) or set(d) != expected:
            raise InputError(f"a stored DrugExposure arm has the keys {sorted(expected)}; got "
                             f"{sorted(d) if isinstance(d, Mapping) else d!r}")
        model = decode_model(d["pk_model"])
        rest = {k: v for k, v in d.items() if k not in ("pk", "pk_model", "regimen")}
        return cls(pk=decode_population(d["pk"], model), regimen=decode_regimen(d["regimen"]), **rest)

    def __eq__(self, other):
        return type(other) is type(self) and self.encode() == other.encode()

    def __hash__(self):
        return hash((self.drug, self.fraction_unbound, self.molar_mass, self.beats_per_point))

