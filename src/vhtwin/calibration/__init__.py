"""Patient-twin calibration: individual MAP (empirical Bayes) estimates with population priors, Laplace
uncertainty, forecasts and posterior samples.

- :mod:`.data` checks a measurement table and lays it out per patient;
- :mod:`.prior` resolves the population prior per patient (typical values, Omega, residual model);
- :mod:`.objective` is the negative log posterior, with Beal's M3 likelihood for BLQ samples;
- :mod:`.problem` ties them to a batched, differentiable solve over lanes;
- :mod:`.fit` is the batched Newton trust-region minimiser;
- :mod:`.twin` holds the result (:class:`Twin`); :mod:`.estimate` is :func:`calibrate`;
- :mod:`.circulation` calibrates circulation twins to measured haemodynamic indices (:func:`calibrate_circulation`);
- :mod:`.dosing` selects a dose for a twin (:class:`DoseTarget`, :meth:`Twin.optimise_dose`).
"""

from .circulation import CirculationTwin, calibrate_circulation
from .dosing import DoseTarget
from .estimate import calibrate
from .twin import Twin

__all__ = ["CirculationTwin", "DoseTarget", "Twin", "calibrate", "calibrate_circulation"]
