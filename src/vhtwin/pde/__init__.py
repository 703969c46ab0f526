"""Tissue-scale PDEs on structured grids: monodomain reaction--diffusion with vhtwin cell models.

>>> import vhtwin.pde as pde
>>> grid = pde.Grid.slab(20.0, 7.0, 3.0, dx=0.5)
>>> tissue = pde.Monodomain("cardio/tentusscher2006", grid, conductivity=pde.Conductivity(0.1334, 0.0176),
...                         stimuli=[pde.Stimulus(grid.box((0, 1.5), (0, 1.5), (0, 1.5)), 50000.0, 0.0, 2.0)],
...                         params={"celltype": 1})
>>> ds = tissue.run(t_end=80.0, dt=0.05)      # ds.activation_time: (x, y, z) in ms

Modules: :mod:`.grid` (node-centred grids), :mod:`.operators` (no-flux anisotropic diffusion, stability bound),
:mod:`.monodomain` (the splitting solver, units), :mod:`.activation` (conduction velocity), :mod:`.conduction_tuning`
(the grid-dependent conductivity correction, ``Monodomain(..., conductivity_correction="cable")``).
"""

from .activation import conduction_velocity, velocity_along_line
from .grid import Grid
from .monodomain import Conductivity, Monodomain, Stimulus
from .operators import apply_diffusion, diffusivity, fibre_tensor, max_stable_dt

__all__ = [
    "Conductivity", "Grid", "Monodomain", "Stimulus", "apply_diffusion", "conduction_velocity", "diffusivity",
    "fibre_tensor", "max_stable_dt", "velocity_along_line",
]
