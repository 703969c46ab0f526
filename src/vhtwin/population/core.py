"""``Population``: typical values, covariates, covariate models, random effects and residual error of a model, and
the per-patient draw that feeds :func:`vhtwin.simulate`.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import xarray as xr

from ..errors import InputError
from ..limits import MAX_PATIENTS, check_count, check_memory
from ..model import Model
from . import streams
from .covariate_models import CovariateModel

#: Largest between-subject variance accepted on a log or logit scale: 4 is a CV of about 730 %; anything above is
#: taken for a CV in % typed as a variance, and refused.
MAX_LOG_VARIANCE = 4.0
from .covariates import CovariateSource, as_source
from .residual import Residual
from .variability import DISTRIBUTIONS, IOV, Omega, correlate, individual

RANDOM_NUMBERS = (
    "Threefry-2x32 hash chain of (seed, stream, patient id, index, variable); uniform -> normal by inversion "
    "(vhtwin.population.streams)"
)


class Population:
    """A population model in the NONMEM / mrgsolve / rxode2 sense, for one :class:`vhtwin.Model`.

    Patient ``i`` (a global id) gets covariates, then typical values scaled by the covariate models, then between-
    subject etas ``eta ~ N(0, Omega)`` (and per-occasion kappas with ``iov``), and parameters
    ``P = TV * exp(eta)`` (log-normal, the default), ``TV + eta`` (normal) or
    ``lower + (upper - lower) expit(logit((TV - lower) / (upper - lower)) + eta)`` (logit). Everything random about
    patient ``i`` depends only on ``(seed, i)``: a cohort drawn in one call or in chunks of any size is bit for bit
    the same.

    Parameters
    ----------
    model : Model or str
        The model, or a library name for :func:`vhtwin.load_model`.
    typical : dict, optional
        Typical values by parameter name (in the model's units); missing parameters take the model's defaults.
    omega : dict or Omega, optional
        Between-subject variances on the eta scale by parameter name (diagonal), or an :class:`Omega` with blocks.
        Parameters without an omega (or cv) have no between-subject variability. A variance above 4 on a log or
        logit scale (a CV of about 730 %) is refused as a likely CV in %: give ``cv`` instead.
    covariates : Covariates, CovariateTable, DataFrame or dict of arrays, optional
        Where covariates come from (a DataFrame or dict of arrays is a :class:`CovariateTable`: patient ``i`` takes
        row ``i``).
    covariate_models : sequence of CovariateModel
        Applied to the typical values, in order, before the etas.
    residual : Residual, optional
        Residual error of the observations; apply it to simulated outputs with ``pop.residual.apply``.
    distribution : str or dict, optional
        ``"lognormal"`` (default), ``"normal"`` or ``"logit"`` for all parameters or by name; ``("logit", lower,
        upper)`` gives the logit's bounds (by default the parameter's declared bounds).
    iov : IOV, optional
        Inter-occasion variability; see :meth:`sample` for the ``occasion`` dim, ``vh.simulate(..., occasions=...)``
        to switch occasions inside one simulation, and :meth:`at_occasion`.
    cv : dict, optional
        Between-subject variability as coefficients of variation, fractions by parameter name (0.3 for 30 %),
        converted on each parameter's scale: omega = log(1 + CV^2) for a log-normal parameter, (CV x typical)^2 for
        a normal one (not for a logit one). A parameter has an omega or a cv, not both.

    Examples
    --------
    >>> m = vh.load_model("pharmacokinetics/one_compartment_oral")
    >>> pop = vh.Population(m, typical={"ka": 1.5, "CL": 2.8, "V": 31.5},
    ...                     omega={"ka": 0.42, "CL": 0.073, "V": 0.018}, residual=vh.Residual(additive=0.7))
    >>> draw = pop.sample(n=1000, seed=0)
    >>> result = vh.simulate(m, params=draw, times=np.arange(0.5, 24.5), protocol=vh.Regimen.bolus(320.0, into="depot"))
    """

    def __init__(
        self,
        model: Model | str,
        typical: Mapping[str, float] | None = None,
        omega: Mapping[str, float] | Omega | None = None,
        covariates=None,
        covariate_models: Sequence[CovariateModel] = (),
        residual: Residual | None = None,
        distribution: str | Mapping[str, object] | None = None,
        iov: IOV | None = None,
        cv: Mapping[str, float] | None = None,
    ):
        if isinstance(model, str):
            from ..library import load_model

            model = load_model(model)
        if not isinstance(model, Model):
            raise InputError(f"Population: model must be a vhtwin.Model instance or a library name, got {type(model).__name__}")
        self.model = model
        self._declared = {q.name: q for q in model.parameters}
        self.typical = self._typical(typical)
        self.omega = Omega.coerce(omega)
        self._known(self.omega.names, "omega")
        if iov is not None and not isinstance(iov, IOV):
            raise InputError(f"Population: iov must be a vhtwin.IOV (variances and n_occasions), got {type(iov).__name__}")
        self.iov = iov
        if iov is not None:
            self._known(iov.variances, "iov")
        self.distribution, self._bounds = self._distributions(distribution)
        if cv is not None:
            self.omega = self._with_cv(cv)
        self._check_log_scale_variances()
        self.covariates: CovariateSource | None = as_source(covariates)
        self.covariate_models = self._covariate_models(covariate_models)
        if residual is not None and not isinstance(residual, Residual):
            raise InputError(f"Population: residual must be a vhtwin.Residual, got {type(residual).__name__}")
        self.residual = residual

    # -- checks -------------------------------------------------------------------------------------------------------
    def _known(self, names, field: str) -> None:
        for name in names:
            if name not in self._declared:
                raise InputError(
                    f"Population {field}: unknown parameter {name!r} for model {self.model.name}; its parameters are "
                    f"{list(self._declared)}"
                )

    def _typical(self, typical) -> dict[str, float]:
        typical = {} if typical is None else typical
        if not isinstance(typical, Mapping):
            raise InputError(f"Population typical must be a dict of values by parameter name, got {type(typical).__name__}")
        self._known(typical, "typical")
        out = self.model.default_parameters()
        for name, value in typical.items():
            q = self._declared[name]
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise InputError(f"Population typical value of {name!r} is {value!r}; it must be a number") from None
            if q.violations(np.asarray([v])).any():
                raise InputError(f"Population typical value of {name!r} is {v:g}; it must be {q.allowed()}")
            out[name] = v
        return out

    def _distributions(self, distribution):
        names = self.model.parameter_names
        if distribution is None or isinstance(distribution, (str, tuple)):
            spec = {n: distribution or "lognormal" for n in names}
        elif isinstance(distribution, Mapping):
            self._known(distribution, "distribution")
            spec = {n: distribution.get(n, "lognormal") for n in names}
        else:
            raise InputError(f"Population distribution must be a name, or a dict by parameter, got {distribution!r}")
        kinds, bounds = {}, {}
        for n, d in spec.items():
            kind, rest = (d[0], d[1:]) if isinstance(d, tuple) else (d, ())
            if kind not in DISTRIBUTIONS:
                raise InputError(f"Population distribution of {n!r} is {d!r}; allowed: {list(DISTRIBUTIONS)}")
            q, tv = self._declared[n], self.typical[n]
            lo, hi = (q.lower, q.upper) if not rest else tuple(rest) + (None,) * (2 - len(rest))
            if kind == "logit":
                if lo is None or hi is None or not (lo < tv < hi):
                    raise InputError(
                        f"Population distribution of {n!r}: a logit needs bounds lower < typical < upper; got lower "
                        f"{lo!r}, typical {tv:g}, upper {hi!r} (give them as ('logit', lower, upper))"
                    )
            elif kind == "lognormal" and tv <= 0 and n in self.omega.names:
                raise InputError(f"Population: {n!r} is log-normal but its typical value is {tv:g}; it must be > 0")
            kinds[n], bounds[n] = kind, (lo, hi)
        return kinds, bounds

    def _with_cv(self, cv) -> Omega:
        """``omega`` with the variabilities given as coefficients of variation (fractions) added on each eta's scale:
        log(1 + CV^2) for a log-normal parameter (NONMEM's usual reading of a CV), (CV x typical)^2 for a normal one."""
        if not isinstance(cv, Mapping):
            raise InputError(f"Population cv must be a dict of coefficients of variation by parameter name, got {type(cv).__name__}")
        self._known(cv, "cv")
        added = {}
        for name, value in cv.items():
            try:
                c = float(value)
            except (TypeError, ValueError):
                raise InputError(f"Population cv of {name!r} is {value!r}; it must be a number") from None
            if not np.isfinite(c) or c <= 0:
                raise InputError(f"Population cv of {name!r} is {c:g}; it must be a fraction > 0 (0.3 for 30 %)")
            if c >= 5:
                raise InputError(f"Population cv of {name!r} is {c:g}: a CV is given as a fraction here (0.3 for 30 %), "
                                 f"so {c:g} would be {c * 100:g} %; write {c / 100:g} for {c:g} %")
            if name in self.omega.names:
                raise InputError(f"Population: {name!r} has both an omega and a cv; give its variability once")
            kind = self.distribution[name]
            if kind == "lognormal":
                added[name] = math.log1p(c * c)
            elif kind == "normal":
                added[name] = (c * self.typical[name]) ** 2
            else:
                raise InputError(f"Population cv of {name!r}: a CV has no single meaning on the logit scale of a "
                                 "'logit' parameter; give its omega (variance of the logit) instead")
            if kind == "lognormal" and self.typical[name] <= 0:
                raise InputError(f"Population: {name!r} is log-normal but its typical value is {self.typical[name]:g}; "
                                 "it must be > 0")
        return Omega({**self.omega.diagonal, **added}, blocks=self.omega.blocks)

    def _check_log_scale_variances(self) -> None:
        """Refuse a log- or logit-scale variance above 4 (a CV of about 730 %): almost surely a CV % typed as omega."""
        variances = dict(self.omega.diagonal)
        for names, m in self.omega.blocks:
            variances.update({n: float(np.asarray(m, dtype=float)[i, i]) for i, n in enumerate(names)})
        for name, v in variances.items():
            if self.distribution[name] in ("lognormal", "logit") and v > MAX_LOG_VARIANCE:
                cv = math.sqrt(math.expm1(v)) * 100 if v < 700 else float("inf")
                raise InputError(
                    f"Population omega of {name!r} is {v:g}, the variance of its eta on the {self.distribution[name]} "
                    f"scale -- a CV of {cv:.3g} %, which no population has. A CV in % given as omega? Give "
                    f"cv={{{name!r}: {v / 100:g}}} for a CV of {v:g} % (omega = log(1 + CV^2)), or an omega of at most "
                    f"{MAX_LOG_VARIANCE:g}"
                )

    def _covariate_models(self, models) -> tuple[CovariateModel, ...]:
        available = () if self.covariates is None else self.covariates.names
        clash = [c for c in available if c in self._declared or c.startswith(("eta_", "kappa_"))]
        if clash:
            raise InputError(f"Population covariates: name {clash[0]!r} clashes with a parameter or an eta variable")
        out = []
        for cm in models:
            if not isinstance(cm, CovariateModel):
                raise InputError(f"Population covariate_models must hold covariate models (PowerCovariate, ...), got {cm!r}")
            self._known([cm.param], f"{type(cm).__name__}")
            # Without a covariate source the values come with each draw (a dataset's columns, sample(covariates=)).
            if self.covariates is not None and cm.covariate not in available:
                raise InputError(
                    f"Population {type(cm).__name__} on {cm.param!r} refers to covariate {cm.covariate!r}, which is not "
                    f"among the covariates {list(available)}"
                )
            out.append(cm)
        return tuple(out)

    # -- drawing ------------------------------------------------------------------------------------------------------
    def typical_values(self, covariates: Mapping[str, np.ndarray] | None = None, n: int | None = None) -> dict[str, np.ndarray]:
        """Typical values per patient after the covariate models (no etas), from covariate arrays by name."""
        covariates = covariates or {}
        if n is None:
            n = len(next(iter(covariates.values()))) if covariates else 1
        tv = {name: np.full(n, value) for name, value in self.typical.items()}
        for cm in self.covariate_models:
            if cm.covariate not in covariates:
                raise InputError(f"typical_values: covariate {cm.covariate!r} is needed by {type(cm).__name__} on {cm.param!r}")
            tv[cm.param] = tv[cm.param] * cm.factor(covariates[cm.covariate])
        return tv

    @property
    def bounds(self) -> dict[str, tuple]:
        """Per parameter, the ``(lower, upper)`` bounds of its distribution (a logit's bounds; the declared ones
        otherwise, ``None`` where there is none)."""
        return dict(self._bounds)

    @property
    def covariates_needed(self) -> tuple[str, ...]:
        """The covariates the covariate models read, in order of first use."""
        return tuple(dict.fromkeys(cm.covariate for cm in self.covariate_models))

    def individual_values(self, typical: Mapping[str, np.ndarray], etas: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Parameters from typical values and etas by name (each distribution's transform; parameters without an
        eta keep their typical value). Arrays broadcast: etas may carry trailing axes (occasions)."""
        out = {}
        for q in self.model.parameters:
            name = q.name
            tv = np.asarray(typical[name], float)
            if name in etas:
                lo, hi = self._bounds[name]
                out[name] = individual(tv, np.asarray(etas[name], float), self.distribution[name], lo, hi)
            else:
                out[name] = tv
        return out

    def sample(self, n: int, seed: int, first_patient: int = 0, covariates: Mapping[str, np.ndarray] | None = None) -> xr.Dataset:
        """Draw patients ``first_patient .. first_patient + n - 1``.

        ``covariates`` (optional): the patients' covariate values by name, one per patient (a dataset's columns),
        used instead of the population's own covariate source.

        Returns
        -------
        xarray.Dataset
            Over ``patient`` (coordinate: the global ids): every model parameter (``units`` from the model),
            ``eta_<name>`` for each parameter with between-subject variability, and each covariate (with ``units``
            where known). With ``iov``: an ``occasion`` dim, ``kappa_<name>`` and ``<name>_by_occasion``
            ``(patient, occasion)`` for each parameter with IOV; the plain ``<name>`` variable then holds occasion 0's
            value. Usable directly as ``vh.simulate(model, params=draw, ...)`` (which reads the parameter variables);
            with ``vh.simulate(..., occasions=[start times])`` the ``<name>_by_occasion`` values switch at each
            occasion's start inside one simulation.
        """
        for label, v, low in (("n", n, 1), ("first_patient", first_patient, 0)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise InputError(f"Population.sample: {label} {v!r} must be an integer >= {low}")
        check_count("Population.sample: n", int(n), MAX_PATIENTS, "; draw in chunks (first_patient=)")
        if int(first_patient) + int(n) > 2**63 - 1:  # ids are stored as int64: beyond, they would wrap around
            raise InputError(f"Population.sample: first_patient {int(first_patient):,} + n {int(n):,} passes the last "
                             f"patient id {2**63 - 1:,} (ids are 64-bit integers); first_patient must be at most "
                             f"{2**63 - 1 - int(n):,}")
        # a draw holds a few arrays of n values per parameter, eta and covariate
        check_memory(f"Population.sample of {int(n):,} patients",
                     8.0 * int(n) * (4 * len(self.model.parameters) + 16), "draw fewer patients at once (first_patient=)")
        seed = streams.check_seed(seed)
        ids = np.arange(int(first_patient), int(first_patient) + int(n), dtype=np.uint64)
        if covariates is not None:
            covariates = self._given_covariates(covariates, int(n))
        else:
            covariates = {} if self.covariates is None else self.covariates.sample(seed, ids)
        tv = self.typical_values(covariates, n)
        etas = {}
        for names, root in self.omega.groups():
            z = np.stack([streams.normals(seed, streams.ETA, name, ids) for name in names], axis=1)
            eta = correlate(z, root)
            etas.update({name: eta[:, k] for k, name in enumerate(names)})
        kappas = {}
        if self.iov is not None:
            occasions = np.arange(self.iov.n_occasions)[None, :]
            for name, var in self.iov.variances.items():
                kappas[name] = math.sqrt(var) * streams.normals(seed, streams.IOV, name, ids[:, None], occasions)
        return self._dataset(ids, seed, covariates, tv, etas, kappas)

    def _given_covariates(self, covariates: Mapping[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
        if not isinstance(covariates, Mapping):
            raise InputError(f"Population.sample: covariates must be a dict of values by name, got {type(covariates).__name__}")
        out = {}
        for name, values in covariates.items():
            v = np.asarray(values, dtype=float) if not isinstance(values, str) else None
            if v is None or v.ndim > 1 or (v.ndim == 1 and v.shape[0] != n):
                raise InputError(f"Population.sample: covariate {name!r} must be a number or {n} values, one per patient")
            if name in self._declared or str(name).startswith(("eta_", "kappa_")):
                raise InputError(f"Population.sample: covariate {name!r} clashes with a parameter or an eta variable")
            out[str(name)] = np.broadcast_to(v, (n,)).astype(float)
        for name in self.covariates_needed:
            if name not in out:
                raise InputError(f"Population.sample: covariate {name!r} is needed by a covariate model but was not "
                                 f"given (given: {sorted(out)})")
            bad = ~np.isfinite(out[name])
            if bad.any():
                raise InputError(f"Population.sample: covariate {name!r} of patient {int(np.flatnonzero(bad)[0])} is "
                                 f"{float(out[name][bad][0]):g}; it must be a finite number")
        return out

    def _dataset(self, ids, seed, covariates, tv, etas, kappas) -> xr.Dataset:
        data, n = {}, ids.shape[0]
        for q in self.model.parameters:
            name, kind = q.name, self.distribution[q.name]
            lo, hi = self._bounds[name]
            eta = etas.get(name, np.zeros(n))
            value = individual(tv[name], eta, kind, lo, hi) if name in etas else tv[name]
            attrs = {"units": q.unit, "distribution": kind}
            if q.description:
                attrs["long_name"] = q.description
            if name in kappas:
                by_occasion = individual(tv[name], eta[:, None] + kappas[name], kind, lo, hi)
                data[f"{name}_by_occasion"] = xr.Variable(("patient", "occasion"), by_occasion, attrs=dict(attrs))
                value = by_occasion[:, 0].copy()
                attrs["note"] = "value on occasion 0; every occasion in <name>_by_occasion"
            data[name] = xr.Variable(("patient",), value, attrs=attrs)
        for name, eta in etas.items():
            data[f"eta_{name}"] = xr.Variable(
                ("patient",), eta, attrs={"units": "1", "long_name": f"between-subject random effect of {name} (eta scale)"}
            )
        for name, kappa in kappas.items():
            data[f"kappa_{name}"] = xr.Variable(
                ("patient", "occasion"), kappa, attrs={"units": "1", "long_name": f"inter-occasion random effect of {name}"}
            )
        units = {} if self.covariates is None else self.covariates.units
        for name, values in covariates.items():
            attrs = {"units": units[name], "long_name": "covariate"} if units.get(name) else {"long_name": "covariate"}
            data[name] = xr.Variable(("patient",), values, attrs=attrs)
        coords = {"patient": ids.astype(np.int64)}
        if kappas:
            coords["occasion"] = np.arange(self.iov.n_occasions)
        attrs = {"model": self.model.name, "seed": seed, "random_numbers": RANDOM_NUMBERS}
        return xr.Dataset(data, coords=coords, attrs=attrs)

    def at_occasion(self, draw: xr.Dataset, occasion: int) -> xr.Dataset:
        """The draw with each IOV parameter set to its value on ``occasion`` (to simulate that occasion).

        A regimen's occasions are the user's to define (NONMEM's OCC item: typically each dosing period). To switch
        parameters at occasion boundaries inside one solve, pass the whole draw with their start times:
        ``vh.simulate(model, draw, ..., occasions=[0.0, 24.0, 48.0])``. ``at_occasion`` gives one occasion's values
        throughout, e.g. to simulate an occasion on its own (``t0=`` and ``initial=`` chain occasions by hand).
        """
        if self.iov is None or "occasion" not in draw.dims:
            raise InputError("at_occasion: this population (or draw) has no inter-occasion variability")
        if not 0 <= occasion < draw.sizes["occasion"]:
            raise InputError(f"at_occasion: occasion {occasion!r} must be in 0 .. {draw.sizes['occasion'] - 1}")
        out = draw.copy()
        for name in self.iov.variances:
            out[name] = draw[f"{name}_by_occasion"].isel(occasion=occasion, drop=True)
        return out

    def __repr__(self):
        iiv = ", ".join(self.omega.names) or "none"
        cov = ", ".join(self.covariates.names) if self.covariates is not None else "none"
        return f"<vhtwin Population of {self.model.name}: IIV on {iiv}; covariates {cov}; residual {self.residual}>"
