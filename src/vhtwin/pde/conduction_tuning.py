"""Grid-dependent conductivity correction: make the discrete conduction velocity match the converged one.

Why
---
On a coarse grid the upstroke of a cardiac action potential spans only a node or two, and the discrete wave is
slower than the continuous one: on a ten Tusscher 2006 cable the finite-difference speed across the fibres of
Niederer et al. 2011 (sigma_t 0.0176 S/m) is 0.145 m/s at dx 0.2 mm against 0.222 m/s converged. A finite-element
Q1 discretisation with a lumped mass matrix does not help: on a uniform grid its stiffness applied to a field that
varies along one axis only reduces, after division by the lumped mass, to the same three-point stencil, so a planar
front along (or across) the fibres runs at exactly the finite-difference speed. What does help is what openCARP's
``tuneCV`` does: scale each conductivity by the factor that makes a cable on the run's own grid, time step and
diffusion scheme conduct at the converged speed of that conductivity.

How
---
1. *Converged speed.* For the monodomain cable ``dV/dt = D V'' + f(V, s)`` the change of variable ``x -> x / l``
   with ``l = sqrt(D * 1 ms)`` removes ``D``: the speed is ``c = c1 * l`` where ``c1`` (1/ms) depends on the cell
   model, its parameters, the stimulus and the threshold only. ``c1`` is measured once on two fine cables,
   ``h = l/6`` and ``l/12`` at ``dt`` 0.0025 ms, and extrapolated to ``h -> 0`` (Richardson; the three-point stencil
   is second order), so every conductivity of the tissue gets its converged speed from one calibration.
2. *Calibration.* On the run's ``dx``, ``dt``, diffusion scheme, splitting and precision, cohorts of cables with the
   conductivity scaled by factors ``k`` measure ``c(k)``; ``k`` is bracketed on a geometric ladder, then refined on
   a linear one inside the bracket, and interpolated where ``c(k)`` equals the converged speed.

Both steps run the library's own :class:`~vhtwin.pde.Monodomain` solver on 1D cables (one compiled solve per
ladder, the factors being the cohort), and the results are cached per model, parameters, grid, time step and scheme.
The correction applies to planar fronts along the grid axes; a curved or oblique front sees the same factors, which
are then an approximation (the Niederer slab measures how good: ``benchmarks/niederer.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .operators import diffusivity

#: Reference cables: spacing as a fraction of the length scale ``l = sqrt(D * 1 ms)``, time step (ms), length (in l).
REFERENCE_FRACTIONS = (1.0 / 6.0, 1.0 / 12.0)
REFERENCE_DT = 0.0025
CABLE_LENGTH_SCALES = 30.0
#: Stimulated segment at the cable's start, in length scales (1.5 mm for the Niederer sigma_l, as its stimulus cube).
STIMULUS_LENGTH_SCALES = 5.0


@dataclass(frozen=True)
class CableSetup:
    """What a calibration cable shares with the tissue: cell model, parameters, membrane constants, stimulus."""

    model: object
    params: tuple          # sorted (name, value) pairs of scalar cell parameters
    initial: tuple         # sorted (name, value) pairs of scalar initial values
    beta: float            # 1/mm
    Cm: float              # uF/cm^2
    potential: str
    threshold: float
    stimulus_rate: float   # potential units per ms while on
    stimulus_duration: float  # ms

    def key(self):
        return (type(self.model).__module__, type(self.model).__qualname__, self.model.name, self.params,
                self.initial, self.beta, self.Cm, self.potential, self.threshold, self.stimulus_rate,
                self.stimulus_duration)


_REFERENCE_CACHE: dict = {}
_FACTOR_CACHE: dict = {}


def _cable_velocities(setup: CableSetup, sigmas, dx, dt, length, stim_length, slowest, *, diffusion="explicit",
                      splitting="godunov", precision="float64") -> np.ndarray:
    """Conduction velocity (mm/ms) of one cable per conductivity in ``sigmas`` (S/m), all on one grid.

    ``slowest`` (mm/ms) sets how long the run may last: a wave slower than that counts as blocked (NaN).
    """
    from .grid import Grid
    from .monodomain import Conductivity, Monodomain, Stimulus
    from .activation import velocity_along_line

    cells = max(int(round(length / dx)), 20)
    grid = Grid((cells + 1,), float(dx))
    L = grid.lengths[0]
    stim_hi = max(stim_length, 1.5 * dx)
    sig = np.asarray(sigmas, float)
    tissue = Monodomain(setup.model, grid, conductivity=Conductivity(sig, sig),
                        stimuli=[Stimulus([(0.0, stim_hi)], setup.stimulus_rate, 0.0, setup.stimulus_duration,
                                          unit="rate")],
                        beta=setup.beta, Cm=setup.Cm, params=dict(setup.params), initial=dict(setup.initial),
                        potential=setup.potential, threshold=setup.threshold)
    # the run stops once every node activated; a cable that blocks runs to t_end
    t_end = setup.stimulus_duration + 10.0 + L / slowest
    ds = tissue.run(t_end, dt, diffusion=diffusion, splitting=splitting, precision=precision, stop_when_activated=True)
    start = min(stim_hi + 0.1 * L, 0.4 * L)
    cv = velocity_along_line(ds.activation_time, [start], [L - 0.15 * L], trim=0.0)
    cv = np.atleast_1d(np.asarray(cv, float))
    # a cable with an unactivated node did not conduct (block): no speed
    blocked = ~np.all(np.isfinite(ds.activation_time.values), axis=-1)
    cv = np.where(np.atleast_1d(blocked), np.nan, cv)
    return cv


def converged_speed_scale(setup: CableSetup, *, precision: str = "float64") -> float:
    """``c1`` (1/ms): the converged cable speed is ``c1 * sqrt(D * 1 ms)`` for a diffusivity ``D`` (mm^2/ms).

    Measured at ``D`` = 0.1 mm^2/ms (any value gives the same ``c1``) on cables at ``l/6`` and ``l/12`` and
    Richardson-extrapolated to zero spacing.
    """
    key = (setup.key(), precision)
    if key in _REFERENCE_CACHE:
        return _REFERENCE_CACHE[key]
    D = 0.1
    sigma = D * setup.beta * setup.Cm / 100.0  # S/m giving D (operators.diffusivity inverted)
    l = math.sqrt(D)
    speeds = []
    for frac in REFERENCE_FRACTIONS:
        h = frac * l
        dt = min(REFERENCE_DT, 0.4 * h * h / D)
        c = _cable_velocities(setup, [sigma], h, dt, CABLE_LENGTH_SCALES * l, STIMULUS_LENGTH_SCALES * l,
                              0.05 * l, precision=precision)[0]
        if not np.isfinite(c):
            raise InputError(f"{setup.model.name}: the reference cable did not conduct; the stimulus "
                             f"({setup.stimulus_rate:.4g} per ms for {setup.stimulus_duration} ms) may be too weak")
        speeds.append(c)
    c_coarse, c_fine = speeds
    c0 = c_fine + (c_fine - c_coarse) / 3.0
    _REFERENCE_CACHE[key] = c0 / l
    return c0 / l


@dataclass(frozen=True)
class Factor:
    """The calibration of one conductivity: ``factor * sigma`` on the grid conducts at ``converged`` speed."""

    sigma: float        # S/m, as given
    factor: float       # dimensionless
    converged: float    # m/s, the converged cable speed of sigma
    uncorrected: float  # m/s, the cable speed of sigma on the run's grid
    corrected: float    # m/s, the cable speed of factor * sigma on the run's grid (interpolated)


def _interp_factor(ks, cvs, target):
    ok = np.isfinite(cvs)
    # c(k) increases with k; flatten the small wiggles of saltatory conduction on coarse grids
    ks, cvs = ks[ok], np.maximum.accumulate(cvs[ok])
    if ks.size < 2 or target > cvs.max() or target < cvs.min():
        return None
    i = int(np.searchsorted(cvs, target))  # cvs increase with k
    i = min(max(i, 1), ks.size - 1)
    k0, k1, c0, c1 = ks[i - 1], ks[i], cvs[i - 1], cvs[i]
    w = 0.0 if c1 == c0 else (target - c0) / (c1 - c0)
    return float(np.exp(np.log(k0) + w * (np.log(k1) - np.log(k0))))


def conductivity_factors(setup: CableSetup, sigmas, dx: float, dt: float, *, diffusion: str = "explicit",
                         splitting: str = "godunov", precision: str = "float64") -> list[Factor]:
    """Per conductivity (S/m): the factor that makes a cable on this grid conduct at the converged speed.

    Parameters
    ----------
    setup : CableSetup
    sigmas : sequence of float
        Conductivities in S/m (e.g. ``(sigma_l, sigma_t)``); zero gets factor 1.
    dx, dt : float
        The run's grid spacing (mm) and time step (ms).
    diffusion, splitting, precision : str
        As in :meth:`Monodomain.run`; the calibration cables use the same.

    Returns
    -------
    list of Factor, one per conductivity.

    Raises
    ------
    InputError
        When no factor up to the explicit stability limit (or 1000) reaches the converged speed.
    """
    sigmas = [float(s) for s in sigmas]
    key = (setup.key(), tuple(sigmas), float(dx), float(dt), diffusion, splitting, precision)
    if key in _FACTOR_CACHE:
        return _FACTOR_CACHE[key]
    c1 = converged_speed_scale(setup, precision=precision)
    sub = dt / 2 if splitting == "strang" else dt
    out: dict[float, Factor] = {}
    todo = sorted({s for s in sigmas if s > 0})
    if todo:
        Ds = {s: float(diffusivity(s, setup.beta, setup.Cm)) for s in todo}
        targets = {s: c1 * math.sqrt(Ds[s]) for s in todo}
        length = max(CABLE_LENGTH_SCALES * math.sqrt(max(Ds.values())), 40.0 * dx)
        slowest = 0.1 * min(targets.values())
        stim_length = STIMULUS_LENGTH_SCALES * math.sqrt(max(Ds.values()))

        def k_max(s):
            cap = 1000.0
            if diffusion == "explicit":  # 1D forward-Euler limit dx^2 / (2 k D) >= dt, with a margin
                cap = min(cap, 0.95 * dx * dx / (2.0 * Ds[s] * sub))
            return cap

        # pass 1: a geometric ladder from 1/2 to the cap, with 1 (the uncorrected cable) on it; pass 2: a linear
        # ladder inside the bracket
        ladders = {s: np.unique(np.append(np.geomspace(0.5, max(k_max(s), 0.6), 12), 1.0)) for s in todo}
        base = {}
        for pass_ in range(2):
            sig_all = np.concatenate([s * ladders[s] for s in todo])
            cv_all = _cable_velocities(setup, sig_all, dx, dt, length, stim_length, slowest, diffusion=diffusion,
                                       splitting=splitting, precision=precision)
            cvs, n = {}, 0
            for s in todo:
                cvs[s] = cv_all[n:n + ladders[s].size]
                n += ladders[s].size
            new = {}
            for s in todo:
                ks, cv = ladders[s], cvs[s]
                if pass_ == 0:
                    base[s] = float(cv[int(np.argmin(np.abs(ks - 1.0)))])
                k = _interp_factor(ks, cv, targets[s])
                if k is None:
                    raise InputError(
                        f"conductivity {s} S/m: no factor up to {ks[-1]:.3g} makes a cable at dx {dx} mm, dt {dt} ms "
                        f"conduct at its converged speed {targets[s]:.4g} m/s (reached {np.nanmax(cv):.4g} m/s); "
                        f"refine the grid or use implicit diffusion")
                i = int(np.searchsorted(ks, k))
                lo, hi = ks[max(i - 1, 0)], ks[min(i, ks.size - 1)]
                new[s] = (k, np.linspace(lo, hi, 8) if hi > lo else np.array([lo, lo * 1.01]))
            for s in todo:
                out[s] = (new[s][0], ladders[s], cvs[s])
                ladders[s] = new[s][1]
        final = {}
        for s in todo:
            k, ks, cv = out[s]
            corrected = float(np.interp(k, ks, cv)) if np.all(np.isfinite(cv)) else float("nan")
            final[s] = Factor(s, float(k), float(targets[s]), base[s], corrected)
        out = final
    result = [out.get(s, Factor(s, 1.0, 0.0, 0.0, 0.0)) for s in sigmas]
    _FACTOR_CACHE[key] = result
    return result
