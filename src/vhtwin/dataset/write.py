"""Write predictions at a dataset's records as a NONMEM-style CSV table (the columns a modeller expects)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError

#: Record columns written first, in this order, when the result has them.
_COLUMNS = ("ID", "TIME", "EVID", "AMT", "DV", "MDV", "DVID", "CENS", "PRED", "IPRED")


def write_dataset(result: xr.Dataset, path, *, overwrite: bool = False) -> Path:
    """Write ``vh.simulate(model, params, data=ds)``'s result as a CSV file, one row per record in the source's order.

    Columns: ID, TIME, EVID, AMT, DV, MDV, DVID, CENS, PRED (with a population), IPRED, then every other prediction
    (each observable or state asked for) and the covariates. Missing values are written as ``.``, as NONMEM reads
    them. Only what the result holds is written: the dataset's text columns (names, record numbers) were never read.

    Parameters
    ----------
    result : xarray.Dataset
        Predictions over ``(patient, record)`` from ``vh.simulate(..., data=ds)``.
    path : str or os.PathLike
        The CSV file to write.
    overwrite : bool
        Replace an existing file (default: refuse).

    Returns
    -------
    pathlib.Path
        The file written.
    """
    if not isinstance(result, xr.Dataset) or "ROW" not in result or "record" not in result.dims:
        raise InputError("write_dataset: result must be the xarray Dataset of vh.simulate(model, params, data=ds) "
                         "(with a 'record' dimension and ROW)")
    path = Path(os.fspath(path))
    if path.exists() and not overwrite:
        raise InputError(f"write_dataset: {str(path)!r} already exists; pass overwrite=True to replace it")
    if path.exists() and path.is_dir():
        raise InputError(f"write_dataset: {str(path)!r} is a folder, not a file")
    rows = result["ROW"].values
    real = rows >= 0
    order = np.argsort(rows[real], kind="stable")
    table = {}
    patient = np.broadcast_to(np.arange(result.sizes["patient"])[:, None], rows.shape)[real][order]
    table["ID"] = np.asarray(result["ID"].values)[patient]
    table["TIME"] = result["time"].values[real][order]
    per_record = [k for k, v in result.data_vars.items() if v.dims == ("patient", "record") and k not in ("ROW", "observed")]
    first = [k for k in _COLUMNS if k in per_record]
    rest = [k for k in per_record if k not in first]
    for name in first + rest:
        table[name] = result[name].values[real][order]
    frame = pd.DataFrame(table)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_csv(tmp, index=False, na_rep=".", float_format="%.10g")
    os.replace(tmp, path)
    return path
