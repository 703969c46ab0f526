"""``torsade_metric``: a CiPA drug through the FDA protocol at multiples of its free Cmax, optionally with its
uncertainty samples, as one batch (:func:`vhtwin.cipa.run_assay`)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import xarray as xr

from ..errors import InputError
from .assay import ANALYSED, BATCH, BEATS, CYCLE_LENGTH, run_assay
from .drugs import N_SAMPLES, Drug, drug as get_drug


def torsade_metric(
    drug: str | Drug,
    cmax_multiples: Sequence[float] = (1, 2, 3, 4),
    samples: int | Sequence[int] = 0,
    *,
    beats: int = BEATS,
    analysed: int = ANALYSED,
    cycle_length: float = CYCLE_LENGTH,
    batch: int = BATCH,
    **solver_options: Any,
) -> xr.Dataset:
    """qNet, APD90, APD50 and EADs of ``drug`` over concentrations (and uncertainty samples).

    Parameters
    ----------
    drug : str or Drug
        A CiPA drug (:func:`vhtwin.cipa.drugs`).
    cmax_multiples : sequence of float
        Concentrations as multiples of the drug's free Cmax (0 is the drug-free control).
    samples : int or sequence of int
        0: the optimal fit only (no ``sample`` dimension). ``N``: the FDA's uncertainty samples 1..N (at most
        2000); a sequence: those samples. Sample ``k`` is always row ``k`` of the FDA's files, whatever else is in
        the batch, so a result depends on ``(drug, concentration, k)`` only.
    beats, analysed, cycle_length, batch, **solver_options
        The protocol and the batching (:func:`vhtwin.cipa.run_assay`; the FDA's: 1000 beats at 2000 ms, the last
        250 analysed).

    Returns
    -------
    xarray.Dataset
        ``qNet`` (uC/uF), ``APD90``, ``APD50`` (ms), ``EAD`` (bool), ``n_EAD`` and the solver ``status`` over
        ``concentration`` (nM; with the ``cmax_multiple`` coordinate) and, with samples, ``sample``.
    """
    d = drug if isinstance(drug, Drug) else get_drug(drug)
    multiples = np.atleast_1d(np.asarray(cmax_multiples, float))
    if multiples.ndim != 1 or multiples.size == 0 or np.any(~np.isfinite(multiples) | (multiples < 0)):
        raise InputError(f"cmax_multiples {cmax_multiples!r} must be one or more finite numbers >= 0")
    sample_ids = _samples(samples)
    conc = multiples * d.cmax
    c, k = np.meshgrid(conc, sample_ids if sample_ids is not None else [0], indexing="ij")
    params = d.parameters(c.ravel(), k.ravel())
    out = run_assay(params, beats=beats, analysed=analysed, cycle_length=cycle_length, batch=batch, **solver_options)
    shape = c.shape
    coords = {"concentration": ("concentration", conc, {"units": "nM", "long_name": "free drug concentration"}),
              "cmax_multiple": ("concentration", multiples, {"units": "1"})}
    dims = ("concentration", "sample")
    if sample_ids is not None:
        coords["sample"] = ("sample", sample_ids)
    data = {}
    for name in ("qNet", "APD90", "APD50", "EAD", "n_EAD", "V_max", "V_rest", "status"):
        values = out[name].values.reshape(shape)
        if sample_ids is None:
            data[name] = xr.Variable(("concentration",), values[:, 0], attrs=out[name].attrs)
        else:
            data[name] = xr.Variable(dims, values, attrs=out[name].attrs)
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(out.attrs, drug=d.name, cmax=d.cmax, cmax_units="nM", risk=d.risk, training=int(d.training),
                    hill_uncertainty=int(d.hill_uncertainty))
    return ds


def _samples(samples) -> np.ndarray | None:
    if isinstance(samples, (bool, np.bool_)):
        raise InputError(f"samples {samples!r} must be a whole number or a list of sample numbers")
    if isinstance(samples, (int, np.integer)):
        if not 0 <= samples <= N_SAMPLES:
            raise InputError(f"samples {samples} must be from 0 to {N_SAMPLES} (the FDA's uncertainty samples)")
        return None if samples == 0 else np.arange(1, samples + 1)
    ids = np.asarray(samples)
    if ids.ndim != 1 or ids.size == 0 or not np.issubdtype(ids.dtype, np.integer) or np.any((ids < 1) | (ids > N_SAMPLES)):
        raise InputError(f"samples {samples!r} must be sample numbers from 1 to {N_SAMPLES}")
    return ids
