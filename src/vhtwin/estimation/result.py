"""``PopulationFit``: the estimates, their uncertainty, the subjects' etas, predictions and residuals of a fit.

The objective function value is reported as NONMEM reports it: ``ofv`` = -2 log likelihood *without* the constant
``n log(2 pi)`` of the ``n`` quantified measurements (BLQ records carry no such constant);
``minus_2_log_likelihood`` includes it, and AIC and BIC are computed from it (``-2LL + 2 p`` and
``-2LL + p log n``, ``p`` the estimated parameters, ``n`` the measurements).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import jax
import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from .. import engine
from ..population import IOV, Omega, Population
from ..population.covariate_models import (CategoricalCovariate, ExponentialCovariate, LinearCovariate,
                                           PowerCovariate)
from . import covariance as _covariance
from . import objective as _objective
from .assemble import Assembled, assemble
from .data import Subjects
from .outer import Evaluator, Outcome
from .parameters import Parametrisation, residual_of, unpack

LOG_2PI = math.log(2.0 * math.pi)


@dataclass(eq=False)
class PopulationFit:
    """A fitted population model (made by :func:`vhtwin.estimate`).

    Attributes
    ----------
    method : str
        ``"focei"``, ``"foce"``, ``"laplace"`` or ``"saem"``.
    converged : bool
        The outer search met its gradient tolerance.
    message : str
        How the outer search ended.
    iterations, evaluations : int
        Outer iterations; objective-and-gradient evaluations (each one batched solve of every subject's modes).
    covariance_status : str
        ``"ok"``, ``"not requested"``, or why the covariance step failed (standard errors are then NaN).
    elapsed : float
        Wall time of the fit, seconds (compilation included).
    """

    start: Population
    subjects: Subjects
    par: Parametrisation
    assembled: Assembled
    evaluator: Evaluator
    outcome: Outcome
    step: _covariance.CovarianceStep | None
    elapsed: float
    method: str = "focei"
    trace: object = None  # SAEM: the parameters and acceptance rates per iteration
    _cache: dict = field(default_factory=dict, repr=False)

    # -- status ----------------------------------------------------------------------------------------------------------

    @property
    def converged(self) -> bool:
        return self.outcome.converged

    @property
    def message(self) -> str:
        return self.outcome.message

    @property
    def iterations(self) -> int:
        return self.outcome.iterations

    @property
    def evaluations(self) -> int:
        return self.outcome.evaluations

    @property
    def covariance_status(self) -> str:
        return "not requested" if self.step is None else self.step.status

    def __repr__(self) -> str:
        return (f"<vhtwin PopulationFit {self.method} of {self.assembled.problem.model.name}: {self.n_subjects} subjects, "
                f"{self.n_observations} measurements, OFV {self.ofv:.3f}, converged {self.converged}, covariance "
                f"{self.covariance_status}>")

    # -- estimates -------------------------------------------------------------------------------------------------------
    @property
    def u(self) -> np.ndarray:
        """Every parameter, unconstrained (fixed ones at their values)."""
        return np.asarray(self.par.full(self.outcome.x))

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return self.par.names

    @property
    def estimates(self) -> pd.Series:
        """Every parameter on its reported scale, by name."""
        if "estimates" not in self._cache:
            with jax.enable_x64(True):
                self._cache["estimates"] = pd.Series(np.asarray(self.par.reported(self.par.full(self.outcome.x))),
                                                     index=list(self.par.names), name="estimate")
        return self._cache["estimates"]

    @property
    def fixed(self) -> pd.Series:
        """True for the parameters held at their starting value."""
        mask = np.ones(len(self.par.names), bool)
        mask[self.par.free] = False
        return pd.Series(mask, index=list(self.par.names), name="fixed")

    @property
    def theta(self) -> pd.Series:
        """Typical values (natural scale, model units) and covariate coefficients by name."""
        keep = [n for n, g in zip(self.par.names, self.par.groups_of) if g == "theta"]
        return self.estimates[keep].rename("theta")

    @property
    def omega(self) -> pd.DataFrame:
        """The eta variance-covariance matrix, labelled by parameter name."""
        with jax.enable_x64(True):
            _, omega, _ = unpack(self.par.layout, self.par.full(self.outcome.x), self.par.features, self.par.lower,
                                 self.par.upper)
        names = list(self.par.eta_names)
        return pd.DataFrame(np.asarray(omega), index=names, columns=names)

    @property
    def sigma(self) -> pd.Series:
        """Residual parameters by name: ``additive`` as an SD (observable unit), ``proportional`` as a fraction,
        ``exponential`` as an SD on the log scale."""
        keep = [n for n, g in zip(self.par.names, self.par.groups_of) if g == "sigma"]
        out = self.estimates[keep]
        out.index = [n[len("sigma("):-1] for n in keep]
        return out.rename("sigma")

    # -- objective -------------------------------------------------------------------------------------------------------
    @property
    def n_subjects(self) -> int:
        return self.subjects.obs.n_patients

    @property
    def n_observations(self) -> int:
        return int(self.subjects.obs.mask.sum())

    @property
    def n_estimated(self) -> int:
        return self.par.n_free

    @property
    def minus_2_log_likelihood(self) -> float:
        """-2 log likelihood at the estimate, with every constant."""
        return float(self.subjects_status["ofv"].sum())  # one evaluation at the estimate serves both

    @property
    def ofv(self) -> float:
        """NONMEM's objective function value: -2LL without ``n log(2 pi)`` for the quantified measurements."""
        quantified = int((self.subjects.obs.mask & ~self.subjects.obs.censored).sum())
        return self.minus_2_log_likelihood - quantified * LOG_2PI

    @property
    def aic(self) -> float:
        return self.minus_2_log_likelihood + 2 * self.n_estimated

    @property
    def bic(self) -> float:
        return self.minus_2_log_likelihood + self.n_estimated * math.log(self.n_observations)

    # -- uncertainty -----------------------------------------------------------------------------------------------------
    def _jacobian(self) -> np.ndarray:
        with jax.enable_x64(True):
            return np.asarray(jax.jacfwd(lambda x: self.par.reported(self.par.full(x)))(np.asarray(self.outcome.x)))

    @property
    def covariance(self) -> pd.DataFrame:
        """Covariance of the estimated parameters on their reported scale (delta method); NaN if the step failed."""
        names = [self.par.names[i] for i in self.par.free]
        if self.step is None:
            cov = np.full((len(names), len(names)), np.nan)
        else:
            cov = _covariance.natural(self._jacobian()[self.par.free], self.step.covariance)
        return pd.DataFrame(cov, index=names, columns=names)

    @property
    def correlation(self) -> pd.DataFrame:
        """Correlation matrix of the estimates."""
        cov = self.covariance
        sd = np.sqrt(np.diag(cov.to_numpy()))
        return cov / np.outer(sd, sd)

    @property
    def standard_errors(self) -> pd.Series:
        se = pd.Series(np.nan, index=list(self.par.names), name="se")
        cov = self.covariance
        se[cov.index] = np.sqrt(np.clip(np.diag(cov.to_numpy()), 0.0, None))
        return se

    # -- subjects --------------------------------------------------------------------------------------------------------
    @property
    def etas(self) -> pd.DataFrame:
        """Each subject's conditional mode of the etas (empirical Bayes estimates), index ID."""
        modes = np.asarray(self.evaluator.modes)[: self.n_subjects]
        return pd.DataFrame(modes, index=pd.Index(self.subjects.obs.ids, name="ID"), columns=list(self.par.eta_names))

    @property
    def individual_parameters(self) -> pd.DataFrame:
        """Each subject's parameters at its conditional modes (model units; index ID, a column per parameter with a
        typical value estimated): typical values after covariate models, with the subject's etas."""
        with jax.enable_x64(True):
            values = jax.device_get(_objective.individual_values(self.assembled.static, np.asarray(self.outcome.x),
                                                                 np.asarray(self.evaluator.modes), self.assembled.data))
        return pd.DataFrame(np.asarray(values).T[: self.n_subjects],
                            index=pd.Index(self.subjects.obs.ids, name="ID"), columns=list(self.par.layout.rows))

    @property
    def subjects_status(self) -> pd.DataFrame:
        """Per subject (index ID): ``ofv`` (its contribution to the objective, -2 log likelihood with constants) and
        ``converged`` (its conditional-mode search converged at the estimate); a subject whose model failed to solve
        or whose modes did not converge is flagged here, never hidden in a NaN objective."""
        if "subjects" not in self._cache:
            value, _, result = self.evaluator.value_and_gradient(self.outcome.x)
            B = self.n_subjects
            self._cache["subjects"] = pd.DataFrame(
                {"ofv": np.asarray(value)[:B], "converged": np.asarray(result.converged)[:B]},
                index=pd.Index(self.subjects.obs.ids, name="ID"))
        return self._cache["subjects"]

    @property
    def shrinkage(self) -> pd.Series:
        """Eta shrinkage per eta: ``1 - SD(eta_hat) / omega_kk^(1/2)`` (SD with n - 1)."""
        etas = self.etas
        omega = self.omega
        sd = etas.std(ddof=1)
        return pd.Series(1.0 - sd.to_numpy() / np.sqrt(np.diag(omega.to_numpy())), index=etas.columns, name="shrinkage")

    def table(self) -> pd.DataFrame:
        """Estimates, standard errors, RSE %, 95 % confidence intervals (estimate +- 1.96 SE) and eta shrinkage."""
        est, se = self.estimates, self.standard_errors
        out = pd.DataFrame({"estimate": est, "fixed": self.fixed, "se": se, "rse_percent": 100.0 * se / est.abs(),
                            "ci_low": est - 1.959963984540054 * se, "ci_high": est + 1.959963984540054 * se})
        shrink = self.shrinkage
        out["shrinkage_percent"] = [100.0 * shrink[n[6:-1]] if n.startswith("omega(") and n[6:-1] in shrink.index
                                    else np.nan for n in out.index]
        out.index.name = "parameter"
        return out

    # -- predictions and residuals ---------------------------------------------------------------------------------------
    def _per_record(self, values: np.ndarray) -> np.ndarray:
        """(B, N) laid-out values as one value per record of :attr:`Subjects.records`."""
        out = np.full(len(self.subjects.records), np.nan)
        idx = self.subjects.record_index
        out[idx[idx >= 0]] = np.asarray(values)[: idx.shape[0], : idx.shape[1]][idx >= 0]
        return out

    def _linearisation(self, eta):
        f = self.assembled.functions()
        with jax.enable_x64(True), engine.counting():
            mu, var, d_mu = jax.device_get(f["linearisation"](np.asarray(self.outcome.x), eta, self.assembled.data))
        B, N = self.subjects.obs.mask.shape
        return mu[:B, :N], var[:B, :N], d_mu[:B, :N]

    def _weighted(self, eta_at: np.ndarray, mu, var, d_mu, y) -> np.ndarray:
        """``C^-1/2 (y - mu + d_mu eta)`` per subject over its quantified records (Cholesky, time order)."""
        obs, omega = self.subjects.obs, self.omega.to_numpy()
        out = np.full(obs.mask.shape, np.nan)
        use = obs.mask & ~obs.censored
        for b in range(obs.n_patients):
            j = np.flatnonzero(use[b])
            if j.size == 0:
                continue
            G = d_mu[b, j]
            C = G @ omega @ G.T + np.diag(var[b, j])
            r = y[b, j] - mu[b, j] + G @ eta_at[b]
            out[b, j] = np.linalg.solve(np.linalg.cholesky(C), r)
        return out

    def residuals(self, npde_simulations: int = 1000, seed: int = 0) -> xr.Dataset:
        """Per measurement record: DV, PRED, IPRED, RES, IRES, WRES, CWRES, IWRES and NPDE (dim ``record``).

        PRED and IPRED are the predictions at eta = 0 and at the subject's modes. RES = DV - PRED, IRES = DV - IPRED,
        IWRES = IRES / SD(IPRED). WRES linearises the model at eta = 0 (NONMEM's FO weighted residual), CWRES at the
        modes (Hooker et al. 2007, Pharm Res 24:2187), each decorrelated within the subject by the Cholesky factor of
        its linearised covariance. NPDE (Brendel et al. 2006, Pharm Res 23:2036; Comets et al. 2008) from
        ``npde_simulations`` simulated replicates of the dataset: per subject the observed and simulated vectors are
        decorrelated by the simulated mean and covariance (Cholesky), ``pde`` is the fraction of simulated values
        below the observed, and ``npde = Phi^-1(pde)`` (``pde`` clipped to ``[1/2K, 1 - 1/2K]``). With exponential
        (log-transformed) error, the weighted residuals are on the log scale. BLQ records get NaN residuals.
        """
        key = ("residuals", npde_simulations, seed)
        if key in self._cache:
            return self._cache[key]
        obs = self.subjects.obs
        B, N = obs.mask.shape
        k = len(self.par.eta_names)
        W = self.assembled.width
        modes = np.zeros((W, k))
        modes[:B] = np.asarray(self.evaluator.modes)[:B]
        mu0, var0, d0 = self._linearisation(np.zeros((W, k)))
        mu1, var1, d1 = self._linearisation(modes)
        exp = np.asarray(self.assembled.data["table"]["exponential"])[:B, :N]
        y = np.where(exp, np.log(np.maximum(obs.value, 1e-300)), obs.value)
        f0 = np.where(exp, np.exp(mu0), mu0)
        f1 = np.where(exp, np.exp(mu1), mu1)
        quantified = obs.mask & ~obs.censored
        nan_cens = lambda a: np.where(quantified, a, np.nan)
        wres = self._weighted(np.zeros((B, k)), mu0, var0, d0, y)
        cwres = self._weighted(modes[:B], mu1, var1, d1, y)
        iwres = nan_cens((y - mu1) / np.sqrt(var1))
        rec = self.subjects.records
        columns = {
            "ID": rec["ID"].to_numpy(), "TIME": rec["TIME"].to_numpy(float), "DV": rec["DV"].to_numpy(float),
            "CENS": rec["CENS"].to_numpy(bool), "DVID": rec["DVID"].to_numpy(int),
            "PRED": self._per_record(f0), "IPRED": self._per_record(f1),
        }
        columns["RES"] = np.where(columns["CENS"], np.nan, columns["DV"] - columns["PRED"])
        columns["IRES"] = np.where(columns["CENS"], np.nan, columns["DV"] - columns["IPRED"])
        columns["WRES"] = self._per_record(wres)
        columns["CWRES"] = self._per_record(cwres)
        columns["IWRES"] = self._per_record(iwres)
        columns["NPDE"] = self._npde(npde_simulations, seed) if npde_simulations else np.full(len(rec), np.nan)
        model = self.assembled.problem.model
        units = {x.name: x.unit for x in model.observed}
        unit = units.get(obs.observables[0], "") if len(obs.observables) == 1 else ""
        ds = xr.Dataset({k: ("record", v) for k, v in columns.items()},
                        coords={"record": np.arange(len(rec)), "ROW": ("record", rec["ROW"].to_numpy())},
                        attrs={"method": self.method, "npde_simulations": int(npde_simulations), "seed": int(seed),
                               "model": model.name})
        for v in ("DV", "PRED", "IPRED", "RES", "IRES"):
            ds[v].attrs["units"] = unit
        ds["TIME"].attrs["units"] = model.time_unit
        self._cache[key] = ds
        return ds

    @property
    def predictions(self) -> xr.Dataset:
        """:meth:`residuals` with its defaults (NPDE from 1,000 replicates, seed 0)."""
        return self.residuals()

    # -- simulation ------------------------------------------------------------------------------------------------------
    def simulate_records(self, n_replicates: int, seed: int = 0) -> np.ndarray:
        """Replicates of the dataset simulated from the fitted model, ``(n_replicates, n_records)`` in the order of
        the measurement records: etas drawn from Omega per subject and residual error per record; replicate ``r``
        depends on ``(seed, r)`` only."""
        from ..errors import InputError

        if isinstance(n_replicates, bool) or not isinstance(n_replicates, (int, np.integer)) or n_replicates < 1:
            raise InputError(f"n_replicates = {n_replicates!r}: must be an integer >= 1")
        key = ("assembled", int(n_replicates))
        if key not in self._cache:
            self._cache[key] = assemble(self.assembled.problem, self.par, self.assembled.static.method,
                                        repeat=int(n_replicates))
        rep: Assembled = self._cache[key]
        obs = self.subjects.obs
        B, N = obs.mask.shape
        n = int(n_replicates)
        omega = self.omega.to_numpy()
        k = omega.shape[0]
        root = np.linalg.cholesky(omega + 1e-300 * np.eye(k))
        eta = np.zeros((rep.width, k))
        eps = np.empty((n, B, N))
        for r in range(n):
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), r]))
            eta[np.arange(B) * n + r] = rng.standard_normal((B, k)) @ root.T
            eps[r] = rng.standard_normal((B, N))
        with jax.enable_x64(True), engine.counting():
            f, status = jax.device_get(rep.functions()["predictions"](np.asarray(self.outcome.x), eta, rep.data))
        f = np.asarray(f)[: B * n, :N].reshape(B, n, N).transpose(1, 0, 2)  # (n, B, N)
        which = obs.observable
        y = np.empty_like(f)
        for o_index, o in enumerate(obs.observables):
            res = residual_of(self.par, self._sigma_vector(), o)
            sel = np.broadcast_to(which == o_index, f.shape)
            sd = res.sd(f)
            noisy = f * np.exp(sd * eps) if res.exponential is not None else f + sd * eps
            y[sel] = noisy[sel]
        y[np.asarray(status)[: B * n].reshape(B, n).T != 0] = np.nan  # a failed solve is no data
        out = np.full((n, len(self.subjects.records)), np.nan)
        idx = self.subjects.record_index
        out[:, idx[idx >= 0]] = y[:, idx >= 0]
        return out

    def _sigma_vector(self) -> np.ndarray:
        keep = [i for i, g in enumerate(self.par.groups_of) if g == "sigma"]
        return self.estimates.to_numpy()[keep]

    def _npde(self, K: int, seed: int) -> np.ndarray:
        sims = self.simulate_records(K, seed)
        rec = self.subjects.records
        dv, cens = rec["DV"].to_numpy(float), rec["CENS"].to_numpy(bool)
        out = np.full(len(rec), np.nan)
        ids = rec["ID"].to_numpy()
        for pid in self.subjects.obs.ids:
            j = np.flatnonzero((ids == pid) & ~cens)
            Y = sims[:, j]
            Y = Y[np.all(np.isfinite(Y), axis=1)]
            if j.size == 0 or Y.shape[0] < 2:
                continue
            mean = Y.mean(axis=0)
            cov = np.atleast_2d(np.cov(Y, rowvar=False))
            try:
                L = np.linalg.cholesky(cov)
            except np.linalg.LinAlgError:
                continue
            y_dec = np.linalg.solve(L, dv[j] - mean)
            Y_dec = np.linalg.solve(L, (Y - mean).T).T
            pde = np.mean(Y_dec < y_dec, axis=0)
            pde = np.clip(pde, 1.0 / (2 * Y.shape[0]), 1.0 - 1.0 / (2 * Y.shape[0]))
            out[j] = stats.norm.ppf(pde)
        return out

    # -- a population for trials -----------------------------------------------------------------------------------------
    def to_population(self, *, uncertainty: bool = False, replicate: int = 0, seed: int = 0) -> Population:
        """The fitted model as a :class:`vhtwin.Population` a trial can simulate.

        With ``uncertainty=True``, the parameters of replicate ``replicate`` are drawn from the estimates' normal
        distribution on the unconstrained scale (the covariance step's matrix), from ``(seed, replicate)`` only --
        one population per replicate of a trial with parameter uncertainty.
        """
        from ..errors import InputError

        x = np.asarray(self.outcome.x, float)
        if uncertainty:
            if self.step is None or not self.step.ok:
                raise InputError(f"to_population uncertainty = True: needs a successful covariance step "
                                 f"(covariance status: {self.covariance_status})")
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(replicate)]))
            x = rng.multivariate_normal(x, self.step.covariance)
        with jax.enable_x64(True):
            u = self.par.full(x)
            values = np.asarray(self.par.reported(u))
            _, omega, sigma = unpack(self.par.layout, u, self.par.features, self.par.lower, self.par.upper)
        omega, sigma = np.asarray(omega), np.asarray(sigma)
        named = dict(zip(self.par.names, values))
        start = self.start
        typical = {**start.typical, **{n: float(named[n]) for n in self.par.layout.rows}}
        models = []
        for m, cm in enumerate(start.covariate_models):
            label = f"{cm.param}~{cm.covariate}"
            if isinstance(cm, PowerCovariate):
                models.append(PowerCovariate(cm.param, cm.covariate, cm.reference, float(named[label])))
            elif isinstance(cm, LinearCovariate):
                models.append(LinearCovariate(cm.param, cm.covariate, cm.reference, float(named[label])))
            elif isinstance(cm, ExponentialCovariate):
                models.append(ExponentialCovariate(cm.param, cm.covariate, cm.reference, float(named[label])))
            else:
                levels, reference = self.par.reference_levels[m]
                factors = {lv: 1.0 if lv == reference else float(named[f"{label}={lv}"]) for lv in levels}
                models.append(CategoricalCovariate(cm.param, cm.covariate, factors))
        eta = list(self.par.eta_names)
        diagonal = {n: 0.0 for n in self.par.layout.rows if n not in eta}
        blocks = []
        for positions in self.par.layout.groups:
            names = tuple(eta[i] for i in positions)
            block = omega[np.ix_(positions, positions)]
            if len(names) == 1:
                diagonal[names[0]] = float(block[0, 0])
            else:
                blocks.append((names, block))
        residual = residual_of(self.par, sigma, self.subjects.obs.observables[0])
        return Population(start.model, typical=typical, omega=Omega(diagonal, blocks=blocks),
                          covariates=start.covariates, covariate_models=models, residual=residual,
                          distribution={n: (start.distribution[n], *start.bounds[n]) if start.distribution[n] == "logit"
                                        else start.distribution[n] for n in start.model.parameter_names},
                          iov=start.iov if isinstance(start.iov, IOV) else None)

    # -- checks and figures ----------------------------------------------------------------------------------------------
    def observed(self) -> pd.DataFrame:
        """The measurement records with PRED and each subject's baseline covariates (for
        :func:`vhtwin.estimation.vpc.vpc_statistics`; a covariate column can stratify a VPC)."""
        rec = self.subjects.records
        pred = self.residuals(npde_simulations=0)["PRED"].to_numpy()
        out = pd.DataFrame({"ID": rec["ID"].to_numpy(), "TIME": rec["TIME"].to_numpy(float),
                            "DV": rec["DV"].to_numpy(float), "CENS": rec["CENS"].to_numpy(bool),
                            "LIMIT": rec["LIMIT"].to_numpy(float), "PRED": pred})
        for name in self.subjects.covariates.columns:
            out[name] = self.subjects.covariates[name].reindex(out["ID"]).to_numpy()
        return out

    def vpc(self, n_replicates: int = 500, seed: int = 0, **options) -> xr.Dataset:
        """A visual predictive check: observed percentiles per time bin against their intervals over
        ``n_replicates`` datasets simulated from the fit (:func:`vhtwin.estimation.vpc.vpc_statistics` takes the
        ``options``: ``bins``, ``n_bins``, ``edges``, ``percentiles``, ``ci``, ``prediction_corrected``,
        ``stratify``, ``lower_bound``)."""
        from .vpc import vpc_statistics

        return vpc_statistics(self.observed(), self.simulate_records(n_replicates, seed), **options)

    def plot_vpc(self, n_replicates: int = 500, seed: int = 0, *, ax=None, log: bool = False, **options):
        """The figure of :meth:`vpc`, observed points drawn (:func:`vhtwin.estimation.figures.vpc`)."""
        from .figures import vpc

        model = self.assembled.problem.model
        units = {x.name: x.unit for x in model.observed}
        unit = units.get(self.subjects.obs.observables[0], "")
        return vpc(self.vpc(n_replicates, seed, **options), self.observed(), ax=ax, log=log,
                   xlabel=f"TIME [{model.time_unit}]", ylabel=f"DV [{unit}]")

    def plot_goodness_of_fit(self, *, axes=None, log: bool = False):
        """DV against PRED and IPRED, CWRES against TIME and PRED (:func:`vhtwin.estimation.figures.goodness_of_fit`)."""
        from .figures import goodness_of_fit

        return goodness_of_fit(self.residuals(npde_simulations=0), axes=axes, log=log)

    def plot_etas(self, *, axes=None):
        """Each eta's empirical Bayes estimates against ``N(0, omega)``, with shrinkage
        (:func:`vhtwin.estimation.figures.eta_distributions`)."""
        from .figures import eta_distributions

        return eta_distributions(self.etas, self.omega, axes=axes, shrinkage=self.shrinkage)


__all__ = ["PopulationFit"]
