"""Oracles for checking simulations: exact and independent reference solutions of the library's models.

Like :mod:`xarray.testing`, this package is public so that users can check their own set-ups against the same
references the project's tests use. It is organised by field:

* :mod:`vhtwin.testing.pharmacokinetics` -- closed forms of the linear compartmental models (one-, two- and
  three-compartment, IV and oral, boluses and infusions) and scipy Radau solves of the Michaelis--Menten models.
* :mod:`vhtwin.testing.cardio` -- the two-element Windkessel in closed form and the Mitchell--Schaeffer cell by
  scipy's Radau, with its leading-order action-potential duration.
* :mod:`vhtwin.testing.cipa` -- ORd-CiPA from the Chaste CellML file run by Myokit (a test dependency).

Every function is plain numpy/scipy in float64 (or a peer's solver) and independent of the engine, so agreement with
:func:`vhtwin.simulate` is evidence, not a tautology. Model modules hold only the models.
"""

from vhtwin.testing import cardio, cipa, pharmacokinetics

__all__ = ["cardio", "cipa", "pharmacokinetics"]
