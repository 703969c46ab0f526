"""Model exchange: models from SBML files as vhtwin models (:func:`import_sbml`).

An imported model is a :class:`vhtwin.Model` like a hand-written one: its equations are the file's MathML read into
expression trees (:mod:`.expression`), evaluated with JAX -- nothing from a file is executed.
"""

from .sbml import import_sbml

__all__ = ["import_sbml"]
