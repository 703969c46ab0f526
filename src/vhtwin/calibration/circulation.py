"""Cardiovascular patient twins: circulation-model parameters from a patient's measured haemodynamic indices.

A clinician measures a cuff pressure (systolic and diastolic), a heart rate and a cardiac output -- not a pressure
waveform -- so the data of a circulation twin are *beat summaries* of the model's periodic steady state. The
estimate is the individual MAP, as in :func:`vhtwin.calibrate`:

    OBJ(eta) = sum_i (m_i - f_i(theta(eta)))^2 / (2 sd_i^2) + 1/2 eta^T Omega^-1 eta

with ``m_i`` the measured indices, ``f_i`` the same indices of the model's steady beat, ``sd_i`` the measurement
error (defaults in :data:`DEFAULT_SD`) and the population's Omega as prior. The heart rate is not estimated: it
sets the model's beat (its ``HR`` parameter in min-1, or its ``period`` in s).

The steady beat: every lane starts from the periodic steady state at the prior's typical values (found once by a
long simulation) and is simulated ``beats`` more beats at its own parameters; the indices are taken over the last
beat, sampled at ``samples_per_beat`` points. Gradients and Hessians come from JAX through that solve. Since a few
beats from a warm start are not fully periodic at parameters far from the typical ones, the search restarts from
the steady state at the estimate (``rounds`` times); ``beat_change`` reports the largest relative change of the
fitted indices over the last beat, so a twin whose beat has not settled shows it.
"""

from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from .. import engine
from ..analysis.haemodynamic_indices import beat_indices
from ..errors import InputError
from ..model import Model
from ..options import DEFAULTS, SolverOptions
from ..simulate import Simulator, simulate
from . import fit as _fit, prior as _prior

#: The solve's tolerances: tighter than the general defaults (``DEFAULTS.rtol``, ``DEFAULTS.atol``), since the search
#: differentiates the indices through the solve and tight measurement SDs amplify the solver's error in them.
RTOL, ATOL = 1e-8, 1e-10

#: Indices that can be measured, with their unit and what they need from the model.
INDICES = {
    "SBP": ("mmHg", "pressure"), "DBP": ("mmHg", "pressure"), "MAP": ("mmHg", "pressure"), "PP": ("mmHg", "pressure"),
    "CO": ("L min-1", "flow or volume"), "SV": ("mL", "flow or volume"),
    "EDV": ("mL", "volume"), "ESV": ("mL", "volume"), "EF": ("1", "volume"),
}

#: Default measurement SDs: ``(kind, value)`` with kind "additive" (index units) or "proportional" (of the measured
#: value). Cuff pressures: 5 mmHg, the largest mean difference a validated oscillometric device may have against a
#: reference (ISO 81060-2:2018). Cardiac output and volumes: 10 %, the precision of thermodilution and of
#: echocardiographic volumes reported in method-comparison studies (Critchley & Critchley, J Clin Monit Comput
#: 1999; 15:85-91: limits of agreement of about +-20 % between two methods of about 10 % each). EF: 0.05.
DEFAULT_SD = {
    "SBP": ("additive", 5.0), "DBP": ("additive", 5.0), "MAP": ("additive", 5.0), "PP": ("additive", 5.0),
    "CO": ("proportional", 0.10), "SV": ("proportional", 0.10), "EDV": ("proportional", 0.10),
    "ESV": ("proportional", 0.10), "EF": ("additive", 0.05),
}


def _beat_parameter(model: Model) -> tuple[str, str]:
    """The parameter that sets the beat: ``("HR", "min-1")`` or ``("period", "s")``."""
    units = {p.name: p.unit for p in model.parameters}
    if units.get("HR") == "min-1":
        return "HR", "min-1"
    if units.get("period") == "s":
        return "period", "s"
    raise InputError(f"calibrate_circulation: {model.name} has neither a heart-rate parameter 'HR' (min-1) nor a beat "
                     "'period' (s); the heart rate sets the beat")


def _per_patient(value, n: int | None, what: str) -> np.ndarray:
    a = np.asarray(value, dtype=float)
    if a.ndim > 1 or (a.ndim == 1 and n is not None and a.size != n):
        raise InputError(f"calibrate_circulation: {what} must be a number or one value per patient ({n}), got shape {a.shape}")
    return a


def _check(model, measurements, heart_rate, sd, pressure, volume, flow):
    if not isinstance(measurements, Mapping) or not measurements:
        raise InputError("calibrate_circulation: measurements must be a non-empty dict of index -> value, e.g. "
                         "{'SBP': 128.0, 'DBP': 82.0, 'CO': 5.4}")
    unknown = [k for k in measurements if k not in INDICES]
    if unknown:
        raise InputError(f"calibrate_circulation: unknown index {unknown[0]!r}; allowed: {list(INDICES)} (the heart "
                         "rate is given as heart_rate=)")
    outputs = set(model.observable_names) | set(model.state_names)
    for role, name in (("pressure", pressure), ("volume", volume), ("flow", flow)):
        if name is not None and name not in outputs:
            raise InputError(f"calibrate_circulation: {role} {name!r} is not an observable or state of {model.name}; "
                             f"they are {sorted(outputs)}")
    for k in measurements:
        need = INDICES[k][1]
        ok = {"pressure": pressure is not None, "volume": volume is not None,
              "flow or volume": flow is not None or volume is not None}[need]
        if not ok:
            raise InputError(f"calibrate_circulation: {k} needs the model's {need} (give {need.split()[0]}=...)")
    values = {k: np.asarray(v, dtype=float) for k, v in measurements.items()}
    sizes = {v.size for v in values.values() if v.ndim == 1} | ({np.size(heart_rate)} if np.ndim(heart_rate) else set())
    if len(sizes) > 1:
        raise InputError(f"calibrate_circulation: measurements and heart_rate give different numbers of patients {sorted(sizes)}")
    n = sizes.pop() if sizes else None
    for k, v in values.items():
        _per_patient(v, n, f"measurement {k}")
        if not np.all(np.isfinite(v)) or np.any(v <= 0):
            raise InputError(f"calibrate_circulation: measurement {k} = {v.tolist()} must be finite and > 0 ({INDICES[k][0]})")
    hr = _per_patient(heart_rate, n, "heart_rate")
    if not np.all(np.isfinite(hr)) or np.any(hr < 20) or np.any(hr > 250):
        raise InputError(f"calibrate_circulation: heart_rate {hr.tolist()} must be a heart rate in min-1, from 20 to 250")
    B = n or 1
    values = {k: np.broadcast_to(v, (B,)).astype(float) for k, v in values.items()}
    sds = {}
    for k, v in values.items():
        given = (sd or {}).get(k)
        if given is None:
            kind, x = DEFAULT_SD[k]
            sds[k] = x * v if kind == "proportional" else np.full(B, x)
        else:
            s = np.broadcast_to(np.asarray(given, dtype=float), (B,))
            if not np.all(np.isfinite(s)) or np.any(s <= 0):
                raise InputError(f"calibrate_circulation: sd of {k} {np.asarray(given).tolist()} must be > 0 ({INDICES[k][0]})")
            sds[k] = s.astype(float)
    unused = [k for k in (sd or {}) if k not in values]
    if unused:
        raise InputError(f"calibrate_circulation: sd given for {unused[0]!r}, which is not among the measurements {list(values)}")
    return values, sds, np.broadcast_to(hr, (B,)).astype(float), n is not None


def indices(beat: Mapping[str, Any], period, names) -> dict:
    """Haemodynamic indices ``names`` of one sampled beat per lane (JAX): ``beat[role]`` is ``(L, S + 1)`` over the
    beat (both ends included), ``period`` (L,) in s. The shared implementation
    (:func:`vhtwin.analysis.beat_indices`), with the extremes refined so that the objective is smooth."""
    values = beat_indices(period, **beat, refine_peaks=True)
    return {k: values[k] for k in names}


@dataclass
class CirculationTwin:
    """A calibrated circulation: MAP parameters with Laplace uncertainty, fitted against measured indices.

    Attributes
    ----------
    params : dict
        Every model parameter by name (model units); the estimated ones at the MAP, the heart rate as given.
    eta, cov : ndarray
        MAP etas over ``eta_names`` and their Laplace covariance (inverse Hessian), with a leading patient axis for
        several patients.
    measured, fitted, sd : dict
        Per index: the measurement, the model's value at the MAP, the measurement SD.
    initial : dict
        The periodic steady state at the MAP (state name -> value at the start of a beat): start a forecast here.
    beat_change : ndarray
        Largest relative change of the fitted indices from the previous beat (a settled beat is near 0).
    converged, objective, gradient_norm, iterations
        Diagnostics of the last search round.
    """

    model: Model
    eta_names: tuple
    eta: np.ndarray
    cov: np.ndarray
    params: dict
    measured: dict
    fitted: dict
    sd: dict
    initial: dict
    beat_change: np.ndarray
    converged: np.ndarray
    objective: np.ndarray
    gradient_norm: np.ndarray
    iterations: np.ndarray
    _prior: Any = None
    _settings: Any = None

    def predict(self, names=("SBP", "DBP", "MAP", "CO", "SV"), n_samples: int = 200, level: float = 0.9,
                seed: int = 0) -> xr.Dataset:
        """Indices over the Laplace posterior: median and central ``level`` interval per index and patient.

        Parameters
        ----------
        names : sequence of str
            Indices to predict (any the model's outputs allow, measured or not).
        n_samples : int
            Posterior draws of the etas per patient.
        level : float
            Central probability of the interval.
        seed : int
            Seed of the draws.
        """
        if not 0 < level < 1:
            raise InputError(f"predict: level {level!r} must be between 0 and 1")
        s = self._settings
        bad = [k for k in names if k not in INDICES or not _available(k, s)]
        if bad:
            raise InputError(f"predict: index {bad[0]!r} cannot be computed from this model's outputs; allowed here: "
                             f"{[k for k in INDICES if _available(k, s)]}")
        eta = np.atleast_2d(self.eta)
        cov = self.cov.reshape((-1,) + self.cov.shape[-2:])
        B, k = eta.shape
        undefined = np.isnan(cov).any(axis=(1, 2))
        if undefined.any():
            raise InputError(f"predict: the Laplace covariance is undefined (Hessian not positive definite) for "
                             f"patient(s) {np.flatnonzero(undefined).tolist()}; check twin.converged")
        z = np.random.default_rng([int(seed), 7]).standard_normal((B, n_samples, k))
        root = np.linalg.cholesky(cov + 1e-300 * np.eye(k))
        lanes = (eta[:, None, :] + np.einsum("bij,bnj->bni", root, z)).reshape(B * n_samples, k)
        rep = lambda a: np.repeat(np.asarray(a), n_samples, axis=0)
        start = {n: rep(np.atleast_1d(v)) for n, v in self.initial.items()}
        with jax.enable_x64(True):
            values = _simulate_indices(self.model, self._prior, lanes, rep(s["typical_rows"]), rep(s["hr"]), start, s,
                                       list(names))
        lo, hi = (1 - level) / 2, (1 + level) / 2
        data = {}
        dims = ("patient",) if self.eta.ndim == 2 else ()
        pick = (lambda a: a) if dims else (lambda a: a[0])
        for n in names:
            v = values[n].reshape(B, n_samples)
            data[n] = xr.Variable(dims, pick(np.nanmedian(v, axis=1)), {"units": INDICES[n][0]})
            data[f"{n}_lower"] = xr.Variable(dims, pick(np.nanquantile(v, lo, axis=1)), {"units": INDICES[n][0]})
            data[f"{n}_upper"] = xr.Variable(dims, pick(np.nanquantile(v, hi, axis=1)), {"units": INDICES[n][0]})
        return xr.Dataset(data, attrs={"level": float(level), "n_samples": int(n_samples), "seed": int(seed)})

    def __repr__(self) -> str:
        B = np.atleast_2d(self.eta).shape[0]
        lines = [f"<vhtwin CirculationTwin of {self.model.name}: {B} patient{'s' if B != 1 else ''}, "
                 f"{int(np.sum(self.converged))}/{B} converged>"]
        sd = np.sqrt(np.diagonal(self.cov, axis1=-2, axis2=-1)).reshape(B, -1)
        for b in range(min(B, 5)):
            est = ", ".join(f"{n} {np.atleast_1d(self.params[n])[b]:.4g} {self.model.unit_of(n)} (eta {np.atleast_2d(self.eta)[b, j]:+.3f} "
                            f"+- {sd[b, j]:.3f})" for j, n in enumerate(self.eta_names))
            fit = ", ".join(f"{k} {np.atleast_1d(self.measured[k])[b]:.4g} -> {np.atleast_1d(self.fitted[k])[b]:.4g}"
                            for k in self.measured)
            lines.append(f"  patient {b}: {est}; measured -> fitted: {fit}")
        return "\n".join(lines)


def _available(name: str, s) -> bool:
    need = INDICES[name][1]
    return {"pressure": s["pressure"] is not None, "volume": s["volume"] is not None,
            "flow or volume": s["flow"] is not None or s["volume"] is not None}[need]


def _beat_grid(period: np.ndarray, beats: int, samples: int) -> np.ndarray:
    """Per lane: the output times of the last two beats (2 * samples + 1 points) after ``beats`` beats from 0."""
    frac = np.arange(2 * samples + 1) / samples
    return period[:, None] * (beats - 2 + frac[None, :])


def _outputs(s) -> dict:
    return {role: s[role] for role in ("pressure", "volume", "flow") if s[role] is not None}


def _simulator(model, lanes_params, period, s) -> Simulator:
    """The solve of the last two beats; every state's start is given at each call (the warm start)."""
    grid = _beat_grid(period, s["beats"], s["samples"])
    return Simulator(model, lanes_params, times=grid, n_patients=grid.shape[0], outputs=sorted(set(_outputs(s).values())),
                     t0=0.0, initial=dict.fromkeys(model.state_names, 0.0), **s["options"].as_dict())


def _split(out, s, L):
    """The sampled last and previous beats per role, each (L, S + 1)."""
    S = s["samples"]
    last, previous = {}, {}
    for role, name in _outputs(s).items():
        x = np.reshape(np.asarray(out[name]), (L, -1))
        previous[role], last[role] = x[:, : S + 1], x[:, S:]
    return last, previous


def _simulate_indices(model, prior, eta, typical_rows, hr, start, s, names) -> dict:
    """Indices of the last beat for many lanes (numpy; NaN where the solve failed)."""
    L = eta.shape[0]
    period = 60.0 / hr
    params = {n: np.repeat(v, L // v.shape[0]) for n, v in s["fixed"].items()}
    params.update(_lane_params(prior, eta, typical_rows.T, s, hr))
    out = simulate(model, params, times=_beat_grid(period, s["beats"], s["samples"]),
                   initial=start, outputs=sorted(set(_outputs(s).values())), t0=0.0, **s["options"].as_dict())
    last, _ = _split({k: out[k].values for k in _outputs(s).values()}, s, L)
    values = _indices_of(last, period, tuple(names))
    ok = out["status"].values == 0
    return {k: np.where(ok, np.asarray(v), np.nan) for k, v in values.items()}


def _lane_params(prior, eta, typical_rows, s, hr):
    """Every estimated parameter at ``eta`` plus the beat parameter from the heart rate, by name, each (L,) (numpy)."""
    values = prior.individual_values(eta, typical_rows)
    params = {n: values[j] for j, n in enumerate(prior.eta_names)}
    beat = s["beat"][0]
    params[beat] = np.asarray(hr, float) if beat == "HR" else 60.0 / np.asarray(hr, float)
    return params


def _steady_state(model, prior, eta, typical_rows, hr, s) -> dict:
    """The state at the start of a beat after ``warmup`` beats from the model's initial state, per lane.

    Not :func:`vhtwin.periodic.periodic_steady_state`: that one paces one period shared by the batch until a
    tolerance is met, while here every patient beats at its own measured heart rate, and a fixed number of beats
    keeps the warm start -- hence the objective -- the same function of the parameters in every round.
    """
    params = _lane_params(prior, eta, typical_rows.T, s, hr)
    fixed = {k: np.asarray(v) for k, v in params.items()}
    for n, v in prior.typical.items():
        fixed.setdefault(n, np.asarray(v))
    end = (s["warmup"] * 60.0 / hr)[:, None]
    options = s["options"].replace(max_steps=max(1, s["warmup"]) * s["options"].max_steps)  # one output: the end
    out = simulate(model, fixed, times=end, outputs=list(model.state_names), t0=0.0, **options.as_dict())
    bad = out["status"].values != 0
    if bad.any():
        raise InputError(f"calibrate_circulation: the warm-up to the periodic steady state failed for patient(s) "
                         f"{np.flatnonzero(bad)[:10].tolist()} ({out['status_name'].values[bad][:3].tolist() if 'status_name' in out else 'solver status'})")
    return {n: out[n].values[:, -1] for n in model.state_names}


class _Static(NamedTuple):
    """What the compiled beat search is specialised to (hashable)."""

    compiled: engine.Compiled
    kinds: tuple[str, ...]
    eta_rows: tuple[int, ...]
    roles: tuple  # (role, "observed" or "state", row) for pressure / volume / flow
    samples: int
    names: tuple[str, ...]  # the measured indices, in order


@dataclass(frozen=True)
class _BeatSearch:
    """The twin's objective over its lanes: a static part and the data it reads, padded to the solve's lanes."""

    static: _Static
    data: dict
    n_lanes: int

    @classmethod
    def build(cls, model, sim: Simulator, prior, names, values, sds, period, s) -> "_BeatSearch":
        pr = sim.problem
        eta_rows = tuple(model.parameter_names.index(n) for n in prior.eta_names)
        compiled = engine.Compiled.of(pr, 1, sensitivities=eta_rows)  # derivatives for the etas' rows only
        W = compiled.width * compiled.n_chunks
        lanes, shared = engine.host_design(pr, 1)
        saved = pr.saved_states
        roles = tuple((role, "observed", model.observable_names.index(name)) if name in model.observable_names
                      else (role, "state", saved.index(name)) for role, name in _outputs(s).items())
        B = pr.n_patients
        pad = lambda a: np.concatenate([a, np.repeat(a[..., -1:], W - B, axis=-1)], axis=-1) if W > B else np.asarray(a)
        data = {
            "p": pad(np.broadcast_to(pr.params, (pr.params.shape[0], B))), "typical": pad(prior.typical_matrix()),
            "lower": prior.lower, "upper": prior.upper, "lanes": lanes, "shared": shared,
            "m": pad(np.stack([values[k] for k in names])).T, "sd": pad(np.stack([sds[k] for k in names])).T,
            "omega_inv": np.asarray(prior.omega_inv, float), "period": pad(np.asarray(period, float)),
        }
        static = _Static(compiled, tuple(prior.kinds), eta_rows,
                         roles, int(s["samples"]), tuple(names))
        return cls(static, data, B)

    def _padded(self, eta, start):
        W = self.data["m"].shape[0]
        eta = np.concatenate([np.asarray(eta, float), np.zeros((W - self.n_lanes, eta.shape[1]))])
        y0 = np.stack([np.asarray(v, float) for v in start.values()])
        return eta, np.concatenate([y0, np.repeat(y0[:, -1:], W - self.n_lanes, axis=1)], axis=1)

    def search(self, eta, start, *, max_iter: int):
        eta, y0 = self._padded(eta, start)
        with engine.counting():
            result = jax.device_get(_beat_search(self.static)(eta, y0, self.data, np.int32(max_iter)))
        return _fit.Result(*(np.asarray(x)[: self.n_lanes] for x in result))

    def beats(self, eta, start):
        """The sampled last and previous beats per role at ``eta`` from ``start``, each (L, S + 1)."""
        eta, y0 = self._padded(eta, start)
        with engine.counting():
            last, previous, _ = _beats_of(self.static, jnp.asarray(eta), jnp.asarray(y0), self.data)
        cut = lambda d: {k: np.asarray(v)[: self.n_lanes] for k, v in d.items()}
        return cut(last), cut(previous)


def _beats(static: _Static, eta, y0, data):
    """Last and previous beats per role (W, S + 1) and the solve status (W,) at ``eta`` (pure: jit-able)."""
    values = _prior.individual(static.kinds, eta, data["typical"], data["lower"], data["upper"])
    p = jnp.asarray(data["p"]).at[jnp.asarray(static.eta_rows)].set(values)
    states, observed, status, _, _ = engine.execute(static.compiled, p, y0, data["lanes"], data["shared"])
    S = static.samples
    last, previous = {}, {}
    for role, kind, row in static.roles:
        x = (observed if kind == "observed" else states)[row, : 2 * S + 1].T  # (W, 2S + 1)
        previous[role], last[role] = x[:, : S + 1], x[:, S:]
    return last, previous, status


_beats_of = jax.jit(_beats, static_argnums=0)
_indices_of = jax.jit(lambda beat, period, names: indices(beat, period, names), static_argnums=2)


def _residuals(static: _Static, eta, y0, data):
    last, _, status = _beats(static, eta, y0, data)
    f = indices(last, data["period"], static.names)
    f = jnp.stack([f[n] for n in static.names], axis=1)
    r = (data["m"] - f) / data["sd"]
    return r, (status == 0) & jnp.all(jnp.isfinite(r), axis=1)


@functools.lru_cache(maxsize=16)
def _beat_search(static: _Static):
    """The compiled search for ``static``: Gauss--Newton derivatives (first order: one sensitivity solve)."""

    def run(eta0, y0, data, max_iter):
        # The adaptive solve and the sampled extremes make the objective smooth only piecewise, at a level that
        # tight measurement SDs amplify, so a gradient test alone may never pass. The Newton decrement g^T H^-1 g
        # is the squared length of the remaining Newton step in posterior SDs: below 1e-5 the step left is under
        # 0.3 % of a posterior SD, which ends the search.
        derive = _fit.gauss_newton(lambda e: _residuals(static, e, y0, data), data["omega_inv"])
        return _fit.minimise(None, eta0, max_iter=max_iter, gtol=1e-4, ftol=1e-5, derivatives_of=derive)

    return jax.jit(run)


def calibrate_circulation(
    model: Model | str,
    measurements: Mapping[str, Any],
    *,
    prior,
    heart_rate,
    sd: Mapping[str, Any] | None = None,
    pressure: str | None = None,
    volume: str | None = None,
    flow: str | None = None,
    beats: int = 6,
    warmup: int = 40,
    rounds: int = 2,
    samples_per_beat: int = 200,
    solver=DEFAULTS.solver,
    rtol: float = RTOL,
    atol: float = ATOL,
    max_steps: int = DEFAULTS.max_steps,
    max_iter: int = 40,
) -> CirculationTwin:
    """Calibrate a circulation twin to measured haemodynamic indices (cuff pressures, cardiac output, volumes).

    Parameters
    ----------
    model : Model or str
        A circulation model driven by a heart rate (``cardio/windkessel3``, ``cardio/smith2004``, ...).
    measurements : dict
        Index -> measured value (scalar, or one per patient): ``SBP``, ``DBP``, ``MAP``, ``PP`` (mmHg), ``CO``
        (L/min), ``SV``, ``EDV``, ``ESV`` (mL), ``EF`` (fraction).
    prior : Population
        Population of ``model``: typical values and Omega of the parameters to estimate (those with a variance).
    heart_rate : float or array
        Measured heart rate (min-1): sets the beat, not estimated.
    sd : dict, optional
        Measurement SD per index (index units); defaults in :data:`DEFAULT_SD`.
    pressure, volume, flow : str, optional
        The model's arterial pressure, ventricular volume and ejection flow (observable or state names); default
        ``P_ao`` for the pressure where the model has it, ``V_lv`` for the volume, and ``Q_in`` for the flow when
        there is no volume.
    beats : int
        Beats simulated from the warm start per objective evaluation (the indices are those of the last).
    warmup : int
        Beats from the model's initial state to the warm start.
    rounds : int
        Search rounds, each from the periodic steady state at the previous estimate.
    samples_per_beat : int
        Samples per beat for the extremes and the mean.
    solver, rtol, atol, max_steps
        Passed to the solve (:class:`vhtwin.options.SolverOptions`; float64 always). The tolerances default to
        :data:`RTOL` and :data:`ATOL`, tighter than the general defaults; the rest to the general defaults.
    max_iter : int
        Most Newton iterations per round.

    Returns
    -------
    CirculationTwin

    Examples
    --------
    >>> wk = vh.load_model("cardio/windkessel3")
    >>> pop = vh.Population(wk, omega={"R": 0.09, "C": 0.09, "SV": 0.04})
    >>> twin = vh.calibrate_circulation(wk, {"SBP": 128.0, "DBP": 78.0, "CO": 5.6}, prior=pop, heart_rate=72.0)
    >>> twin.params["R"], twin.predict()["MAP"]
    """
    from ..population import Population

    if isinstance(model, str):
        from ..library import load_model

        model = load_model(model)
    if not isinstance(model, Model):
        raise InputError(f"calibrate_circulation: model must be a vhtwin.Model or a library name, got {type(model).__name__}")
    for name, value, low in (("beats", beats, 2), ("warmup", warmup, 0), ("rounds", rounds, 1),
                             ("samples_per_beat", samples_per_beat, 10), ("max_steps", max_steps, 1),
                             ("max_iter", max_iter, 1)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise InputError(f"calibrate_circulation: {name} {value!r} must be an integer >= {low}")
    outputs = set(model.observable_names) | set(model.state_names)
    if pressure is None and "P_ao" in outputs:
        pressure = "P_ao"
    if volume is None and flow is None:
        if "V_lv" in outputs:
            volume = "V_lv"
        elif "Q_in" in outputs:
            flow = "Q_in"
    values, sds, hr, batched = _check(model, measurements, heart_rate, sd, pressure, volume, flow)
    beat = _beat_parameter(model)
    if not isinstance(prior, Population):
        raise InputError(f"calibrate_circulation prior must be a vhtwin.Population, got {type(prior).__name__}")
    B = hr.shape[0]
    ids = np.arange(B)
    pri = _prior.build(model, prior, ids, batched, [], None, residual={})
    if beat[0] in pri.eta_names:
        raise InputError(f"calibrate_circulation prior: omega has an eta on {beat[0]!r}, which the measured heart rate "
                         "sets; remove it from omega")
    options = SolverOptions(solver=solver, rtol=float(rtol), atol=float(atol), precision="float64",
                            max_steps=int(max_steps))
    s = dict(beats=int(beats), warmup=int(warmup), samples=int(samples_per_beat), options=options, pressure=pressure,
             volume=volume, flow=flow, beat=beat, hr=hr)
    typical_rows = pri.typical_matrix().T  # (B, k)
    s["typical_rows"] = typical_rows
    names = list(values)
    period = 60.0 / hr
    k = len(pri.eta_names)
    fixed = {n: v for n, v in pri.typical.items() if n not in pri.eta_names and n != beat[0]}
    s["fixed"] = fixed

    with jax.enable_x64(True):
        # One compiled search for every round and every patient of the same buckets: the warm start, the design and
        # the measurements are its arguments, not constants.
        base = {**fixed, **{n: pri.typical[n] for n in pri.eta_names}, beat[0]: hr if beat[0] == "HR" else period}
        search = _BeatSearch.build(model, _simulator(model, base, period, s), pri, names, values, sds, period, s)
        eta = np.zeros((B, k))
        for _ in range(int(rounds)):
            start = _steady_state(model, pri, eta, typical_rows, hr, s)
            result = search.search(eta, start, max_iter=int(max_iter))
            eta = np.asarray(result.x)
        start = _steady_state(model, pri, eta, typical_rows, hr, s)
        last, previous = search.beats(eta, start)
        all_names = tuple(n for n in INDICES if _available(n, s))
        fitted = {n: np.asarray(v) for n, v in _indices_of(last, period, all_names).items()}
        before = {n: np.asarray(v) for n, v in _indices_of(previous, period, all_names).items()}
        change = np.max(np.stack([np.abs(fitted[n] - before[n]) / np.maximum(np.abs(fitted[n]), 1e-12) for n in all_names]), axis=0)
        individual = pri.individual_values(eta, typical_rows.T)

    cov = _fit.laplace_covariance(result.hessian)
    params = {n: np.asarray(v, float) for n, v in pri.typical.items()}
    for j, n in enumerate(pri.eta_names):
        params[n] = individual[j]
    params[beat[0]] = hr if beat[0] == "HR" else period
    one = (lambda a: a) if batched else (lambda a: a[0])
    return CirculationTwin(
        model=model, eta_names=pri.eta_names, eta=one(eta), cov=one(cov),
        params={n: one(np.asarray(v)) for n, v in params.items()},
        measured={n: one(values[n]) for n in names}, fitted={n: one(v) for n, v in fitted.items()},
        sd={n: one(sds[n]) for n in names}, initial={n: one(np.asarray(v)) for n, v in start.items()},
        beat_change=one(change), converged=one(np.asarray(result.converged)), objective=one(np.asarray(result.value)),
        gradient_norm=one(np.max(np.abs(np.asarray(result.gradient)), axis=1)), iterations=one(np.asarray(result.iterations)),
        _prior=pri, _settings=s,
    )
