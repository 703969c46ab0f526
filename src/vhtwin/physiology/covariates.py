"""Virtual adults as the covariates of a :class:`vhtwin.Population`, so that a physiologically based model's
organ volumes and blood flows come from each virtual individual's physiology inside the trial runner.

``vh.physiology.Individuals(age=(20, 60), sex="both", weight=(50, 100))`` draws patient ``i`` from ``(seed, i)`` with
:func:`vhtwin.physiology.population` and exposes, per patient, ``AGE`` (y), ``SEX`` (0 male, 1 female), ``WT`` (kg),
``HT`` (cm), ``BMI`` (kg m-2), ``BSA`` (m2), ``HCT`` (1), ``CO`` (cardiac output, L h-1), ``VOL_<organ>`` (tissue
volume, L) and ``FLOW_<organ>`` (blood flow, L h-1) for every compartment of :data:`vhtwin.physiology.ORGANS` (no
flow for the two blood pools) and ``FLOW_hepatic_artery`` (L h-1). (Covariates are named apart from model
parameters such as ``V_liver``, which share a population draw's namespace.) A covariate model
``PowerCovariate(param="V_liver", covariate="VOL_liver", reference=<the typical V_liver>, exponent=1.0)`` then gives
every patient his own liver volume.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..population.covariates import CovariateSource
from .population import population
from .reference import ORGANS

#: Compartments without a blood flow of their own (the blood pools).
_NO_FLOW = ("arterial_blood", "venous_blood")

_SCALARS = {  # covariate name -> (dataset variable, unit)
    "AGE": ("age", "y"), "SEX": ("sex", "1"), "WT": ("body_weight", "kg"), "HT": ("height", "cm"),
    "BMI": ("body_mass_index", "kg m-2"), "BSA": ("body_surface_area", "m2"), "HCT": ("haematocrit", "1"),
    "CO": ("cardiac_output", "L h-1"), "FLOW_hepatic_artery": ("hepatic_artery_flow", "L h-1"),
}


class Individuals(CovariateSource):
    """Adults drawn from reference physiology, as covariates (see the module docstring for the names).

    Parameters
    ----------
    age : (low, high)
        Age range in years (uniform), within the adult range of the data (18-80 y).
    sex : {"both", "male", "female"} or float
        ``"both"``: half female; a number: the probability of female.
    weight, bmi : (low, high), optional
        Body weight (kg) and body-mass-index (kg m-2) ranges; draws outside are redrawn (per patient, by counter).
    volume_cv, flow_cv : float, optional
        Coefficients of variation of organ volumes and blood-flow fractions (default: the data file's).

    Examples
    --------
    >>> source = vh.physiology.Individuals(age=(20, 60), sex="both", weight=(50, 100))
    >>> source.sample(seed=1, ids=np.arange(3))["VOL_liver"]       # L
    """

    def __init__(self, age=(20.0, 60.0), sex: Any = "both", weight=None, bmi=None, volume_cv=None, flow_cv=None):
        self.age = tuple(float(a) for a in age) if not isinstance(age, (str, bytes)) else age
        self.sex, self.weight, self.bmi = sex, _pair(weight), _pair(bmi)
        self.volume_cv, self.flow_cv = volume_cv, flow_cv
        population(1, 0, **self._options())  # every argument checked now, with the physiology's messages
        organs = [o for o in ORGANS]
        self.names = (tuple(k for k in _SCALARS if k != "FLOW_hepatic_artery") + tuple(f"VOL_{o}" for o in organs)
                      + tuple(f"FLOW_{o}" for o in organs if o not in _NO_FLOW) + ("FLOW_hepatic_artery",))
        units = {k: u for k, (_, u) in _SCALARS.items()}
        units.update({f"VOL_{o}": "L" for o in organs})
        units.update({f"FLOW_{o}": "L h-1" for o in organs if o not in _NO_FLOW})
        self.units = {n: units[n] for n in self.names}

    def _options(self) -> dict:
        return dict(age=self.age, sex=self.sex, weight=self.weight, bmi=self.bmi, volume_cv=self.volume_cv,
                    flow_cv=self.flow_cv)

    def fields(self) -> dict:
        """The constructor arguments (what a trial spec stores)."""
        return {"age": list(self.age), "sex": self.sex, "weight": None if self.weight is None else list(self.weight),
                "bmi": None if self.bmi is None else list(self.bmi), "volume_cv": self.volume_cv, "flow_cv": self.flow_cv}

    def sample(self, seed: int, ids: np.ndarray) -> dict[str, np.ndarray]:
        ids = np.asarray(ids, dtype=np.int64)
        out = {n: np.empty(ids.size) for n in self.names}
        # Runs of consecutive ids are drawn in one call (patient i depends on (seed, i) only, so the grouping
        # changes nothing but the speed).
        breaks = np.flatnonzero(np.diff(ids) != 1) + 1
        for run in np.split(np.arange(ids.size), breaks):
            if run.size == 0:
                continue
            ds = population(run.size, seed, first_patient=int(ids[run[0]]), **self._options())
            for name, (var, _) in _SCALARS.items():
                out[name][run] = ds[var].values
            volume, flow = ds["volume"], ds["blood_flow"]
            for o in ORGANS:
                out[f"VOL_{o}"][run] = volume.sel(organ=o).values
                if o not in _NO_FLOW:
                    out[f"FLOW_{o}"][run] = flow.sel(organ=o).values
        return out

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and self.fields() == other.fields()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.fields().items() if v is not None)
        return f"Individuals({args})"


def _pair(value):
    return None if value is None else tuple(float(v) for v in value)
