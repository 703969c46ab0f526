"""The 28 CiPA reference drugs as data: Hill block of six currents, dynamic hERG binding, free Cmax, risk class, and
the FDA's uncertainty samples (``data/README.md`` names every file's source).

A drug becomes parameters of ``cardio/ohara_rudy_cipa2017`` (:meth:`Drug.parameters`): ``IC50_<current>`` and
``h_<current>`` for INa, INaL, ICaL, Ito, IKs and IK1 (no block measured: IC50 1e30 nM), and ``Kmax``, ``Ku``, ``n``,
``halfmax``, ``Vhalf`` for hERG. Sample ``k`` (1-2000) is row ``k`` of the FDA's bootstrap (hERG) and MCMC (Hill,
training drugs) files, the pairing the FDA's own uncertainty runs use, and of vhtwin's MCMC of the validation drugs'
Hill block (``data/hill_block_samples_validation.csv.gz``, made by the FDA's method); sample 0 is the optimal fit.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import pandas as pd

from ..errors import InputError

#: the currents blocked by the Hill equation, in the model's parameter names
HILL_CURRENTS = ("INa", "INaL", "ICaL", "Ito", "IKs", "IK1")
#: the dynamic hERG binding parameters
HERG_PARAMETERS = ("Kmax", "Ku", "n", "halfmax", "Vhalf")
#: IC50 (nM) standing for "no block measured" (the model's default)
NO_BLOCK_IC50 = 1e30
#: the FDA's number of uncertainty samples per drug
N_SAMPLES = 2000
#: risk classes by the FDA's code (``CiPA`` column): 2 high, 1 intermediate, 0 low
RISK_CLASSES = {2: "high", 1: "intermediate", 0: "low"}

# newCiPA.csv column prefixes -> model current names
_COLUMNS = {"Peak_sodium": "INa", "Late_sodium": "INaL", "CaL": "ICaL", "Ito": "Ito", "IKs": "IKs", "IK1": "IK1"}
_TRAINING = ("quinidine", "bepridil", "dofetilide", "sotalol", "chlorpromazine", "cisapride", "terfenadine",
             "ondansetron", "diltiazem", "mexiletine", "ranolazine", "verapamil")


@dataclass(frozen=True)
class Drug:
    """One CiPA drug.

    Attributes
    ----------
    name : str
    cmax : float
        Free maximal therapeutic concentration (nM), the unit of ``cmax_multiples``.
    risk : str
        Published torsade risk class: ``"high"``, ``"intermediate"`` or ``"low"``.
    training : bool
        One of the 12 drugs the CiPA metric was calibrated on (the other 16 validated it).
    hill : dict
        ``{current: (IC50 nM, Hill coefficient)}`` for the currents with measured block.
    herg : dict
        The optimal dynamic hERG binding parameters (``HERG_PARAMETERS``).
    """

    name: str
    cmax: float
    risk: str
    training: bool
    hill: dict = field(repr=False)
    herg: dict = field(repr=False)

    def parameters(self, concentration, sample=0) -> dict[str, np.ndarray]:
        """Model parameters for each (concentration, sample) pair, broadcast against each other.

        Parameters
        ----------
        concentration : float or array_like
            Free drug concentration(s), nM.
        sample : int or array_like of int
            0: the optimal fit; 1-2000: that uncertainty sample.

        Returns
        -------
        dict
            ``D`` and the drug's block parameters as 1-D arrays of the broadcast length.
        """
        c = np.asarray(concentration, float)
        k = np.asarray(sample)
        if not np.issubdtype(k.dtype, np.integer) or np.any((k < 0) | (k > N_SAMPLES)):
            raise InputError(f"sample {sample!r} must be whole numbers from 0 (the optimal fit) to {N_SAMPLES}")
        if np.any(~np.isfinite(c) | (c < 0)):
            raise InputError(f"concentration {concentration!r} must be finite and >= 0 nM")
        c, k = np.broadcast_arrays(np.atleast_1d(c), np.atleast_1d(k))
        c, k = c.ravel(), k.ravel()
        out = {"D": c.copy()}
        herg = _herg_samples(self.name)
        for name in HERG_PARAMETERS:
            out[name] = np.where(k == 0, self.herg[name], herg[name][np.maximum(k, 1) - 1])
        hill = _hill_samples(self.name)
        for current in HILL_CURRENTS:
            ic50, h = self.hill.get(current, (NO_BLOCK_IC50, 1.0))
            ic50, h = np.full(k.size, ic50), np.full(k.size, h)
            if hill is not None:
                s_ic50 = hill[f"{current}_IC50"][np.maximum(k, 1) - 1]
                s_h = hill[f"{current}_h"][np.maximum(k, 1) - 1]
                blocked = np.isfinite(s_ic50) & (s_ic50 > 0) & np.isfinite(s_h) & (s_h > 0)
                use = (k > 0)
                ic50 = np.where(use, np.where(blocked, s_ic50, NO_BLOCK_IC50), ic50)
                h = np.where(use, np.where(blocked, s_h, 1.0), h)
            out[f"IC50_{current}"], out[f"h_{current}"] = ic50, h
        return out

    @property
    def hill_uncertainty(self) -> bool:
        """Whether the uncertainty samples vary the Hill block too (every drug since the validation drugs' samples
        ship; the FDA's for the 12 training drugs, vhtwin's by the FDA's method for the 16 others)."""
        return _hill_samples(self.name) is not None


def drugs() -> list[str]:
    """The 28 CiPA drugs, training drugs first, each set from high to low risk as the FDA lists them."""
    return list(_table())


def drug(name: str) -> Drug:
    """The CiPA drug called ``name`` (case-insensitive)."""
    table = _table()
    key = str(name).strip().lower()
    if key not in table:
        raise InputError(f"drug {name!r} is not one of the 28 CiPA drugs; they are {list(table)}")
    return table[key]


@functools.cache
def _table() -> dict[str, Drug]:
    rows = _read("cipa_drugs.csv")
    herg = _read("herg_binding.csv").set_index("drug")
    table = {}
    for _, row in rows.iterrows():
        if row["drug"] not in herg.index:
            continue  # flecainide: not a CiPA drug (data/README.md)
        hill = {}
        for prefix, current in _COLUMNS.items():
            ic50, h = float(row[f"{prefix}IC50"]), float(row[f"{prefix}h"])
            if ic50 > 0 and h > 0:
                hill[current] = (ic50, h)
        table[row["drug"]] = Drug(
            name=row["drug"], cmax=float(row["therapeutic"]), risk=RISK_CLASSES[int(row["CiPA"])],
            training=row["drug"] in _TRAINING, hill=hill,
            herg={k: float(herg.loc[row["drug"], k]) for k in HERG_PARAMETERS},
        )
    order = sorted(table, key=lambda d: (not table[d].training, -_rank(table[d].risk)))
    return {d: table[d] for d in order}


def _rank(risk: str) -> int:
    return {v: k for k, v in RISK_CLASSES.items()}[risk]


@functools.cache
def _herg_samples(name: str) -> dict[str, np.ndarray]:
    table = _samples("herg_binding_bootstrap.csv.gz")
    rows = table[table["drug"] == name].sort_values("sample")
    return {k: rows[k].to_numpy(float) for k in HERG_PARAMETERS}


@functools.cache
def _hill_samples(name: str) -> dict[str, np.ndarray] | None:
    # the FDA's MCMC samples of the training drugs; vhtwin's, by the FDA's method, of the validation drugs
    for file in ("hill_block_samples.csv.gz", "hill_block_samples_validation.csv.gz"):
        table = _samples(file)
        rows = table[table["drug"] == name].sort_values("sample")
        if not rows.empty:
            return {c: rows[c].to_numpy(float) for c in rows.columns if c not in ("drug", "sample")}
    return None


@functools.cache
def _samples(file: str) -> pd.DataFrame:
    return _read(file)


def _read(file: str) -> pd.DataFrame:
    with resources.as_file(resources.files(__package__).joinpath("data").joinpath(file)) as path:
        return pd.read_csv(path)
