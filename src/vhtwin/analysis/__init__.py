"""Post-processing of simulated or observed data on the host: non-compartmental analysis (NCA)."""

from .nca import nca

__all__ = ["nca"]
