"""Calibration benchmark: patient twins by ``vhtwin.calibrate`` and by scipy's L-BFGS-B on one objective, side by side.

The design (fixed): ``pharmacokinetics/one_compartment_oral`` with the Theophylline population prior (typical ka
1.5 /h, CL 2.8 L/h, V 31.5 L; log-normal etas with variances omega ka 0.42, CL 0.073, V 0.018; additive residual SD
0.7 mg/L); one oral dose of 320 mg into ``depot`` at t = 0; 10 samples per patient at 0.25, 0.5, 1, 2, 3.5, 5, 7, 9,
12 and 24 h. Synthetic patients: etas drawn from the prior, Cc in closed form plus N(0, 0.7^2) noise, floored at 0
(``numpy.random.default_rng(seed)``). Every batch of patients is new data on the same design.

The objective, per patient (nats): ``sum_j 1/2 ((y_j - f_j) / 0.7)^2 + log 0.7 + 1/2 log 2 pi`` plus
``1/2 eta^T Omega^-1 eta`` -- the negative log posterior that ``vhtwin.calibrate`` minimises.

Peers, in one process:

* ``vhtwin``: ``vh.calibrate(model, data, prior=..., protocol=...)`` (batched Newton trust region, exact
  matrix-exponential solve of the linear model, float64). Timed end to end (input checks, build, compile, solve,
  the Twin). Measured: one patient, first call (compile included) and then further calls with new patients (what
  a clinician sees when calibrating the next patient: the compiled search is reused, the design and data are its
  arguments); 1000 patients in one call, first and second call. ``compile_s`` is the time JAX spent tracing, lowering and compiling inside each call (its own
  ``jax.monitoring`` spans), so a call that recompiles shows it.
* ``scipy``: ``scipy.optimize.minimize(method="L-BFGS-B")`` per patient in a Python loop on the numpy closed form
  (Bateman function) of the same objective, from eta = 0, gradients by scipy's finite differences (its default),
  ``ftol`` 1e-15, ``gtol`` 1e-9, ``maxiter`` 1000. ``scipy_grad`` adds the analytic gradient (numpy). Run before
  vhtwin on each set of patients; best of 2 runs (3 for one patient). numpy's BLAS runs single-threaded
  (``OPENBLAS_NUM_THREADS=1`` unless set): the loop's products have 3 to 10 elements, and BLAS threads only add
  synchronisation -- on this shared 2-core machine they slowed the loop 20 to 40 times.

Agreement: the largest ``|eta_vhtwin - eta_scipy|`` over patients and etas, and the largest objective difference
``OBJ_vhtwin - OBJ_scipy`` at the two optima, both evaluated with the numpy objective (negative: vhtwin found the
lower point).

Usage::

    python benchmarks/calibrate.py                      # JSON lines; n = 1000
    python benchmarks/calibrate.py --out benchmarks/results/calibrate-cpu-2core.json
    python benchmarks/calibrate.py --quick              # n = 50
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from _machine import machine_info  # benchmarks/_machine.py (the scripts run from this folder)

# Before numpy is imported: the scipy peer's tiny products gain nothing from BLAS threads (see the docstring).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

import vhtwin as vh

vh.use_cpu_cores()  # every core a JAX device, as the command line has it (before JAX starts)

BENCHMARK = "calibrate"
MODEL = "pharmacokinetics/one_compartment_oral"
TYPICAL = {"ka": 1.5, "CL": 2.8, "V": 31.5}
OMEGA = {"ka": 0.42, "CL": 0.073, "V": 0.018}  # variances of the etas
SIGMA = 0.7  # mg/L, additive
DOSE_MG = 320.0
TIMES = np.array([0.25, 0.5, 1.0, 2.0, 3.5, 5.0, 7.0, 9.0, 12.0, 24.0])  # h
NAMES = ("ka", "CL", "V")
SEED = 20261130
_COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration",
                   "/jax/core/compile/backend_compile_duration")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- the patients and the objective in numpy ---------------------------------------------------------------------------
def bateman(t, ka, CL, V):
    """Cc (mg/L) after DOSE_MG orally at t = 0; parameters broadcast against ``t``."""
    k = CL / V
    return DOSE_MG * ka / (V * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))


def patients(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True etas (n, 3) and measurements (n, len(TIMES))."""
    rng = np.random.default_rng(seed)
    eta = rng.normal(0.0, np.sqrt([OMEGA[k] for k in NAMES]), (n, 3))
    ka, CL, V = (TYPICAL[k] * np.exp(eta[:, j])[:, None] for j, k in enumerate(NAMES))
    y = bateman(TIMES[None, :], ka, CL, V) + rng.normal(0.0, SIGMA, (n, TIMES.size))
    return eta, np.maximum(y, 0.0)


OMEGA_INV = np.diag([1.0 / OMEGA[k] for k in NAMES])
TYP = np.array([TYPICAL[k] for k in NAMES])
CONST = TIMES.size * (np.log(SIGMA) + 0.5 * np.log(2 * np.pi))


def objective(eta, y):
    ka, CL, V = TYP * np.exp(eta)
    r = (y - bateman(TIMES, ka, CL, V)) / SIGMA
    return 0.5 * r @ r + CONST + 0.5 * eta @ OMEGA_INV @ eta


def objective_and_gradient(eta, y):
    """The objective and its analytic gradient in eta (chain rule through the Bateman function)."""
    ka, CL, V = TYP * np.exp(eta)
    k = CL / V
    ek, ea = np.exp(-k * TIMES), np.exp(-ka * TIMES)
    a = DOSE_MG * ka / (V * (ka - k))
    f = a * (ek - ea)
    r = (y - f) / SIGMA
    # derivatives of f in ka, k and V (V also through k)
    df_dka = f * (1.0 / ka - 1.0 / (ka - k)) + a * TIMES * ea
    df_dk = f / (ka - k) - a * TIMES * ek
    df_dV_direct = -f / V
    dk_dCL, dk_dV = 1.0 / V, -CL / V**2
    jac = np.stack([df_dka * ka, df_dk * dk_dCL * CL, (df_dV_direct + df_dk * dk_dV) * V])  # d f / d eta
    value = 0.5 * r @ r + CONST + 0.5 * eta @ OMEGA_INV @ eta
    return value, -(jac @ r) / SIGMA + OMEGA_INV @ eta


# -- peers -------------------------------------------------------------------------------------------------------------
class CompileClock:
    """Wall time JAX spends tracing, lowering and compiling in a block (union of its monitoring spans)."""

    def __enter__(self):
        import jax

        self.spans = []
        self._listener = lambda event, start, end, **kw: (event in _COMPILE_EVENTS) and self.spans.append((start, end))
        jax.monitoring.register_event_time_span_listener(self._listener)
        return self

    def __exit__(self, *exc):
        import jax

        jax.monitoring.unregister_event_time_span_listener(self._listener)
        total, last = 0.0, -np.inf
        for s, e in sorted(self.spans):
            if e > last:
                total += e - max(s, last)
                last = e
        self.seconds = total
        self.count = sum(1 for _ in self.spans)


def run_vhtwin(y: np.ndarray) -> dict:
    import vhtwin as vh

    model = vh.load_model(MODEL)
    prior = vh.Population(model, typical=TYPICAL, omega=OMEGA, residual=vh.Residual(additive=SIGMA))
    n = y.shape[0]
    data = {"id": np.repeat(np.arange(n), TIMES.size), "time": np.tile(TIMES, n), "value": y.reshape(-1),
            "unit": "mg/L"}
    if n == 1:  # one patient, as a clinician would give it: no id column
        data = {"time": TIMES, "value": y[0], "unit": "mg/L"}
    start = time.perf_counter()
    with CompileClock() as clock:
        twin = vh.calibrate(model, data, prior=prior, protocol=vh.Regimen.bolus(DOSE_MG, into="depot"))
    wall = time.perf_counter() - start
    eta = np.atleast_2d(twin.eta)
    return {"wall_s": wall, "compile_s": clock.seconds, "compile_events": clock.count, "eta": eta,
            "converged": int(np.sum(twin.converged)), "iterations_max": int(np.max(twin.iterations))}


def compiled_search_s(y: np.ndarray, repeats: int = 3) -> float:
    """Best time of the compiled MAP search alone, called again once compiled (same data): the floor under a
    ``calibrate`` call (no checks, no building of the twin). Built from vhtwin's calibration problem, as ``calibrate``
    builds it."""
    import jax

    import vhtwin as vh
    from vhtwin.calibration import data as _data, prior as _prior
    from vhtwin.calibration.problem import Problem, per_patient_protocols

    model = vh.load_model(MODEL)
    population = vh.Population(model, typical=TYPICAL, omega=OMEGA, residual=vh.Residual(additive=SIGMA))
    n = y.shape[0]
    obs = _data.read(model, {"id": np.repeat(np.arange(n), TIMES.size), "time": np.tile(TIMES, n),
                             "value": y.reshape(-1), "unit": "mg/L"})
    pri = _prior.build(model, population, obs.ids, obs.has_id, obs.observables, None, None)
    protocols = per_patient_protocols(vh.Regimen.bolus(DOSE_MG, into="depot"), obs.ids, obs.has_id)
    problem = Problem(model, obs, pri, protocols)
    with jax.enable_x64(True):
        lanes = problem.lanes(1)
        eta0 = np.zeros((n, len(pri.eta_names)))
        search = lambda: lanes.search(eta0, max_iter=50, gtol=1e-6, noise=1e-12)
        search()
        best = np.inf
        for _ in range(repeats):
            start = time.perf_counter()
            search()
            best = min(best, time.perf_counter() - start)
    return best


def run_scipy(y: np.ndarray, gradient: bool, repeats: int = 2) -> dict:
    """The loop over patients, best wall time of ``repeats`` runs (the machine is shared: the best is the least
    disturbed; every run does the same work)."""
    runs = [_scipy_once(y, gradient) for _ in range(repeats)]
    best = min(runs, key=lambda r: r["wall_s"])
    return {**best, "wall_s_all": [r["wall_s"] for r in runs]}


def _scipy_once(y: np.ndarray, gradient: bool) -> dict:
    from scipy import optimize

    opts = {"ftol": 1e-15, "gtol": 1e-9, "maxiter": 1000}
    etas, nfev, ok = [], 0, 0
    start = time.perf_counter()
    for row in y:
        if gradient:
            res = optimize.minimize(objective_and_gradient, np.zeros(3), args=(row,), jac=True, method="L-BFGS-B",
                                    options=opts)
        else:
            res = optimize.minimize(objective, np.zeros(3), args=(row,), method="L-BFGS-B", options=opts)
        etas.append(res.x)
        nfev += res.nfev
        ok += bool(res.success)
    wall = time.perf_counter() - start
    return {"wall_s": wall, "eta": np.array(etas), "converged": ok, "mean_nfev": nfev / len(y)}


def agreement(eta_a: np.ndarray, eta_b: np.ndarray, y: np.ndarray) -> dict:
    obj_a = np.array([objective(e, r) for e, r in zip(eta_a, y)])
    obj_b = np.array([objective(e, r) for e, r in zip(eta_b, y)])
    diff = obj_a - obj_b
    return {"max_abs_eta_diff": float(np.max(np.abs(eta_a - eta_b))),
            "max_objective_diff": float(np.max(diff)), "min_objective_diff": float(np.min(diff)),
            "max_abs_objective_diff": float(np.max(np.abs(diff)))}


# -- machine -----------------------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="patients in the batch call (default 1000)")
    ap.add_argument("--repeats", type=int, default=3, help="further one-patient calls after the first (default 3)")
    ap.add_argument("--json", action="store_true", help="JSON lines on stdout (the default output anyway)")
    ap.add_argument("--out", type=Path, help="also write every record to this JSON file")
    ap.add_argument("--quick", action="store_true", help="smoke run: n = 50, 1 further call")
    a = ap.parse_args(argv)
    if a.quick:
        a.n, a.repeats = 50, 1
    started = time.time()
    machine = machine_info(blas_threads={v: os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")})
    records = []

    def emit(r):
        r = {"benchmark": BENCHMARK, **r, "loadavg_1min": round(os.getloadavg()[0], 2)}
        records.append(r)
        print(json.dumps(r), flush=True)

    strip = lambda r: {k: v for k, v in r.items() if k != "eta"}
    # -- one patient: first call, then the next patients of the same design
    one = []
    for call in range(1 + a.repeats):
        _, y = patients(1, SEED + call)
        sp, spg = run_scipy(y, gradient=False, repeats=3), run_scipy(y, gradient=True, repeats=3)
        log(f"[one patient] vhtwin call {call + 1} ...")
        ours = run_vhtwin(y)
        r = {"type": "measurement", "case": "one_patient", "call": call + 1, "n": 1,
             "vhtwin": strip(ours), "scipy": strip(sp), "scipy_grad": strip(spg),
             "agreement_vs_scipy": agreement(ours["eta"], sp["eta"], y),
             "agreement_vs_scipy_grad": agreement(ours["eta"], spg["eta"], y),
             "ratio_vhtwin_over_scipy_s": ours["wall_s"] / sp["wall_s"]}
        one.append(r)
        emit(r)
    # -- a batch: first call (a new compile for the batch shape), then a second batch of new patients
    batch = []
    for call in range(2):
        _, y = patients(a.n, SEED + 1000 + call)
        log(f"[{a.n} patients] scipy ...")
        sp, spg = run_scipy(y, gradient=False), run_scipy(y, gradient=True)
        log(f"[{a.n} patients] vhtwin call {call + 1} ...")
        ours = run_vhtwin(y)
        r = {"type": "measurement", "case": "batch", "call": call + 1, "n": a.n,
             "vhtwin": strip(ours), "scipy": strip(sp), "scipy_grad": strip(spg),
             "agreement_vs_scipy": agreement(ours["eta"], sp["eta"], y),
             "agreement_vs_scipy_grad": agreement(ours["eta"], spg["eta"], y),
             "ratio_vhtwin_over_scipy_s": ours["wall_s"] / sp["wall_s"],
             "ratio_vhtwin_over_scipy_grad_s": ours["wall_s"] / spg["wall_s"],
             "vhtwin_patients_per_s": a.n / ours["wall_s"], "scipy_patients_per_s": a.n / sp["wall_s"],
             "scipy_grad_patients_per_s": a.n / spg["wall_s"]}
        batch.append(r)
        emit(r)
    # -- the compiled search alone, once compiled: the floor a reused compilation would give
    for n in (1, a.n):
        _, y = patients(n, SEED + 2000)
        log(f"[{n} patients] compiled search alone ...")
        emit({"type": "measurement", "case": "compiled_search_alone", "n": n, "vhtwin_search_s": compiled_search_s(y),
              "note": "the jitted MAP search called again on the same data after its compile (no checks, no build, "
                      "no compile): the floor of a calibrate call that reused its compiled search"})
    search = {r["n"]: r["vhtwin_search_s"] for r in records if r.get("case") == "compiled_search_alone"}
    later = [r["vhtwin"] for r in one[1:]]
    summary = {
        "type": "summary", "machine": machine,
        "config": {"model": MODEL, "typical": TYPICAL, "omega_variance": OMEGA, "residual_additive_sd": SIGMA,
                   "dose_mg": DOSE_MG, "times_h": TIMES.tolist(), "seed": SEED, "n": a.n, "repeats": a.repeats,
                   "quick": a.quick},
        "one_patient_first_s": one[0]["vhtwin"]["wall_s"],
        "one_patient_next_s_median": float(np.median([v["wall_s"] for v in later])) if later else None,
        "one_patient_next_compile_s_median": float(np.median([v["compile_s"] for v in later])) if later else None,
        "one_patient_scipy_s_median": float(np.median([r["scipy"]["wall_s"] for r in one])),
        "one_patient_scipy_s_best": float(min(r["scipy"]["wall_s"] for r in one)),
        "one_patient_scipy_grad_s_best": float(min(r["scipy_grad"]["wall_s"] for r in one)),
        "one_patient_ratio_vhtwin_next_over_scipy_best": float(np.median([v["wall_s"] for v in later]))
        / min(r["scipy"]["wall_s"] for r in one) if later else None,
        "batch_first_s": batch[0]["vhtwin"]["wall_s"], "batch_second_s": batch[1]["vhtwin"]["wall_s"],
        "batch_second_compile_s": batch[1]["vhtwin"]["compile_s"],
        "batch_scipy_s": batch[1]["scipy"]["wall_s"], "batch_scipy_grad_s": batch[1]["scipy_grad"]["wall_s"],
        "batch_ratio_scipy_over_vhtwin_second": batch[1]["scipy"]["wall_s"] / batch[1]["vhtwin"]["wall_s"],
        "batch_ratio_scipy_grad_over_vhtwin_second": batch[1]["scipy_grad"]["wall_s"] / batch[1]["vhtwin"]["wall_s"],
        "batch_ratio_scipy_over_vhtwin_solve_only": batch[1]["scipy"]["wall_s"]
        / max(batch[1]["vhtwin"]["wall_s"] - batch[1]["vhtwin"]["compile_s"], 1e-9),
        "one_patient_compiled_search_alone_s": search[1], "batch_compiled_search_alone_s": search[a.n],
        "batch_ratio_scipy_over_compiled_search_alone": batch[1]["scipy"]["wall_s"] / search[a.n],
        "batch_ratio_scipy_grad_over_compiled_search_alone": batch[1]["scipy_grad"]["wall_s"] / search[a.n],
        "max_abs_eta_diff_vs_scipy": max(r["agreement_vs_scipy"]["max_abs_eta_diff"] for r in one + batch),
        "max_abs_objective_diff_vs_scipy": max(r["agreement_vs_scipy"]["max_abs_objective_diff"] for r in one + batch),
        "max_objective_diff_vs_scipy": max(r["agreement_vs_scipy"]["max_objective_diff"] for r in one + batch),
        "wall_s": time.time() - started,
    }
    emit(summary)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps({"records": records}, indent=1) + "\n")
        log(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
