"""A population fit as an xarray Dataset and a Zarr store: estimates, uncertainty, etas, residuals and provenance.

The store (format ``vhtwin-fit/1``) holds

- per parameter (dim ``parameter``): ``estimate``, ``fixed``, ``se``, ``rse_percent``, ``ci_low``, ``ci_high``,
  ``shrinkage_percent``, and ``covariance`` / ``correlation`` (``parameter`` x ``parameter_2``; NaN for fixed ones);
- ``omega`` (``eta`` x ``eta_2``), the subjects' ``etas`` (``subject`` x ``eta``), each subject's objective
  contribution ``subject_ofv`` and whether its modes converged (``subject_converged``);
- per measurement record (dim ``record``): ID, TIME, DV, CENS, DVID, PRED, IPRED, RES, IRES, WRES, CWRES, IWRES,
  NPDE;
- the objective per evaluation (``history``) and, for SAEM, the parameters per iteration (``trace``);
- attributes: the objective (``ofv``, ``minus_2_log_likelihood``, ``aic``, ``bic``), the status (converged,
  message, covariance status), counts, the spec, the model's name and source hash, the dataset's sha256, the vhtwin
  version and a sha256 of every variable's values -- :func:`read_fit` recomputes them, so a damaged store is
  detected (:class:`vhtwin.StoreDamagedError`), never read as numbers.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import StoreDamagedError
from ..io import open_zarr, quiet_zarr, write_zarr
from .result import PopulationFit

FORMAT = "vhtwin-fit/1"


def fit_dataset(fit: PopulationFit, *, spec: dict | None = None, data_sha256: str | None = None,
                npde_simulations: int = 1000, seed: int = 0) -> xr.Dataset:
    """Everything a fit reports, as one Dataset (see the module docstring)."""
    from .. import __version__

    table = fit.table()
    names = list(table.index)
    cov = np.full((len(names), len(names)), np.nan)
    free = fit.covariance
    idx = [names.index(n) for n in free.index]
    cov[np.ix_(idx, idx)] = free.to_numpy()
    sd = np.sqrt(np.diag(cov))
    eta_names = list(fit.par.eta_names)
    res = fit.residuals(npde_simulations=npde_simulations, seed=seed)
    ds = xr.Dataset(
        {
            **{c: ("parameter", table[c].to_numpy()) for c in
               ("estimate", "fixed", "se", "rse_percent", "ci_low", "ci_high", "shrinkage_percent")},
            "covariance": (("parameter", "parameter_2"), cov),
            "correlation": (("parameter", "parameter_2"), cov / np.outer(sd, sd)),
            "omega": (("eta", "eta_2"), fit.omega.to_numpy()),
            "etas": (("subject", "eta"), fit.etas.to_numpy()),
            "subject_ofv": ("subject", fit.subjects_status["ofv"].to_numpy()),
            "subject_converged": ("subject", fit.subjects_status["converged"].to_numpy()),
            "history": ("evaluation", np.asarray([v for _, v in fit.evaluator.history], float)),
            **{f"record_{v}": ("record", res[v].to_numpy()) for v in res.data_vars},
        },
        coords={"parameter": names, "parameter_2": names, "eta": eta_names, "eta_2": eta_names,
                "subject": np.asarray(fit.etas.index), "record": res.record.to_numpy(),
                "evaluation": np.arange(len(fit.evaluator.history))},
    )
    if fit.trace is not None:
        ds["trace"] = (("iteration", "parameter"), np.asarray(fit.trace.parameters))
    for v in ("DV", "PRED", "IPRED", "RES", "IRES", "TIME"):
        ds[f"record_{v}"].attrs["units"] = res[v].attrs.get("units", "")
    model = fit.assembled.problem.model
    ds.attrs = {
        "format": FORMAT, "method": fit.method, "ofv": fit.ofv, "minus_2_log_likelihood": fit.minus_2_log_likelihood,
        "ofv_note": "ofv excludes n log(2 pi) of the quantified measurements (as NONMEM); minus_2_log_likelihood, "
                    "aic and bic include it",
        "aic": fit.aic, "bic": fit.bic, "converged": bool(fit.converged), "message": fit.message,
        "iterations": int(fit.iterations), "evaluations": int(fit.evaluations),
        "covariance_status": fit.covariance_status, "n_subjects": fit.n_subjects,
        "n_observations": fit.n_observations, "n_estimated": fit.n_estimated, "elapsed_s": float(fit.elapsed),
        "model": model.name, "model_source_sha256": model.source_hash(), "vhtwin_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "npde_simulations": int(npde_simulations), "npde_seed": int(seed),
        "spec": json.dumps(spec or {}, sort_keys=True), "data_sha256": data_sha256 or "",
    }
    ds.attrs["checksums"] = json.dumps(_checksums(ds), sort_keys=True)
    return ds


def _checksums(ds: xr.Dataset) -> dict:
    out = {}
    for name, var in ds.variables.items():
        values = np.ascontiguousarray(var.values)
        if values.dtype.kind in "OU":
            values = np.asarray([str(v) for v in values.reshape(-1)], dtype="U")
        out[str(name)] = hashlib.sha256(values.tobytes()).hexdigest()
    return out


def write_fit(fit: PopulationFit, path, *, overwrite: bool = False, **kwargs) -> Path:
    """Write :func:`fit_dataset` to a new Zarr store (``overwrite`` replaces only a Zarr store)."""
    ds = fit_dataset(fit, **kwargs)
    with quiet_zarr():
        return write_zarr(ds, path, overwrite=overwrite)


def read_fit(path) -> xr.Dataset:
    """Open a fit store, every value loaded and checked against its stored sha256.

    Raises
    ------
    StoreDamagedError
        If a variable is missing, cannot be read, or its values differ from what was written.
    """
    try:
        with quiet_zarr():
            ds = open_zarr(path).load()
    except (OSError, ValueError, KeyError) as err:
        raise StoreDamagedError(f"fit store {str(path)!r} cannot be read whole: {err}") from None
    if ds.attrs.get("format") != FORMAT:
        raise StoreDamagedError(f"{str(path)!r} is not a vhtwin fit store (format {ds.attrs.get('format')!r}, "
                                f"expected {FORMAT!r})")
    expected = json.loads(ds.attrs["checksums"])
    found = _checksums(ds)
    for name, digest in expected.items():
        if name not in found:
            raise StoreDamagedError(f"fit store {str(path)!r}: variable {name!r} is missing")
        if found[name] != digest:
            raise StoreDamagedError(f"fit store {str(path)!r}: variable {name!r} differs from what was written "
                                    "(its sha256 does not match): the store is damaged")
    return ds
