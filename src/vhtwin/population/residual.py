"""Residual (unexplained, measurement) error: what turns a model prediction ``f`` into an observation ``y``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..errors import InputError
from . import streams


@dataclass(frozen=True)
class Residual:
    """Residual error model, by SDs of the normal epsilons (NONMEM ``$SIGMA`` holds their squares).

    - additive: ``y = f + a * eps``
    - proportional: ``y = f * (1 + b * eps)`` (``b`` is the CV: 0.1 is 10 %)
    - combined (both given): ``y = f + sqrt(a^2 + (b f)^2) * eps`` -- the variances of independent additive and
      proportional terms add, so this has the distribution of ``f + a eps1 + b f eps2`` (rxode2's ``combined2``,
      NONMEM's ``Y = F + SQRT(A**2 + (B*F)**2) * EPS(1)``, the default of Monolix and rxode2). With
      ``combined="sum"`` the SDs add instead, ``y = f + (a + b |f|) * eps`` (rxode2's ``combined1``).
    - exponential: ``y = f * exp(c * eps)`` -- additive on the log scale; it cannot be combined with the others.

    The noise is not truncated: additive error can give negative concentrations, as a NONMEM simulation does.

    Parameters
    ----------
    additive : float, optional
        SD ``a`` in the unit of the observable (e.g. 0.7 mg/L).
    proportional : float, optional
        CV ``b`` (dimensionless).
    exponential : float, optional
        SD ``c`` on the log scale.
    combined : {"variance", "sum"}
        How additive and proportional parts combine.
    """

    additive: float | None = None
    proportional: float | None = None
    exponential: float | None = None
    combined: str = "variance"

    def __post_init__(self):
        given = {k: v for k, v in (("additive", self.additive), ("proportional", self.proportional),
                                   ("exponential", self.exponential)) if v is not None}
        if not given:
            raise InputError("Residual: give at least one of additive (SD), proportional (CV), exponential (SD on log scale)")
        for k, v in given.items():
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v) or v < 0:
                raise InputError(f"Residual: {k} {v!r} must be a finite number >= 0 (an SD, not a variance)")
        if self.exponential is not None and len(given) > 1:
            raise InputError(f"Residual: exponential error cannot be combined with {[k for k in given if k != 'exponential']}")
        if self.combined not in ("variance", "sum"):
            raise InputError(f"Residual: combined {self.combined!r} must be 'variance' or 'sum'")

    def sd(self, f) -> np.ndarray:
        """SD of ``y`` given the prediction ``f`` (additive/proportional models; on the log scale for exponential)."""
        f = np.asarray(f, dtype=float)
        if self.exponential is not None:
            return np.full(f.shape, float(self.exponential))
        a, b = self.additive or 0.0, self.proportional or 0.0
        if self.combined == "sum":
            return a + b * np.abs(f)
        return np.sqrt(a * a + (b * f) ** 2)

    def apply(self, values, seed: int, patient_ids=None, *, name: str = "") -> xr.DataArray | np.ndarray:
        """Noisy observations from predictions ``values`` of shape ``(patient, time)``.

        The epsilon of observation ``(i, j)`` depends only on ``(seed, patient_ids[i], j)`` -- ``j`` the position
        along the time axis -- and on ``name`` (use a different one per observable so their noises are independent).
        NaN predictions stay NaN.

        Parameters
        ----------
        values : xarray.DataArray or array_like
            Predictions, ``(patient, time)`` (a DataArray's ``patient`` and ``time`` dims, in any order), or
            ``(time,)`` for one patient.
        seed : int
        patient_ids : array_like of int, optional
            Global patient ids of the rows; default the DataArray's ``patient`` coordinate, else ``0 .. n - 1``.
        name : str
            Stream name, e.g. the observable's name.

        Returns
        -------
        Same type and shape as ``values`` (a DataArray keeps its coordinates and attributes).
        """
        seed = streams.check_seed(seed)
        if isinstance(values, xr.DataArray):
            if "time" not in values.dims:
                raise InputError(f"Residual.apply: values has dims {values.dims}; it needs a 'time' dim")
            da = values.transpose(*(d for d in ("patient", "time") if d in values.dims))
            if da.ndim != values.ndim:
                raise InputError(f"Residual.apply: values has dims {values.dims}; expected ('patient', 'time')")
            if patient_ids is None and "patient" in da.coords:
                patient_ids = da["patient"].values
            noisy = self.apply(da.values, seed, patient_ids, name=name)
            return da.copy(data=noisy).transpose(*values.dims)
        f = np.asarray(values, dtype=float)
        single = f.ndim == 1
        f2 = f[None, :] if single else f
        if f2.ndim != 2:
            raise InputError(f"Residual.apply: values must be (patient, time) or (time,), got shape {f.shape}")
        ids = np.arange(f2.shape[0]) if patient_ids is None else np.atleast_1d(patient_ids)
        ids = streams.check_ids(ids, "Residual.apply patient_ids")
        if ids.shape[0] != f2.shape[0]:
            raise InputError(f"Residual.apply: {ids.shape[0]} patient_ids for {f2.shape[0]} rows of values")
        eps = streams.normals(seed, streams.RESIDUAL, name, ids[:, None], np.arange(f2.shape[1])[None, :])
        if self.exponential is not None:
            y = f2 * np.exp(self.exponential * eps)
        else:
            y = f2 + self.sd(f2) * eps
        return y[0] if single else y
