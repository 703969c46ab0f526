"""Adult physiology for whole-body PBPK: the ICRP 2002 reference individuals, individuals scaled from them, virtual
populations, and tissue composition for partition coefficients.

- :func:`individual` -- organ volumes, blood flows, cardiac output, haematocrit, body surface area and tissue
  composition for adults of given age, sex, weight and height;
- :func:`population` -- a virtual population drawn per ``(seed, patient index)``;
- :class:`Individuals` -- the same virtual adults as the covariates of a :class:`vhtwin.Population` (trials);
- :func:`reference` -- the reference male or female as model compartments; :func:`composition` -- tissue composition;
- :func:`partition_coefficients` -- tissue:plasma partition coefficients (Rodgers & Rowland, Poulin & Theil,
  Berezhkovskiy) from a drug's physicochemistry and the tissue composition;
- :data:`ORGANS`, :data:`PORTAL_ORGANS`, :data:`SYSTEMIC_ORGANS`, :data:`TISSUES`, :data:`COMPOSITION_KEYS`.

The numbers and their sources (ICRP Publication 89 tables, Poulin & Theil 2002, Rodgers & Rowland 2005/2006) are in
``icrp2002_adult.toml``, each marked confirmed, derived or unconfirmed.
"""

from .composition import COMPOSITION_KEYS, TISSUES, composition
from .covariates import Individuals
from .individual import individual
from .partition import partition_coefficients
from .population import population
from .reference import ORGANS, PORTAL_ORGANS, SYSTEMIC_ORGANS, Reference, data, reference
from .scaling import ADULT_AGE_RANGE

__all__ = [
    "ADULT_AGE_RANGE", "COMPOSITION_KEYS", "Individuals", "ORGANS", "PORTAL_ORGANS", "SYSTEMIC_ORGANS", "TISSUES", "Reference",
    "composition", "data", "individual", "partition_coefficients", "population", "reference",
]
