"""Model exchange: models from SBML files (:func:`import_sbml`) and CellML files (:func:`import_cellml`) as vhtwin
models, and vhtwin models as SBML files (:func:`export_sbml`).

An imported model is a :class:`vhtwin.Model` like a hand-written one: its equations are the file's MathML read into
expression trees (:mod:`.expression`), evaluated with JAX -- nothing from a file is executed. An exported model's
equations are read by tracing them, and written as MathML.
"""

from .cellml import import_cellml
from .sbml import import_sbml
from .sbml_export import export_sbml

__all__ = ["export_sbml", "import_cellml", "import_sbml"]
