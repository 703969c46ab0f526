"""Opening a trial store: lazily, from stored data alone, every read checked.

Nothing in a store is imported, executed or unpickled: the model is named by its library name and source hash,
the spec is JSON, and only the codecs of :mod:`vhtwin.store_safety` are built. Each variable reads through
:func:`vhtwin.trial.integrity.checked_array`, so damage surfaces as a named error at the read that meets it.
"""

from __future__ import annotations

import os
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr
from dask.base import tokenize

from ..errors import InputError, StoreDamagedError
from ..io import quiet_zarr
from ..store_safety import check_codecs
from . import store as st
from .integrity import checked_array
from .tables import iter_dataframes


def open_trial(store) -> xr.Dataset:
    """Open a trial store lazily (dask arrays; nothing is read until used, nothing in the store is executed).

    The Dataset's attributes hold the provenance and the spec; ``attrs["vhtwin_progress"]`` says how many batches
    are done (a store of an unfinished run opens too: its missing patients are NaN with status -1). Reading a
    chunk of a done batch that is missing, truncated or altered raises :class:`~vhtwin.errors.StoreDamagedError`
    naming the variable, the patients and the file -- it is never read as NaN.

    Raises
    ------
    InputError
        If ``store`` is not a trial store, or names a codec vhtwin does not read.
    StoreDamagedError
        If its metadata or attributes are damaged.
    """
    import zarr

    path = Path(store)
    if not path.exists():
        raise InputError(f"trial store {str(path)!r} does not exist")
    attrs = st.read_attrs(path)
    layout = attrs.get("vhtwin_layout")
    if layout not in st.READABLE_LAYOUTS:
        raise InputError(f"{str(path)!r} is not a vhtwin trial store this version reads (layout {layout!r}; "
                         f"it reads {', '.join(st.READABLE_LAYOUTS)})")
    sizes = st.store_shape(path, attrs)
    check_codecs(path)
    done = st.done_batches(path)
    try:
        with quiet_zarr():
            ds = xr.open_zarr(path, zarr_format=3, consolidated=False, decode_timedelta=False, chunks=None)
            group = zarr.open_group(str(path), mode="r", zarr_format=3)
            arrays = {name: group[name] for name in ds.data_vars}
    except Exception as err:  # a coordinate or an array's metadata that cannot be read
        raise StoreDamagedError(
            f"trial store {str(path)!r} is damaged and cannot be opened ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}); run 'vhtwin verify {path}' to see what"
        ) from None
    # The graph's names change whenever the store's metadata or its set of done batches does.
    token = tokenize(str(path.resolve()), os.stat(path / "zarr.json").st_mtime_ns, sorted(done))
    for name, array in arrays.items():
        checked = checked_array(path, name, array, set(done), sizes["batch_size"], layout)
        data = da.from_array(checked, chunks=array.chunks, name=f"vhtwin-read-{name}-{token}", lock=False,
                             meta=np.empty((0,) * array.ndim, dtype=array.dtype))
        ds[name] = ds[name].copy(data=data)
    ds.attrs["vhtwin_progress"] = f"{len(done)} of {sizes['n_batches'] * sizes['arms']} batches done"
    return ds


@xr.register_dataset_accessor("vhtwin")
class TrialAccessor:
    """``ds.vhtwin`` on a dataset from :func:`open_trial`: its results as tables, streamed batch by batch.

    (xarray's own ``ds.to_dataframe()`` loads the whole store at once, in wide form.)
    """

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    def iter_dataframes(self, table: str = "long"):
        """Long-format (or per-patient) pandas DataFrames, one per batch: :func:`vhtwin.trial.tables.iter_dataframes`."""
        return iter_dataframes(self._ds, table)
