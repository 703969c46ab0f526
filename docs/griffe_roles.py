"""Griffe extension for the API reference: the docstrings' cross-reference roles (``:func:`vhtwin.simulate```,
``:class:`~vhtwin.trial.core.Trial```) shown as code, the name as Sphinx would show it.

The docstrings keep the roles because they are what a reader of the source and ``help()`` expects; without this,
mkdocstrings would print the role's markup (``:func:``) in front of every name.
"""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:mod|func|class|meth|data|attr|exc|obj):`(~?)([^`]+)`")


def _shown(match: re.Match) -> str:
    tilde, target = match.groups()
    name = target.rsplit(".", 1)[-1] if tilde else target  # "~a.b.c" shows "c", as in Sphinx
    return f"`{name}`"


class SphinxRoles(griffe.Extension):
    """Rewrites each object's docstring once, when griffe loads it."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(_shown, obj.docstring.value)
