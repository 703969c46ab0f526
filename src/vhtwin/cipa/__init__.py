"""In-silico cardiac safety by the CiPA paradigm: the torsade risk of a drug from its block of seven ionic currents,
simulated in the ORd-CiPA ventricular cell (``cardio/ohara_rudy_cipa2017``) and scored by qNet.

- :func:`drugs`, :func:`drug`: the 28 CiPA reference drugs as data (:mod:`vhtwin.cipa.drugs`);
- :func:`torsade_metric`: qNet, APD90, APD50 and EADs of a drug over concentrations (and uncertainty samples), the
  FDA protocol run as one batch (:mod:`vhtwin.cipa.assay`);
- :func:`torsade_metric_score`, :func:`classify`: the torsade metric score and the risk class from it
  (:mod:`vhtwin.cipa.risk`);
- :class:`DrugExposure`: a trial arm in which each patient's PK drives block of their own heart cell, by multi-rate
  coupling (:mod:`vhtwin.cipa.exposure`, :mod:`vhtwin.cipa.coupling`, which also has the full coupling it is
  measured against).
"""

from .assay import run_assay
from .coupling import full_coupling, multirate_coupling
from .drugs import Drug, drug, drugs
from .exposure import DrugExposure
from .metric import torsade_metric
from .risk import THRESHOLDS, THRESHOLDS_SOURCE, classify, fit_thresholds, torsade_metric_score

__all__ = ["Drug", "DrugExposure", "full_coupling", "multirate_coupling", "THRESHOLDS", "THRESHOLDS_SOURCE", "classify", "drug", "drugs", "fit_thresholds", "run_assay", "torsade_metric",
           "torsade_metric_score"]
