"""The clinician's twin: published priors as data, patient records in FHIR, an audit trail; over calibration.

Nothing else in vhtwin imports this package; it needs the ``clinic`` extra (``pip install vhtwin[clinic]``) for
FHIR (:mod:`.fhir` imports ``fhir.resources`` when a bundle is read).
"""

from .assess import Assessment, assess
from .audit import AuditTrail
from .fhir import read_bundle
from .record import Record, make_record
from .priors import Prior, prior, priors
from .renal import cockcroft_gault

__all__ = ["Assessment", "AuditTrail", "Prior", "assess", "Record", "cockcroft_gault", "make_record", "prior", "priors", "read_bundle"]
