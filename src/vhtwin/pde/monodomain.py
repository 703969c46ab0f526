"""Monodomain reaction--diffusion on a structured grid with a vhtwin cell model at every node.

Equation and units
------------------
::

    Cm dV/dt = -I_ion(V, s) + I_stim / beta + (1 / beta) div(sigma grad V)

with ``V`` in mV, ``t`` in ms, lengths in mm, ``sigma`` in S/m, ``beta`` (surface-to-volume ratio) in 1/mm, ``Cm`` in
uF/cm^2 and a volume stimulus ``I_stim`` in uA/cm^3 (positive = depolarising, Niederer et al. 2011's convention).
Dividing by ``Cm``:

- the reaction term is the cell model's own ``dV/dt`` (its ``rhs``, the membrane current per unit capacitance in
  uA/uF = mV/ms), with the model's inputs (its single-cell stimulus included) at their defaults;
- the stimulus adds ``I_stim / (beta Cm)``; uA/cm^3 / (1/mm * uF/cm^2) = 10 * uA/uF, i.e.
  ``dV/dt += I_stim / (10 beta Cm)`` mV/ms (50000 uA/cm^3 with beta 140/mm and Cm 1 -> 35.7 mV/ms);
  :class:`Stimulus` ``unit="rate"`` gives the ``dV/dt`` term directly instead (e.g. for dimensionless potentials);
- diffusion is ``div(D grad V)`` with ``D = 100 sigma / (beta Cm)`` mm^2/ms (:func:`operators.diffusivity`), a full
  tensor ``D = D_t I + (D_l - D_t) f f^T`` for a fibre direction ``f`` (along x by default).

Time stepping (operator splitting)
----------------------------------
Each step of ``dt``: the reaction step advances the cell model at every node by ``dt`` with the generalized
Rush--Larsen method of :mod:`vhtwin.solvers.rush_larsen` (exponential for the states the model declares
``gate=True``, forward Euler for the rest, the potential included; the library solver's own ``step`` is called, nodes
being its batch lanes, layout ``(n_states, n_nodes)``); the diffusion step advances ``dV/dt = div(D grad V)`` by
``dt`` on the potential alone, either explicitly (forward Euler, refused with :class:`InputError` above its stability
limit) or implicitly (backward Euler or Crank--Nicolson, matrix-free conjugate gradients; BiCGStab for off-axis
fibres). The default splitting is Godunov (reaction ``dt``, then diffusion ``dt``): Rush--Larsen and forward Euler
are first order, so Strang splitting (``splitting="strang"``: diffusion ``dt/2``, reaction ``dt``, diffusion
``dt/2``) cannot raise the overall order and costs a second diffusion step; it is available for comparisons.

Activation times are recorded on the fly: the first step over which ``V`` goes from ``<= threshold`` to ``>
threshold`` gives the linearly interpolated crossing time within that step; nodes that never cross report NaN. Only
``V`` snapshots at requested times are stored, never the whole history.

Conductivity correction
-----------------------
On coarse grids the discrete wave is slower than the continuous one, most across the fibres, where the front is
thinnest. ``conductivity_correction="cable"`` scales the longitudinal and transverse conductivities by factors
calibrated on 1D cables at the run's ``dx``, ``dt`` and scheme so that each conducts at its converged speed
(:mod:`.conduction_tuning`); the factors and the cable speeds are recorded in the result's attrs. Default ``"none"``.

A cohort of tissues (same grid) runs as one batch: conductivities and cell parameters given as 1-D arrays (one value
per tissue) add a leading ``tissue`` axis; the reaction step sees ``tissues * nodes`` lanes and the diffusion
operator applies each tissue's tensor.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InputError
from ..equations import equations
from .grid import Grid
from .operators import apply_diffusion, diffusivity, fibre_tensor, has_cross_terms, max_stable_dt

DIFFUSION_METHODS = ("explicit", "backward-euler", "crank-nicolson")
CONDUCTIVITY_CORRECTIONS = ("none", "cable")
SPLITTINGS = ("godunov", "strang")


@dataclass(frozen=True)
class Stimulus:
    """A rectangular stimulus pulse on a region of the tissue.

    Parameters
    ----------
    region : sequence of (lo, hi) pairs, or a boolean array
        A box in mm (one pair per grid axis, nodes on its faces included; ``None`` for a whole axis) or a
        boolean mask of the grid's shape.
    amplitude : float
        ``unit="uA cm-3"`` (default): a volume current density, positive = depolarising; ``unit="rate"``: added to
        the potential's ``d/dt`` directly (the potential's unit per ms).
    start, duration : float
        On over ``start <= t < start + duration`` (ms; a step is stimulated when its midpoint is in the window).
    """

    region: Any
    amplitude: float
    start: float = 0.0
    duration: float = 2.0
    unit: str = "uA cm-3"

    def __post_init__(self):
        for name in ("amplitude", "start", "duration"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not math.isfinite(v):
                raise InputError(f"Stimulus {name} {v!r} must be a finite number")
        if self.duration <= 0:
            raise InputError(f"Stimulus duration {self.duration!r} must be > 0 (ms)")
        if self.unit not in ("uA cm-3", "rate"):
            raise InputError(f"Stimulus unit {self.unit!r} must be 'uA cm-3' (volume current) or 'rate' (d potential/dt)")

    def mask(self, grid: Grid) -> np.ndarray:
        r = self.region
        if isinstance(r, np.ndarray) and r.dtype == bool:
            if r.shape != grid.shape:
                raise InputError(f"Stimulus mask shape {r.shape} differs from the grid's {grid.shape}")
            m = r
        else:
            m = grid.box(*r)
        if not m.any():
            raise InputError(f"Stimulus region {self.region!r} contains no grid node (dx {grid.dx} mm)")
        return m


@dataclass(frozen=True)
class Conductivity:
    """Transversely isotropic conductivity in S/m: ``sigma_t I + (sigma_l - sigma_t) f f^T``.

    ``longitudinal``/``transverse`` are scalars or 1-D arrays (one value per tissue of a cohort); ``fibre`` is the
    fibre direction (default along x).
    """

    longitudinal: Any = 0.1334
    transverse: Any = 0.0176
    fibre: tuple = (1.0, 0.0, 0.0)

    @classmethod
    def isotropic(cls, sigma) -> "Conductivity":
        return cls(sigma, sigma)

    def tensor(self, ndim: int) -> np.ndarray:
        for name in ("longitudinal", "transverse"):
            v = np.asarray(getattr(self, name), float)
            if v.ndim > 1 or not np.all(np.isfinite(v)) or np.any(v < 0):
                raise InputError(f"Conductivity {name} {getattr(self, name)!r} must be a finite value >= 0 (S/m) or a 1-D array of them")
        return fibre_tensor(self.longitudinal, self.transverse, self.fibre, ndim)

    def n_tissues(self) -> int | None:
        sizes = {np.size(getattr(self, n)) for n in ("longitudinal", "transverse") if np.ndim(getattr(self, n)) == 1}
        if len(sizes) > 1:
            raise InputError(f"Conductivity arrays have different lengths {sorted(sizes)}")
        return sizes.pop() if sizes else None


def _as_conductivity(c) -> Conductivity:
    if isinstance(c, Conductivity):
        return c
    if isinstance(c, (tuple, list)) and len(c) == 2:
        return Conductivity(c[0], c[1])
    if isinstance(c, (int, float, np.floating, np.ndarray)) and not isinstance(c, bool):
        return Conductivity.isotropic(c)
    raise InputError(f"conductivity {c!r} must be a Conductivity, a (sigma_l, sigma_t) pair or a number (S/m)")


class Monodomain:
    """A monodomain tissue (or a cohort of tissues on one grid) with a cell model at every node.

    Parameters
    ----------
    model : vhtwin.Model or str
        The cell model (time unit ms), or a library name such as ``"cardio/tentusscher2006"``.
    grid : Grid
    conductivity : Conductivity, (sigma_l, sigma_t) or float
        S/m; 1-D arrays make a cohort (one tissue per entry).
    stimuli : sequence of Stimulus
    beta : float
        Surface-to-volume ratio, 1/mm (default 140, Niederer et al. 2011).
    Cm : float
        Membrane capacitance, uF/cm^2 (default 1).
    params : mapping, optional
        Cell-model parameters: a scalar for every node, or a 1-D array with one value per tissue (a cohort).
    initial : mapping, optional
        Initial values of states, overriding the model's defaults: scalars, or arrays of the grid's shape (or
        ``(tissues, *grid.shape)``) for a non-uniform start.
    potential : str, optional
        The state that diffuses: default ``V``, else ``v``, else the one state in mV.
    threshold : float, optional
        Activation threshold on the potential (default 0 for a potential in mV, 0.5 for a dimensionless one).
    conductivity_correction : {"none", "cable"}
        ``"none"`` (default): the conductivities as given. ``"cable"``: at each :meth:`run`, scale the longitudinal
        and the transverse conductivity by the factors that make a 1D cable on this grid, with this time step and
        scheme, conduct at the converged speed of the given conductivity (:mod:`vhtwin.pde.conduction_tuning`, as
        openCARP's ``tuneCV``). It removes the coarse-grid slowing of planar waves (Niederer slab: P8 40.9 ms at
        dx 0.2 mm, as extrapolated from the plain finite differences, which give 54.1 ms there) at the cost of a few
        cable solves per (dx, dt) -- about a minute on two CPU cores, then cached. It is not the default because it changes what the conductivity means
        (an effective value tuned to one wave, not the tissue's) and costs those solves on every new grid; use it
        when activation times on coarse grids matter. Needs a stimulus (the cables are stimulated like the tissue's
        first one) and scalar cell parameters.
    """

    def __init__(self, model, grid: Grid, *, conductivity=Conductivity(), stimuli: Sequence[Stimulus] = (),
                 beta: float = 140.0, Cm: float = 1.0, params: Mapping[str, Any] | None = None,
                 initial: Mapping[str, float] | None = None, potential: str | None = None, threshold: float | None = None,
                 conductivity_correction: str = "none"):
        from ..library import load_model
        from ..solvers.rush_larsen import RushLarsen

        if isinstance(model, str):
            model = load_model(model)
        if getattr(model, "time_unit", None) != "ms":
            raise InputError(f"Monodomain needs a cell model with time unit 'ms', {model.name} has {model.time_unit!r}")
        if not isinstance(grid, Grid):
            raise InputError(f"grid must be a vhtwin.pde.Grid, got {type(grid).__name__}")
        for name, v in (("beta", beta), ("Cm", Cm)):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not math.isfinite(v) or v <= 0:
                raise InputError(f"{name} {v!r} must be a finite number > 0")
        self.model, self.grid, self.beta, self.Cm = model, grid, float(beta), float(Cm)
        self.conductivity = _as_conductivity(conductivity)
        self.stimuli = tuple(stimuli)
        for s in self.stimuli:
            if not isinstance(s, Stimulus):
                raise InputError(f"stimuli must be Stimulus objects, got {type(s).__name__}")

        names = model.state_names
        if potential is None:
            unit_mv = [s.name for s in model.states if s.unit == "mV"]
            potential = "V" if "V" in names else "v" if "v" in names else unit_mv[0] if len(unit_mv) == 1 else None
            if potential is None:
                raise InputError(f"{model.name}: name the state that diffuses with potential=...; states are {list(names)}")
        if potential not in names:
            raise InputError(f"potential {potential!r} is not a state of {model.name}; states are {list(names)}")
        self.potential = potential
        self.iv = names.index(potential)
        self.potential_unit = model.unit_of(potential)
        self.threshold = float(threshold if threshold is not None else (0.0 if self.potential_unit == "mV" else 0.5))

        # cohort size
        sizes = {}
        nt = self.conductivity.n_tissues()
        if nt is not None:
            sizes["conductivity"] = nt
        params = dict(params or {})
        unknown = [k for k in params if k not in model.parameter_names]
        if unknown:
            raise InputError(f"unknown parameters {unknown} for {model.name}; it has {list(model.parameter_names)}")
        for k, v in params.items():
            a = np.asarray(v, float)
            if a.ndim > 1:
                raise InputError(f"parameter {k!r}: a scalar or a 1-D array (one value per tissue), got shape {a.shape}")
            if not np.all(np.isfinite(a)):
                raise InputError(f"parameter {k!r} has non-finite values")
            if a.ndim == 1:
                sizes[k] = a.size
        if len(set(sizes.values())) > 1:
            raise InputError(f"cohort arrays disagree on the number of tissues: {sizes}")
        self.n_tissues = next(iter(sizes.values())) if sizes else None
        B = self.n_tissues or 1
        for q in model.parameters:
            if q.name in params:
                bad = q.violations(np.atleast_1d(np.asarray(params[q.name], float)))
                if np.any(bad):
                    raise InputError(f"parameter {q.name!r} = {params[q.name]!r} out of bounds: {q.allowed()}")
        self.params = params
        self.initial = dict(initial or {})
        bad = [k for k in self.initial if k not in names]
        if bad:
            raise InputError(f"initial: unknown states {bad} for {model.name}; states are {list(names)}")
        for k, v in self.initial.items():
            a = np.asarray(v, float)
            if not np.all(np.isfinite(a)):
                raise InputError(f"initial {k!r} has non-finite values")
            try:
                np.broadcast_to(a, (B,) + grid.shape)
            except ValueError:
                raise InputError(f"initial {k!r}: shape {a.shape} is neither a scalar, the grid's {grid.shape} "
                                 f"nor (tissues, *grid) {(B,) + grid.shape}") from None

        sigma = self.conductivity.tensor(grid.ndim)  # (Bd, d, d) S/m
        if sigma.shape[0] not in (1, B):
            raise InputError(f"conductivity has {sigma.shape[0]} tissues, the cohort {B}")
        self.D = diffusivity(sigma, self.beta, self.Cm)  # mm^2/ms
        self.cross = has_cross_terms(self.D)
        self._dt_max = None
        self.method = RushLarsen.for_model(model)

        # stimulus: per node rate (mV/ms) while on
        self._stim = []
        for s in self.stimuli:
            rate = s.amplitude / (10.0 * self.beta * self.Cm) if s.unit == "uA cm-3" else s.amplitude
            self._stim.append((s.mask(grid).reshape(-1), float(rate), float(s.start), float(s.start + s.duration)))

        if conductivity_correction not in CONDUCTIVITY_CORRECTIONS:
            raise InputError(f"conductivity_correction {conductivity_correction!r} must be one of "
                             f"{CONDUCTIVITY_CORRECTIONS}")
        if conductivity_correction == "cable":
            if not self._stim:
                raise InputError("conductivity_correction 'cable' stimulates calibration cables like the tissue's first "
                                 "stimulus: give at least one stimulus")
            if any(np.ndim(v) for v in params.values()):
                raise InputError("conductivity_correction 'cable' needs scalar cell parameters (one cell model for "
                                 "every node), not per-tissue arrays")
        self.conductivity_correction = conductivity_correction

    # -- stability ---------------------------------------------------------------------------------------------------
    @property
    def max_explicit_dt(self) -> float:
        """Largest stable forward-Euler diffusion step (ms) for this grid and conductivity."""
        if self._dt_max is None:
            self._dt_max = max_stable_dt(self.D, self.grid.spacing, self.cross)
        return self._dt_max

    # -- the compiled solve ------------------------------------------------------------------------------------------
    def _param_rows(self, dtype):
        """Per parameter: a scalar (all nodes) or a (B*N,) row (per tissue, repeated over the nodes)."""
        import jax.numpy as jnp

        N = self.grid.n_nodes
        rows, axes = [], []
        defaults = self.model.default_parameters()
        for name in self.model.parameter_names:
            v = np.asarray(self.params.get(name, defaults[name]), float)
            if v.ndim == 1:
                rows.append(jnp.asarray(np.repeat(v, N), dtype))
                axes.append(0)
            else:
                rows.append(jnp.asarray(v, dtype))
                axes.append(None)
        return tuple(rows), tuple(axes)

    def _initial_state(self, dtype, p_rows):
        import jax.numpy as jnp

        B, N = self.n_tissues or 1, self.grid.n_nodes
        y0 = np.array([s.initial for s in self.model.states], float)[:, None] * np.ones((1, B * N))
        y0 = jnp.asarray(y0, dtype)
        if self.model.has_initial:
            p = jnp.stack([jnp.broadcast_to(r, (B * N,)) for r in p_rows])
            for i, v in equations(self.model).initial_rows(p).items():
                y0 = y0.at[i].set(v)
        for k, v in self.initial.items():
            v = np.broadcast_to(np.asarray(v, float), (B,) + self.grid.shape).reshape(-1)
            y0 = y0.at[self.model.state_names.index(k)].set(jnp.asarray(v, dtype))
        return y0

    def run(self, t_end: float, dt: float, *, diffusion: str = "explicit", splitting: str = "godunov",
            snapshots: Sequence[float] | None = None, stop_when_activated: bool = False, precision: str = "float64",
            tol: float | None = None, max_iter: int = 200):
        """Advance from 0 to ``t_end`` (ms) at step ``dt`` (ms) -> ``xarray.Dataset``.

        Parameters
        ----------
        diffusion : {"explicit", "backward-euler", "crank-nicolson"}
        splitting : {"godunov", "strang"}
        snapshots : times (ms) at which to store ``V`` (rounded to the nearest step).
        stop_when_activated : stop once every node has activated (activation maps are then complete).
        precision : "float64" (default: activation times to well below dt) or "float32" (faster).
        tol : relative tolerance of the implicit solver (default 1e-10 float64, 1e-5 float32).

        Returns
        -------
        xarray.Dataset with ``activation_time`` (dims [tissue,] x[, y, z]; ms; NaN where never activated),
        ``<potential>`` snapshots (dims time, [tissue,] x...), and attrs: steps, wall times, MLUPS.
        """
        import jax
        import xarray as xr

        for name, v in (("t_end", t_end), ("dt", dt)):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not math.isfinite(v) or v <= 0:
                raise InputError(f"{name} {v!r} must be a finite number > 0 (ms)")
        if diffusion == "implicit":
            diffusion = "backward-euler"
        if diffusion not in DIFFUSION_METHODS:
            raise InputError(f"diffusion {diffusion!r} must be one of {DIFFUSION_METHODS} (or 'implicit')")
        if splitting not in SPLITTINGS:
            raise InputError(f"splitting {splitting!r} must be one of {SPLITTINGS}")
        if precision not in ("float32", "float64"):
            raise InputError(f"precision {precision!r} must be 'float32' or 'float64'")
        n_steps = int(math.ceil(t_end / dt - 1e-9))
        sub = dt / 2 if splitting == "strang" else dt
        D_run, factors = self.D, None
        if self.conductivity_correction == "cable":
            table = self._factor_table(dt, diffusion=diffusion, splitting=splitting, precision=precision)
            factors = (table[0][0], table[1][0])
            D_run = self._corrected_diffusivity(table)
        dt_limit = self.max_explicit_dt if factors is None else max_stable_dt(D_run, self.grid.spacing, self.cross)
        if diffusion == "explicit" and sub > dt_limit * (1 + 1e-12):
            raise InputError(
                f"dt {dt!r} ms is above the stability limit of explicit diffusion on this grid (dx {self.grid.dx} mm, "
                f"max D {np.max(D_run):.4g} mm^2/ms): the diffusion step must be <= {dt_limit:.4g} ms "
                f"({'dt/2 with Strang splitting' if splitting == 'strang' else 'dt'}); use a smaller dt or "
                f"diffusion='backward-euler'/'crank-nicolson'"
            )
        snap_times = np.asarray([] if snapshots is None else snapshots, float).reshape(-1)
        if np.any(snap_times < 0) or np.any(snap_times > n_steps * dt + 1e-9):
            raise InputError(f"snapshots {snap_times.tolist()} must lie in [0, t_end]")
        snap_steps = np.rint(snap_times / dt).astype(np.int64)
        tol = tol if tol is not None else (1e-10 if precision == "float64" else 1e-5)

        with jax.enable_x64(precision == "float64"):
            dtype = np.float64 if precision == "float64" else np.float32
            p_rows, p_axes = self._param_rows(dtype)
            y0 = self._initial_state(dtype, p_rows)
            D = jax.numpy.asarray(D_run, dtype)
            fn = jax.jit(self._build(n_steps, float(dt), diffusion, splitting, snap_steps, stop_when_activated,
                                     p_axes, tol, max_iter))
            t0 = time.perf_counter()
            compiled = fn.lower(y0, p_rows, D).compile()
            t1 = time.perf_counter()
            act, snaps, steps, y = compiled(y0, p_rows, D)
            act = np.asarray(act)
            snaps = np.asarray(snaps)
            steps = int(steps)
            t2 = time.perf_counter()

        B, N = self.n_tissues or 1, self.grid.n_nodes
        coords = dict(self.grid.coords())
        dims = list(self.grid.axes)
        shape = self.grid.shape
        if self.n_tissues is not None:
            dims = ["tissue"] + dims
            shape = (B,) + shape
            coords["tissue"] = np.arange(B)
        run_s = t2 - t1
        updates = steps * B * N
        ds = xr.Dataset(
            {
                "activation_time": (dims, act.reshape(shape), {"units": "ms", "threshold": self.threshold,
                                                              "long_name": f"first time {self.potential} > {self.threshold} {self.potential_unit}"}),
                self.potential: (["time"] + dims, snaps.reshape((len(snap_steps),) + shape), {"units": self.potential_unit}),
            },
            coords={**coords, "time": ("time", snap_steps * dt, {"units": "ms"})},
        )
        for a in self.grid.axes:
            ds[a].attrs["units"] = "mm"
        ds.attrs.update(
            model=self.model.name, dx=self.grid.dx, dt=float(dt), t_end=float(n_steps * dt), steps=steps,
            t_reached=float(steps * dt), diffusion=diffusion, splitting=splitting, precision=precision,
            beta=self.beta, Cm=self.Cm, cross_terms=int(self.cross), nodes=B * N, node_updates=updates,
            compile_s=t1 - t0, run_s=run_s, mlups=updates / run_s / 1e6 if run_s > 0 else float("nan"),
            reaction="rush_larsen" if self.method.gates else "forward_euler",
            units="t ms, x mm, sigma S m-1, beta mm-1, Cm uF cm-2, stimulus uA cm-3, D mm2 ms-1",
            conductivity_correction=self.conductivity_correction,
        )
        if factors is not None:
            fl, ft = factors
            ds.attrs.update(
                conductivity_factor_longitudinal=fl.factor, conductivity_factor_transverse=ft.factor,
                cable_cv_converged_m_s=[fl.converged, ft.converged],
                cable_cv_uncorrected_m_s=[fl.uncorrected, ft.uncorrected],
            )
        return ds

    # -- conductivity correction -------------------------------------------------------------------------------------
    def cable_setup(self):
        """What calibration cables share with this tissue (:class:`~vhtwin.pde.conduction_tuning.CableSetup`): the cell
        model, scalar parameters and initial values, beta, Cm, threshold, and the first stimulus's rate and length."""
        from .conduction_tuning import CableSetup

        initial = tuple(sorted((k, float(v)) for k, v in self.initial.items() if np.ndim(v) == 0))
        params = tuple(sorted((k, float(v)) for k, v in self.params.items()))
        _, rate, start, stop = self._stim[0]
        return CableSetup(self.model, params, initial, self.beta, self.Cm, self.potential, self.threshold, rate,
                          stop - start)

    def conductivity_factors(self, dt: float, *, diffusion: str = "explicit", splitting: str = "godunov",
                             precision: str = "float64"):
        """The ``"cable"`` correction for a run at ``dt`` (ms): ``(longitudinal, transverse)``
        :class:`~vhtwin.pde.conduction_tuning.Factor` (factor, converged and uncorrected cable speeds in m/s).

        For a cohort the factors are computed per distinct conductivity; the pair returned is the first tissue's.
        """
        longitudinal, transverse = self._factor_table(dt, diffusion=diffusion, splitting=splitting, precision=precision)
        return longitudinal[0], transverse[0]

    def _factor_table(self, dt, *, diffusion, splitting, precision):
        """Every tissue's (longitudinal factors, transverse factors), each a list of ``Factor`` (cached per grid)."""
        from .conduction_tuning import conductivity_factors

        sl = np.atleast_1d(np.asarray(self.conductivity.longitudinal, float))
        st = np.atleast_1d(np.asarray(self.conductivity.transverse, float))
        sl, st = np.broadcast_arrays(sl, st)
        facs = conductivity_factors(self.cable_setup(), list(sl) + list(st), self.grid.dx, dt, diffusion=diffusion,
                                    splitting=splitting, precision=precision)
        return facs[: sl.size], facs[sl.size:]

    def _corrected_diffusivity(self, table):
        """The (B, d, d) diffusivity with every tissue's conductivities scaled by their calibrated factors."""
        fl, ft = table
        sl = np.array([f.sigma * f.factor for f in fl])
        st = np.array([f.sigma * f.factor for f in ft])
        sigma = fibre_tensor(sl, st, self.conductivity.fibre, self.grid.ndim)
        return diffusivity(sigma, self.beta, self.Cm)

    def _build(self, n_steps, dt, diffusion, splitting, snap_steps, stop_when_activated, p_axes, tol, max_iter):
        import jax
        import jax.numpy as jnp
        from jax import lax
        from jax.scipy.sparse.linalg import bicgstab, cg

        model, method, iv, grid = self.model, self.method, self.iv, self.grid
        B, N = self.n_tissues or 1, grid.n_nodes
        vshape = (B,) + grid.shape
        h = grid.spacing
        cross = self.cross
        thr = self.threshold
        U = len(model.dosable_states)
        u_vals = tuple([0.0] * U + [float(i.default) for i in model.inputs])
        stim = self._stim
        n_snap = len(snap_steps)
        weights_np = np.broadcast_to(grid.weights(), vshape)

        row_rhs = jax.vmap(equations(model).row_rhs, in_axes=(None, 0, p_axes, None))
        gates = set(method.gates)
        n_states = len(model.states)

        def solve(y0, p_rows, D):
            dtype = y0.dtype
            u_rows = tuple(jnp.asarray(u, dtype) for u in u_vals)
            masks = [jnp.asarray(np.tile(m, B), dtype) for m, _, _, _ in stim]
            W = jnp.asarray(weights_np, dtype)
            eps = float(jnp.finfo(dtype).eps)

            def L(V):
                return apply_diffusion(V, D, h, cross)

            def reaction(t, y):
                source = 0.0
                for m, (_, rate, a, b) in zip(masks, stim):
                    mid = t + 0.5 * dt
                    on = (mid >= a) & (mid < b)
                    source = source + jnp.where(on, rate, 0.0) * m
                rows = tuple(y[i] for i in range(n_states))
                if gates:
                    # generalized Rush--Larsen (vhtwin.solvers.rush_larsen), row by row: f, and b = d f_g / d g from
                    # one JVP with tangent 1 on the gate rows, whose tangent outputs are the only ones used (the
                    # others are dead code to XLA, which the library step's stacked where() cannot drop)
                    # (a function of the gate rows alone, so no tangent flows through the other states)
                    gate_list = sorted(gates)

                    def of_gates(*g):
                        rs = list(rows)
                        for k, gi in enumerate(gate_list):
                            rs[gi] = g[k]
                        return row_rhs(t, tuple(rs), p_rows, u_rows)

                    g0 = tuple(rows[gi] for gi in gate_list)
                    f, b = jax.jvp(of_gates, g0, tuple(jnp.ones_like(g) for g in g0))
                else:
                    f, b = row_rhs(t, rows, p_rows, u_rows), None
                out = []
                for i in range(n_states):
                    fi = f[i] + source if (i == iv and stim) else f[i]
                    if i in gates:
                        z = b[i] * dt
                        tiny = jnp.abs(z) < eps
                        z_safe = jnp.where(tiny, 1.0, z)
                        phi = jnp.where(tiny, 1.0 + 0.5 * z, jnp.expm1(z_safe) / z_safe)
                        out.append(rows[i] + dt * phi * fi)
                    else:
                        out.append(rows[i] + dt * fi)
                return jnp.stack(out)

            def diffuse(V, tau):
                V = V.reshape(vshape)
                if diffusion == "explicit":
                    out = V + tau * L(V)
                else:
                    theta = 1.0 if diffusion == "backward-euler" else 0.5
                    rhs = V if theta == 1.0 else V + (1 - theta) * tau * L(V)
                    if cross:
                        A = lambda x: x - theta * tau * L(x)
                        out, _ = bicgstab(A, rhs, x0=V, tol=tol, maxiter=max_iter)
                    else:  # W (I - theta tau L) is symmetric positive definite
                        A = lambda x: W * (x - theta * tau * L(x))
                        out, _ = cg(A, W * rhs, x0=V, tol=tol, maxiter=max_iter)
                return out.reshape(-1)

            def step(y, t):
                if splitting == "strang":
                    y = y.at[iv].set(diffuse(y[iv], 0.5 * dt))
                    y = reaction(t, y)
                    y = y.at[iv].set(diffuse(y[iv], 0.5 * dt))
                else:
                    y = reaction(t, y)
                    y = y.at[iv].set(diffuse(y[iv], dt))
                return y

            act0 = jnp.where(y0[iv] > thr, jnp.zeros((), dtype), jnp.full((), jnp.nan, dtype))
            snaps0 = jnp.full((n_snap, B * N), jnp.nan, dtype)
            sidx = jnp.asarray(snap_steps, jnp.int32)
            if n_snap:
                snaps0 = jnp.where((sidx == 0)[:, None], y0[iv][None, :], snaps0)

            def cond(c):
                k, y, act, snaps = c
                go = k < n_steps
                if stop_when_activated:
                    go = go & jnp.any(jnp.isnan(act))
                return go

            def body(c):
                k, y, act, snaps = c
                t = k.astype(dtype) * dt
                v0 = y[iv]
                y = step(y, t)
                v1 = y[iv]
                frac = jnp.clip((thr - v0) / jnp.where(v1 != v0, v1 - v0, 1.0), 0.0, 1.0)
                act = jnp.where(jnp.isnan(act) & (v1 > thr), t + frac * dt, act)
                if n_snap:
                    hit = sidx == k + 1
                    snaps = lax.cond(jnp.any(hit), lambda s: jnp.where(hit[:, None], v1[None, :], s), lambda s: s, snaps)
                return k + 1, y, act, snaps

            k, y, act, snaps = lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), y0, act0, snaps0))
            return act, snaps, k, y

        return solve
