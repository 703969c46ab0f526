"""Virtual populations of adults: age, sex, height, weight, then organ volumes and blood flows with variability.

Patient ``i`` is drawn from ``(seed, i)`` alone (counter-based draws of :mod:`vhtwin.population.streams`), so the same
individuals come out whatever ``n`` and ``first_patient`` are. For each patient:

1. age ~ uniform on the requested range; sex female with the requested probability (one uniform each);
2. height ~ normal(mean for sex, falling with age after 35 y; SD for sex), BMI ~ log-normal(median = the reference
   BMI of the sex), weight = BMI x height^2 (the spreads and their origins are in the data file, ``[population]``);
3. organ masses scaled to that individual (:func:`vhtwin.physiology.individual`), times log-normal factors
   ``exp(cv_log * eta)`` per compartment (the two blood pools share one) with fat taking up the difference to the
   body weight; blood flow fractions times log-normal factors, renormalised to the cardiac output;
4. a draw whose weight or BMI falls outside the requested range, or whose fat would not be positive, is rejected and
   step 2-3 redrawn with the next attempt counter (1, 2, ...). The first accepted attempt is the patient.

Rejection keeps the distributions truncated to the requested ranges: requesting a weight range changes the
heights too (taller adults are more often heavy), as rejection of whole individuals should.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import xarray as xr

from ..errors import InputError
from ..population import streams
from . import scaling
from .individual import check_ages, physiology_arrays, to_dataset
from .reference import FLOW_PATHS, ORGANS, data, reference

#: Compartments with their own volume variability factor (the two blood pools share "blood"; fat has none).
_VOLUME_GROUPS = tuple(dict.fromkeys("blood" if o.endswith("_blood") else o for o in ORGANS if o != "fat"))
_GROUP_OF_ORGAN = np.array([_VOLUME_GROUPS.index("blood" if o.endswith("_blood") else o) if o != "fat" else 0 for o in ORGANS])
_WORK = 8192  # draws evaluated at once: attempts per pending patient = _WORK / pending, from 8 to 1024


def _range(name: str, value, unit: str):
    if value is None:
        return None
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a pair (low, high) in {unit}, got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 < lo < hi):
        raise InputError(f"{name} range ({lo:g}, {hi:g}) {unit} must have 0 < low < high, both finite")
    return lo, hi


def _female_probability(sex) -> float:
    if isinstance(sex, str):
        key = sex.strip().lower()
        table = {"both": 0.5, "male": 0.0, "m": 0.0, "female": 1.0, "f": 1.0}
        if key not in table:
            raise InputError(f"sex {sex!r} is not known: use 'both', 'male', 'female' or a fraction female in [0, 1]")
        return table[key]
    if isinstance(sex, numbers.Real) and not isinstance(sex, bool) and 0.0 <= float(sex) <= 1.0:
        return float(sex)
    raise InputError(f"sex {sex!r} is not known: use 'both', 'male', 'female' or a fraction female in [0, 1]")


def _count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _cv(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (0.0 <= float(value) < 1.0):
        raise InputError(f"{name} must be a coefficient of variation in [0, 1), got {value!r}")
    return float(value)


def _sex_table(entry) -> tuple[float, float]:
    return float(entry["male"]), float(entry["female"])


def _lognormal_sigma(cv: float) -> float:
    return math.sqrt(math.log1p(cv * cv))


def _attempt(seed, ids, k, age, female, volume_sigma, flow_sigma):
    """Step 2-3 for patients ``ids`` (m,) and attempts ``k`` (K,): arrays flattened over (m, K)."""
    spec = data()["population"]
    pid = ids[:, None]
    z_height = streams.normals(seed, streams.COVARIATES, "physiology.height", pid, k)
    z_bmi = streams.normals(seed, streams.COVARIATES, "physiology.bmi", pid, k)
    shape = z_height.shape
    fem = np.broadcast_to(female[:, None], shape).ravel()
    age_f = np.broadcast_to(age[:, None], shape).ravel()

    mean_m, mean_f = _sex_table(spec["height"]["mean"])
    sd_m, sd_f = _sex_table(spec["height"]["sd"])
    loss_m, loss_f = _sex_table(spec["height"]["loss_rate"])
    mean = np.where(fem, mean_f, mean_m) - np.where(fem, loss_f, loss_m) * np.maximum(age_f - 35.0, 0.0)
    height = mean + np.where(fem, sd_f, sd_m) * z_height.ravel()
    male, female_ref = reference("male"), reference("female")
    ref_bmi = np.where(fem, scaling.body_mass_index(female_ref.body_weight, female_ref.height),
                       scaling.body_mass_index(male.body_weight, male.height))
    bmi = ref_bmi * np.exp(float(spec["bmi"]["sd_log"]["value"]) * z_bmi.ravel())
    weight = bmi * (height / 100.0) ** 2

    volume_factor = flow_factor = None
    if volume_sigma > 0:
        eta = np.stack([streams.normals(seed, streams.ETA, f"physiology.volume.{g}", pid, k).ravel() for g in _VOLUME_GROUPS], axis=1)
        volume_factor = np.exp(volume_sigma * eta[:, _GROUP_OF_ORGAN])
    if flow_sigma > 0:
        eta = np.stack([streams.normals(seed, streams.ETA, f"physiology.flow.{p}", pid, k).ravel() for p in FLOW_PATHS], axis=1)
        flow_factor = np.exp(flow_sigma * eta)
    # Heights this far out (> 20 SD) cannot happen; the guard keeps the formulas away from non-positive heights.
    height = np.maximum(height, 1.0)
    arrays = physiology_arrays(age_f, fem, weight, height, volume_factor, flow_factor)
    return arrays, shape


def population(n, seed, *, age=(20.0, 60.0), sex="both", weight=None, bmi=None, first_patient=0,
               volume_cv=None, flow_cv=None, max_attempts=10_000) -> xr.Dataset:
    """A virtual population of ``n`` adults, patient ``i`` drawn from ``(seed, i)`` alone.

    Parameters
    ----------
    n : int
        Number of patients (>= 1); they are numbered ``first_patient`` to ``first_patient + n - 1``.
    seed : int
        0 to 2**64 - 1.
    age : (low, high)
        Age range in years (uniform), within 18-80 y.
    sex : {"both", "male", "female"} or float
        ``"both"`` is half female; a number is the probability of female.
    weight : (low, high), optional
        Body weight range in kg; draws outside it are rejected and redrawn.
    bmi : (low, high), optional
        Body mass index range in kg m-2; draws outside it are rejected and redrawn.
    first_patient : int
        Global index of the first patient (for drawing a population in chunks).
    volume_cv, flow_cv : float, optional
        Coefficients of variation of the log-normal factors on organ volumes and on blood flow fractions (defaults
        0.10 and 0.05, from the data file); 0 turns variability off.
    max_attempts : int
        Draws per patient before the requested ranges are declared unreachable.

    Returns
    -------
    xarray.Dataset
        As :func:`vhtwin.physiology.individual`, over ``patient`` (the global indices).

    Raises
    ------
    InputError
        Bad ``n``, seed, ranges (empty, non-positive, age outside 18-80 y), unknown sex, or ranges no draw reaches
        within ``max_attempts`` (e.g. a weight range far outside the population).

    Examples
    --------
    >>> import vhtwin as vh
    >>> pop = vh.physiology.population(1000, seed=1, age=(20, 60), sex="both", weight=(50, 100))
    >>> pop.volume.sel(organ="liver").mean().item()          # doctest: +SKIP
    """
    n = _count("n", n, 1)
    first_patient = _count("first_patient", first_patient, 0)
    max_attempts = _count("max_attempts", max_attempts, 1)
    seed = streams.check_seed(seed)
    age_range = _range("age", age, "y")
    check_ages(np.asarray(age_range))
    weight_range, bmi_range = _range("weight", weight, "kg"), _range("bmi", bmi, "kg m-2")
    p_female = _female_probability(sex)
    variability = data()["population"]["variability"]
    volume_sigma = _lognormal_sigma(_cv("volume_cv", variability["volume_cv"]["value"] if volume_cv is None else volume_cv))
    flow_sigma = _lognormal_sigma(_cv("flow_cv", variability["flow_cv"]["value"] if flow_cv is None else flow_cv))

    ids = np.arange(first_patient, first_patient + n, dtype=np.int64)
    uid = ids.astype(np.uint64)
    ages = age_range[0] + (age_range[1] - age_range[0]) * streams.uniforms(seed, streams.COVARIATES, "physiology.age", uid)
    female = streams.uniforms(seed, streams.COVARIATES, "physiology.sex", uid) < p_female

    result: dict[str, np.ndarray] | None = None
    pending = np.arange(n)
    start = 0
    while pending.size and start < max_attempts:
        # How many attempts are drawn at once changes the work, never the result: each patient keeps its first
        # accepted attempt by counter.
        block = int(np.clip(_WORK // pending.size, 8, 1024))
        k = np.arange(start, min(start + block, max_attempts), dtype=np.uint32)
        arrays, shape = _attempt(seed, uid[pending], k, ages[pending], female[pending], volume_sigma, flow_sigma)
        ok = arrays["mass"][:, ORGANS.index("fat")] > 0
        if weight_range:
            ok &= (arrays["body_weight"] >= weight_range[0]) & (arrays["body_weight"] <= weight_range[1])
        if bmi_range:
            ok &= (arrays["body_mass_index"] >= bmi_range[0]) & (arrays["body_mass_index"] <= bmi_range[1])
        ok = ok.reshape(shape)
        found = ok.any(axis=1)
        rows = np.flatnonzero(found)
        take = rows * shape[1] + ok[rows].argmax(axis=1)  # flat index of each patient's first accepted attempt
        if result is None:
            result = {name: np.empty((n,) + a.shape[1:], dtype=a.dtype) for name, a in arrays.items()}
        for name, a in arrays.items():
            result[name][pending[rows]] = a[take]
        pending = pending[~found]
        start += k.size
    if pending.size:
        i = int(ids[pending[0]])
        raise InputError(
            f"patient {i} (and {pending.size - 1} more) found no draw within weight {weight_range} kg and bmi "
            f"{bmi_range} kg m-2 in {max_attempts} attempts: the ranges are too narrow or too far from the "
            f"population of sex {sex!r}, age {age_range} y; widen them or raise max_attempts"
        )
    # Age and sex were drawn once per patient; the attempt arrays carry them through unchanged.
    return to_dataset(result, patient=ids)
