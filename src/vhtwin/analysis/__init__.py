"""Post-processing of simulated or observed data on the host: non-compartmental analysis (NCA) and per-arm trial
summaries in bounded memory (percentile bands, NCA summaries, target attainment, failure counts)."""

from .cell_summary import action_potential_per_patient, action_potential_summary
from .electrophysiology import action_potential_biomarkers
from .nca import nca
from .summary import failure_counts, nca_per_patient, nca_summary, percentiles, target_attainment

__all__ = ["action_potential_biomarkers", "action_potential_per_patient", "action_potential_summary", "failure_counts", "nca", "nca_per_patient", "nca_summary", "percentiles", "target_attainment"]
from .haemodynamics import haemodynamics, steady_state_haemodynamics  # noqa: E402,F401  (per-beat HR, SV, CO, EF, pressures)
