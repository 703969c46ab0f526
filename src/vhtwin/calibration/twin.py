"""``Twin``: a calibrated patient (or a batch of them) -- MAP etas, Laplace covariance, forecasts, posterior samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
import jax
import jax.numpy as jnp

from ..errors import InputError
from ..simulate import simulate
from . import fit as _fit
from .data import plain
from .problem import Problem, lane_protocol, per_patient_protocols


class Twin:
    """An individual MAP (empirical Bayes) estimate of one patient, or of a batch of patients.

    Made by :func:`vhtwin.calibrate`. For a batch (data with an ``id`` column) every per-patient attribute has a
    leading patient axis, in sorted id order (``twin.ids``); for one patient it has none.

    Attributes
    ----------
    params : dict
        Individual parameter values by name (model units): every model parameter, the estimated ones at the MAP
        etas, the others at their (covariate-adjusted) typical values.
    eta : ndarray
        MAP etas (eta scale), ``(k,)`` or ``(patient, k)``, over ``eta_names``.
    cov : ndarray
        Laplace covariance of the etas: the inverse Hessian of the objective at the MAP, ``(k, k)`` or
        ``(patient, k, k)`` (NaN where the Hessian is not positive definite).
    objective : float or ndarray
        The negative log posterior at the MAP (nats; see :mod:`vhtwin.calibration.objective`).
    gradient_norm : float or ndarray
        Largest absolute gradient component of the objective at the MAP (nats per eta unit).
    converged : bool or ndarray
        Whether the optimiser met its convergence test (small gradient or Newton decrement, positive definite
        Hessian).
    iterations : int or ndarray
        Newton iterations used.
    """

    def __init__(self, problem: Problem, result: _fit.Result):
        self._problem = problem
        self._batched = problem.obs.has_id
        self._eta = np.asarray(result.x)
        hessian = np.asarray(result.hessian)
        self._hessian = hessian
        self._cov = _fit.laplace_covariance(hessian)
        self._objective = np.asarray(result.value)
        self._gradient = np.asarray(result.gradient)
        self._converged = np.asarray(result.converged)
        self._iterations = np.asarray(result.iterations)

    # -- per-patient attributes ------------------------------------------------------------------------------------
    def _out(self, a):
        a = np.asarray(a)
        return a if self._batched else (a[0].item() if a[0].ndim == 0 else a[0])

    @property
    def model(self):
        return self._problem.model

    @property
    def ids(self) -> np.ndarray:
        """Patient ids, sorted (a batch); ``[0]`` for one patient given without an id."""
        return self._problem.obs.ids

    @property
    def eta_names(self) -> tuple[str, ...]:
        return self._problem.prior.eta_names

    @property
    def eta(self):
        return self._out(self._eta)

    @property
    def cov(self):
        return self._out(self._cov)

    @property
    def sd(self):
        """Posterior SD of each eta (square root of the Laplace covariance's diagonal)."""
        return self._out(np.sqrt(np.diagonal(self._cov, axis1=1, axis2=2)))

    @property
    def params(self) -> dict:
        values = self._parameters(self._eta)
        return {name: self._out(v) for name, v in values.items()}

    @property
    def objective(self):
        return self._out(self._objective)

    @property
    def gradient_norm(self):
        return self._out(np.max(np.abs(self._gradient), axis=1))

    @property
    def converged(self):
        return self._out(self._converged)

    @property
    def iterations(self):
        return self._out(self._iterations)

    def _parameters(self, eta: np.ndarray, repeat: int = 1) -> dict:
        """Every model parameter per lane, from etas ``(B * repeat, k)`` (patient-major lanes)."""
        prior = self._problem.prior
        lane = lambda a: np.repeat(np.asarray(a), repeat, axis=0)
        out = {n: lane(v) for n, v in prior.typical.items()}
        values = prior.individual_values(eta, np.stack([out[n] for n in prior.eta_names]))
        out.update({n: values[j] for j, n in enumerate(prior.eta_names)})
        return out

    def negative_log_posterior(self, eta) -> np.ndarray:
        """The objective OBJ at given etas, ``(k,)`` or ``(patient, k)`` (nats); e.g. for a profile or a check.

        See :mod:`vhtwin.calibration.objective` for its exact form; at ``twin.eta`` it equals ``twin.objective``.
        """
        B, k = self._eta.shape
        eta = np.asarray(eta, dtype=float)
        if eta.shape not in ((k,), (B, k)):
            raise InputError(f"negative_log_posterior: eta has shape {eta.shape}; expected ({k},) or ({B}, {k}) over {self.eta_names}")
        lanes = self._problem.lanes(1)
        with jax.enable_x64(True):
            value = np.asarray(lanes.objective(jnp.asarray(np.broadcast_to(eta, (B, k)))))
        return self._out(value)

    # -- fit to the data -------------------------------------------------------------------------------------------
    def fitted(self) -> pd.DataFrame:
        """The data with individual (IPRED, at the MAP) and population (PRED, eta = 0) predictions.

        Columns: ``id``, ``time``, ``observable``, ``value``, ``lloq``, ``blq``, ``ipred``, ``pred`` and ``iwres``
        (``(value - ipred) / SD``, NaN for BLQ samples), one row per measurement.
        """
        problem = self._problem
        lanes = problem.lanes(1)
        with jax.enable_x64(True):
            ipred = np.asarray(lanes.predictions(jnp.asarray(self._eta))[0])
            pred = np.asarray(lanes.predictions(jnp.zeros_like(jnp.asarray(self._eta)))[0])
            from .objective import residual_sd

            sd = np.asarray(residual_sd(jnp.asarray(ipred), lanes.table))
        obs = problem.obs
        exp = np.asarray(lanes.table["exponential"])
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = np.where(exp, np.log(np.maximum(obs.value, 1e-300)) - np.log(np.maximum(ipred, 1e-300)),
                              obs.value - ipred)
        iwres = np.where(obs.censored, np.nan, scaled / sd)
        m = obs.mask
        return pd.DataFrame({
            "id": np.broadcast_to(obs.ids[:, None], m.shape)[m],
            "time": obs.time[m],
            "observable": np.asarray(obs.observables, dtype=object)[obs.observable[m]],
            "value": np.where(obs.censored, np.nan, obs.value)[m],
            "lloq": obs.lloq[m],
            "blq": obs.censored[m],
            "ipred": ipred[m],
            "pred": pred[m],
            "iwres": iwres[m],
        })

    # -- forecasts -------------------------------------------------------------------------------------------------
    def _draws(self, n: int, seed: int) -> np.ndarray:
        """``n`` Laplace posterior draws of the etas per patient, (B, n, k), deterministic in ``seed``."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise InputError(f"n_samples {n!r} must be a positive integer")
        if np.isnan(self._cov).any():
            bad = self.ids[np.isnan(self._cov).any(axis=(1, 2))]
            raise InputError(f"the Laplace covariance is undefined (Hessian not positive definite) for patient(s) "
                             f"{[plain(i) for i in bad]}; check twin.converged")
        z = np.random.default_rng(seed).standard_normal((self._eta.shape[0], n, self._eta.shape[1]))
        root = np.linalg.cholesky(self._cov + 1e-300 * np.eye(self._cov.shape[-1]))
        return self._eta[:, None, :] + np.einsum("bij,bnj->bni", root, z)

    def predict(self, times, protocol=None, level: float = 0.9, n_samples: int = 500, seed: int = 0,
                residual: bool = False) -> xr.Dataset:
        """Forecast the observables with a credible interval from the Laplace posterior of the etas.

        Parameters
        ----------
        times : array_like
            Output times (model time unit), 1-D and increasing, shared by the patients.
        protocol : Regimen, sequence or dict by id, optional
            Dosing for the forecast (default: the calibration's). It replaces the calibration protocol, so include
            the past doses when forecasting a new one.
        level : float
            Central probability of the interval (0.9: the 5th to 95th percentiles).
        n_samples : int
            Posterior draws of the etas per patient.
        seed : int
            Seed of the draws: the same seed gives the same forecast.
        residual : bool
            Add residual error to each draw (an interval for a new measurement rather than for the true value).

        Returns
        -------
        xarray.Dataset
            Per observable ``<name>`` (median of the draws), ``<name>_lower``, ``<name>_upper`` and ``<name>_map``
            (the prediction at the MAP etas), over ``("patient", "time")`` (``("time",)`` for one patient), with the
            observable's ``units``; attributes ``level``, ``n_samples``, ``seed``.
        """
        if not isinstance(level, (int, float)) or not 0 < level < 1:
            raise InputError(f"predict: level {level!r} must be a probability between 0 and 1 (0.9: a 90 % interval)")
        times = np.asarray(times, dtype=float)
        if times.ndim != 1 or times.size == 0 or not np.all(np.isfinite(times)):
            raise InputError(f"predict: times must be a non-empty 1-D array of finite times, got shape {times.shape}")
        problem = self._problem
        protocols = problem.protocols if protocol is None else per_patient_protocols(protocol, self.ids, self._batched)
        B, k = self._eta.shape
        eta = np.concatenate([self._eta[:, None, :], self._draws(n_samples, seed)], axis=1)  # (B, 1 + n, k)
        per = 1 + n_samples
        params = self._parameters(eta.reshape(B * per, k), repeat=per)
        covariates = {c: np.repeat(v, per) for c, v in problem.prior.covariates.items()} or None
        ds = simulate(problem.model, params, times=times, protocol=lane_protocol(protocols, per), covariates=covariates,
                      outputs=list(problem.model.observable_names), rtol=problem.rtol, atol=problem.atol,
                      precision="float64", solver=problem.solver)
        rng = np.random.default_rng([seed, 1])
        data = {}
        low_q, high_q = (1 - level) / 2, (1 + level) / 2
        dims = ("patient", "time") if self._batched else ("time",)
        pick = (lambda a: a) if self._batched else (lambda a: a[0])
        for o in problem.model.observable_names:
            values = ds[o].values.reshape(B, per, times.size)
            draws = values[:, 1:]
            if residual:
                draws = self._add_residual(o, draws, rng)
            attrs = {"units": ds[o].attrs.get("units", "")}
            data[o] = xr.Variable(dims, pick(np.median(draws, axis=1)), attrs={**attrs, "long_name": "posterior median"})
            data[f"{o}_lower"] = xr.Variable(dims, pick(np.quantile(draws, low_q, axis=1)),
                                             attrs={**attrs, "long_name": f"{low_q:.3g} quantile"})
            data[f"{o}_upper"] = xr.Variable(dims, pick(np.quantile(draws, high_q, axis=1)),
                                             attrs={**attrs, "long_name": f"{high_q:.3g} quantile"})
            data[f"{o}_map"] = xr.Variable(dims, pick(values[:, 0]), attrs={**attrs, "long_name": "prediction at the MAP"})
        coords = {"time": xr.Variable(("time",), times, attrs={"units": problem.model.time_unit})}
        if self._batched:
            coords["patient"] = self.ids
        status = ds["status"].values.reshape(B, per)
        data["n_failed"] = xr.Variable(("patient",) if self._batched else (), pick((status != 0).sum(axis=1)),
                                       attrs={"long_name": "draws whose solve failed"})
        attrs = {"level": float(level), "n_samples": int(n_samples), "seed": int(seed), "model": problem.model.name,
                 "interval": "Laplace posterior of the etas" + (" plus residual error" if residual else "")}
        return xr.Dataset(data, coords=coords, attrs=attrs)

    def _add_residual(self, observable: str, f: np.ndarray, rng) -> np.ndarray:
        r = self._problem.prior.residuals.get(observable)
        if r is None:
            raise InputError(f"predict: no residual model for observable {observable!r} (it was not among the data)")
        z = rng.standard_normal(f.shape)
        return f * np.exp(r.exponential * z) if r.exponential is not None else f + r.sd(f) * z

    # -- dose selection --------------------------------------------------------------------------------------------
    def optimise_dose(self, regimen, target, *, bounds, intervals=None, quantile=None, min_probability=None,
                      n_samples: int = 200, seed: int = 0, n_grid: int = 24, level: float = 0.9) -> xr.Dataset:
        """The amount (and interval) of a candidate regimen that brings an exposure metric to a target, per
        patient, with the probability of meeting the target under the twin's uncertainty.

        Parameters
        ----------
        regimen : callable
            ``amount -> Regimen`` (or ``(amount, interval) -> Regimen`` with ``intervals``): the whole regimen (past
            doses included) as a function of the amount to choose. ``amount`` is an array with one value per
            simulated lane, so build the regimen with it as is, e.g.
            ``lambda amount: vh.Regimen.repeated(amount, interval=12.0, count=14, into="depot")``;
            ``interval`` is one candidate (a float).
        target : DoseTarget or dict
            The metric, its target value, window and direction (:class:`vhtwin.calibration.DoseTarget`; a dict
            gives its fields). With ``intervals``, end the window at a dose time of every candidate (e.g. 120 h for
            6, 8, 12 and 24 h) so that a trough is a trough for each.
        bounds : (float, float)
            Lowest and highest amounts to consider (the target state's unit).
        intervals : sequence of float, optional
            Candidate dosing intervals (model time unit): the amount is found for each, and one is recommended.
        quantile : float, optional
            ``None``: the MAP prediction hits the target. A probability ``q``: the ``q`` quantile of the metric over
            the Laplace posterior hits it -- ``quantile=0.1`` with a trough target keeps the trough above the target
            in 90 % of the posterior (probability about 0.9); for an upper limit (``direction="at_most"``) use
            ``quantile=0.9`` to stay below it in 90 %.
        min_probability : float, optional
            With ``intervals``: the least probability of meeting the target for an interval to be recommended.
        n_samples, seed : int
            Laplace posterior draws of the etas per patient (for the probability, the interval of the metric and,
            with ``quantile``, the search) and their seed; the same draws serve every candidate interval.
        n_grid : int
            Candidate amounts per search pass (two passes).
        level : float
            Central probability of the interval reported for the metric at the chosen amount.

        Returns
        -------
        xarray.Dataset
            ``amount`` (NaN where the target is out of reach within ``bounds``), ``reached``, ``probability`` (the
            fraction of the posterior draws whose metric meets the target at that amount: ``>=`` the target, or
            ``<=`` for ``direction="at_most"``; NaN without a Laplace covariance), ``<metric>_map`` (the metric at
            the MAP at that amount), the metric's posterior ``_median``, ``_lower`` and ``_upper`` and, with
            ``quantile``, ``_quantile``; per patient for a batch. With ``intervals`` each has an ``interval`` axis
            too, and ``recommended_interval``, ``recommended_amount`` and ``recommended_probability`` give, per
            patient, the longest interval whose target is reached within ``bounds`` (with a probability of at least
            ``min_probability`` if given; NaN where none is). Attributes describe the target and the rule.

        Examples
        --------
        >>> target = DoseTarget("trough", 8.0, start=96.0, end=120.0)
        >>> twin.optimise_dose(lambda a, tau: vh.Regimen.repeated(a, interval=tau, count=int(120 / tau) + 1,
        ...                                                        into="depot"),
        ...                    target, bounds=(10, 2000), intervals=[8, 12, 24], quantile=0.1, min_probability=0.85)
        """
        from .dosing import DoseTarget, optimise

        if isinstance(target, dict):
            target = DoseTarget(**target)
        return optimise(self, regimen, target, bounds=bounds, intervals=intervals, quantile=quantile,
                        min_probability=min_probability, n_samples=n_samples, seed=seed, n_grid=n_grid, level=level)

    # -- posterior samples -----------------------------------------------------------------------------------------
    def sample_posterior(self, n: int = 1000, seed: int = 0, n_proposals: int | None = None) -> xr.Dataset:
        """Posterior samples of the etas by importance resampling from the Laplace approximation.

        ``n_proposals`` draws from ``N(eta_MAP, cov)`` per patient are weighted by ``exp(-OBJ) / q`` and ``n`` of
        them resampled (systematic resampling). The effective sample size of the weights, ``(sum w)^2 / sum w^2``,
        says how good the Laplace approximation is: near ``n_proposals`` when it is close to the posterior.

        Returns
        -------
        xarray.Dataset
            Over ``("patient", "sample")`` (``("sample",)`` for one patient): ``eta_<name>`` and each estimated
            parameter, and ``ess`` (per patient) with ``n_proposals`` in its attributes.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise InputError(f"sample_posterior: n {n!r} must be a positive integer")
        M = int(n_proposals or 4 * n)
        B, k = self._eta.shape
        proposals = self._draws(M, seed)  # (B, M, k)
        lanes = self._problem.lanes(M)
        with jax.enable_x64(True):  # (the objective is compiled once per problem layout, not per twin)
            obj = np.asarray(lanes.objective(jnp.asarray(proposals.reshape(B * M, k)))).reshape(B, M)
        diff = proposals - self._eta[:, None, :]
        log_q = -0.5 * np.einsum("bmi,bij,bmj->bm", diff, np.linalg.inv(self._cov), diff)
        log_w = -obj - log_q
        log_w = log_w - np.max(log_w, axis=1, keepdims=True)
        w = np.exp(log_w)
        w = w / w.sum(axis=1, keepdims=True)
        ess = 1.0 / np.sum(w**2, axis=1)
        rng = np.random.default_rng([seed, 2])
        positions = (rng.uniform(size=(B, 1)) + np.arange(n)[None, :]) / n
        index = np.stack([np.minimum(np.searchsorted(np.cumsum(w[b]), positions[b]), M - 1) for b in range(B)])
        samples = np.take_along_axis(proposals, index[:, :, None], axis=1)  # (B, n, k)
        params = self._parameters(samples.reshape(B * n, k), repeat=n)
        dims = ("patient", "sample") if self._batched else ("sample",)
        pick = (lambda a: a) if self._batched else (lambda a: a[0])
        data = {}
        for j, name in enumerate(self.eta_names):
            data[f"eta_{name}"] = xr.Variable(dims, pick(samples[:, :, j]), attrs={"units": "1"})
            data[name] = xr.Variable(dims, pick(params[name].reshape(B, n)), attrs={"units": self.model.unit_of(name)})
        data["ess"] = xr.Variable(dims[:-1], pick(ess), attrs={"long_name": "effective sample size of the importance weights",
                                                               "n_proposals": M})
        coords = {"patient": self.ids} if self._batched else {}
        return xr.Dataset(data, coords=coords, attrs={"method": "importance resampling from the Laplace approximation",
                                                      "seed": int(seed)})

    # -- display ---------------------------------------------------------------------------------------------------
    def __repr__(self) -> str:
        names = self.eta_names
        n = self._eta.shape[0]
        head = f"<vhtwin Twin of {self.model.name}: {n} patient{'s' if n != 1 else ''}, etas on {', '.join(names)}; " \
               f"{int(self._converged.sum())}/{n} converged>"
        rows = []
        params = self._parameters(self._eta)
        sd = np.sqrt(np.diagonal(self._cov, axis1=1, axis2=2))
        for b in range(min(n, 5)):
            values = ", ".join(
                f"{name} {params[name][b]:.4g} {self.model.unit_of(name)} (eta {self._eta[b, j]:+.3f} +- {sd[b, j]:.3f})"
                for j, name in enumerate(names)
            )
            flag = "" if self._converged[b] else " NOT CONVERGED"
            label = f"id {plain(self.ids[b])!r}: " if self._batched else ""
            rows.append(f"  {label}{values}; OBJ {self._objective[b]:.4f}{flag}")
        if n > 5:
            rows.append(f"  ... {n - 5} more")
        return "\n".join([head, *rows])
