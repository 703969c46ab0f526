"""Post-processing of simulated or observed data on the host: non-compartmental analysis (NCA), per-arm trial
summaries in bounded memory (percentile bands, NCA summaries, target attainment, failure counts), action-potential
biomarkers and haemodynamic indices.

The cohort helpers that other packages (trial, calibration, the command line, plots) need are public here:
:func:`successful` (the patients of an arm whose solve succeeded), :func:`last_stimulus` (where the last paced beat
starts) and :func:`beat_indices` (haemodynamic indices of sampled beats, numpy or JAX)."""

from .cell_summary import action_potential_per_patient, action_potential_summary, last_stimulus
from .electrophysiology import action_potential_biomarkers
from .nca import nca
from .summary import failure_counts, nca_per_patient, nca_summary, percentiles, successful, target_attainment

__all__ = [
    "action_potential_biomarkers", "action_potential_per_patient", "action_potential_summary", "beat_indices",
    "failure_counts", "haemodynamics", "last_stimulus", "nca", "nca_per_patient", "nca_summary", "percentiles",
    "steady_state_haemodynamics", "successful", "target_attainment",
]
from .haemodynamic_indices import beat_indices  # noqa: E402,F401  (haemodynamic indices of sampled beats; numpy or JAX)
from .haemodynamics import haemodynamics, steady_state_haemodynamics  # noqa: E402,F401  (per-beat HR, SV, CO, EF, pressures)
