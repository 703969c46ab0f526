"""``Dataset``: a clinical dataset in NONMEM's layout, read once and used by simulation, calibration and estimation.

A dataset holds, per subject (ID, in order of first appearance): the dose regimen its records describe, its
observation times, its records (every row of the source, with DV, MDV, DVID and the covariates) and its covariates.
It is made by :func:`vhtwin.read_dataset`; nothing in it runs code, and only the columns vhtwin reads are kept (a
text column such as a name is dropped on reading).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import InputError
from ..model import Model


@dataclass(frozen=True, eq=False)
class Dataset:
    """Subjects' regimens, records and covariates read from a NONMEM-style table.

    Attributes
    ----------
    ids : ndarray
        The IDs in order of first appearance.
    regimens : list of Regimen
        One regimen per ID (possibly empty), ADDL expanded.
    observation_times : ndarray
        ``(n_ids, max_obs)`` float array of each ID's observation times, strictly increasing, padded with NaN.
    observation_rows : list of list of list of int
        For each ID and each of its output times, the file rows (1-based) of the observation records at that time.
    records : pandas.DataFrame
        Every record in file order: ID, TIME, EVID, AMT, CMT (as written, when given), RATE, DUR, II, ADDL, SS, DV,
        MDV, DVID, CENS, LIMIT, each covariate (carried forward within its ID) and ROW, the record's 1-based row.
    covariate_names : tuple of str
        The numeric columns read as covariates.
    text_columns : tuple of str
        Columns that held text and were ignored.
    model_name : str
        The model the records were read for (its states number CMT, its observables DVID).
    """

    ids: np.ndarray
    regimens: list
    observation_times: np.ndarray
    observation_rows: list = field(default_factory=list, repr=False)
    records: pd.DataFrame | None = field(default=None, repr=False)
    covariate_names: tuple = ()
    text_columns: tuple = ()
    model_name: str = ""

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        n_records = 0 if self.records is None else len(self.records)
        n_obs = 0 if self.records is None else int(((self.records["EVID"] == 0) & (self.records["MDV"] == 0)).sum())
        return (f"<vhtwin Dataset for {self.model_name}: {len(self)} subjects, {n_records} records, {n_obs} measured "
                f"observations; covariates {list(self.covariate_names)}>")

    # -- per subject ----------------------------------------------------------------------------------------------------
    @property
    def subject_index(self) -> np.ndarray:
        """The subject (0-based, in ``ids`` order) of every record."""
        ids = self.records["ID"].to_numpy()
        change = np.concatenate([[True], ids[1:] != ids[:-1]])
        return np.cumsum(change) - 1

    @property
    def covariates(self) -> pd.DataFrame:
        """Each subject's covariates at its first record (its baseline), one row per ID."""
        first = self.records.groupby(self.subject_index, sort=True).head(1)
        return pd.DataFrame({name: first[name].to_numpy() for name in self.covariate_names}, index=pd.Index(self.ids, name="ID"))

    @property
    def time_varying(self) -> tuple[str, ...]:
        """The covariates that change within some subject."""
        subject = self.subject_index
        out = []
        for name in self.covariate_names:
            v = self.records[name].to_numpy(float)
            same = (v[1:] == v[:-1]) | (np.isnan(v[1:]) & np.isnan(v[:-1]))
            if np.any(~same & (subject[1:] == subject[:-1])):
                out.append(name)
        return tuple(out)

    def record_layout(self) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, position)``: ``rows`` (n_ids, R) the index into ``records`` of each subject's records in order
        (-1 padding), ``position`` (n_ids, R) each record's column among the subject's distinct record times."""
        subject = self.subject_index
        counts = np.bincount(subject, minlength=len(self))
        R = int(counts.max())
        start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        k = np.arange(len(subject)) - start[subject]
        rows = np.full((len(self), R), -1)
        rows[subject, k] = np.arange(len(subject))
        t = self.records["TIME"].to_numpy(float)
        new_time = np.concatenate([[True], (t[1:] != t[:-1]) | (subject[1:] != subject[:-1])])
        distinct = np.cumsum(new_time) - 1
        first_of_subject = distinct[start]
        position = np.full((len(self), R), -1)
        position[subject, k] = distinct - first_of_subject[subject]
        return rows, position

    def record_times(self) -> np.ndarray:
        """``(n_ids, T)``: each subject's distinct record times (dose, observation and other records), increasing,
        NaN-padded: the times at which ``vh.simulate(model, params, data=ds)`` predicts."""
        rows, position = self.record_layout()
        t = self.records["TIME"].to_numpy(float)
        T = int(position.max()) + 1
        out = np.full((len(self), T), np.nan)
        real = rows >= 0
        out[np.nonzero(real)[0], position[real]] = t[rows[real]]
        return out

    # -- conversions ----------------------------------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """The records as a NONMEM-style table (one row per record, in file order; ROW dropped)."""
        return self.records.drop(columns=["ROW"]).reset_index(drop=True)

    def predict(self, model: Model, params=None, **kwargs):
        """Predictions at every record: what ``vh.simulate(model, params, data=self, **kwargs)`` returns.

        See :func:`vhtwin.dataset.predict.predict`.
        """
        from .predict import predict

        if kwargs.get("simulate") is None:
            from ..simulate import simulate

            kwargs["simulate"] = simulate
        return predict(model, params, self, **kwargs)

    def simulate(self, model: Model, params=None, **kwargs):
        """``vh.simulate(model, params, times=observation_times, protocol=regimens, **kwargs)``, patients labelled by ID.

        The outputs at the observation times only (``vh.simulate(model, params, data=ds)`` predicts at every
        record). Passing ``times=`` replaces the observation times (e.g. a dense grid for plotting; it must then
        suit every ID). Every ID needs at least one observation otherwise.
        """
        from ..simulate import simulate

        times = kwargs.pop("times", None)
        if times is None:
            times = self.observation_times
            n_obs = np.sum(~np.isnan(times), axis=1) if times.ndim == 2 and times.shape[1] else np.zeros(len(self.ids), int)
            empty = [i for i, n in zip(self.ids, n_obs) if n == 0]
            if empty:
                raise InputError(
                    f"ID {empty[0]} has no observation records (EVID 0), so it has no output times; "
                    "add observations or pass times= to Dataset.simulate"
                )
        out = simulate(model, params, times=times, protocol=list(self.regimens), **kwargs)
        if "patient" in out.dims:
            out = out.assign_coords(patient=np.asarray(self.ids))
        return out


EventSet = Dataset  # the name of earlier versions: one type
