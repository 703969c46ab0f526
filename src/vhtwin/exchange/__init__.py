"""Model exchange: models from SBML files as vhtwin models (:func:`import_sbml`), and vhtwin models as SBML files
(:func:`export_sbml`).

An imported model is a :class:`vhtwin.Model` like a hand-written one: its equations are the file's MathML read into
expression trees (:mod:`.expression`), evaluated with JAX -- nothing from a file is executed. An exported model's
equations are read by tracing them, and written as MathML.
"""

from .sbml import import_sbml
from .sbml_export import export_sbml

__all__ = ["export_sbml", "import_sbml"]
