"""An independent reference for ``cardio/ohara_rudy_cipa2017``: the Chaste CellML encoding of ORd-CiPA v1
(``ohara_rudy_cipa_v1_2017.cellml``, github.com/Chaste/cellml) run by Myokit -- its own CellML import and CVODE --
for tests and benchmarks. Myokit is a test dependency, imported when called.

The file's stimulus becomes Myokit's pacing (``pace`` times the file's amplitude, a 0.5 ms block every cycle, so
that CVODE stops at its edges), and a state ``cipa.qNet`` integrates 1e-3 (INaL + ICaL + Ito + IKr + IKs + IK1), the
charge in uC/uF, as vhtwin's model does.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Mapping

import numpy as np

__all__ = ["MyokitCiPA"]


class MyokitCiPA:
    """A Myokit simulation of the CellML file, paced at ``cycle_length`` ms from ``initial`` (states by vhtwin's
    names; the file calls V ``v``), CVODE at rtol = atol = ``tol``."""

    def __init__(self, path: str | Path, initial: Mapping[str, float], *, cycle_length: float = 2000.0,
                 tol: float = 1e-8):
        import myokit
        import myokit.formats

        model = myokit.formats.importer("cellml").model(str(path))
        pace = model.get("environment").add_variable("pace")
        pace.set_rhs(0)
        pace.set_binding("pace")
        model.get("membrane.Istim").set_rhs("environment.pace * membrane.i_Stim_Amplitude")
        q = model.add_component("cipa").add_variable("qNet")
        q.set_rhs("1e-3 * (INaL.INaL + ICaL.ICaL + Ito.Ito + IKr.IKr + IKs.IKs + IK1.IK1)")
        q.promote(0.0)
        model.set_initial_values([initial["V" if v.name() == "v" else v.name()] for v in model.states()])
        self.cycle_length = float(cycle_length)
        self._constants = {v.name(): v.qname() for v in model.variables(const=True, deep=True)}
        self._sim = myokit.Simulation(model, myokit.pacing.blocktrain(period=cycle_length, duration=0.5, offset=0.0))
        self._sim.set_tolerance(tol, tol)
        self._start = self._sim.default_state()

    def last_beat(self, beats: int, times: np.ndarray, constants: Mapping[str, float] | None = None):
        """V (mV) and qNet (uC/uF) at ``times`` (from the beat's stimulus) of the last of ``beats`` beats, with the
        file's constants set by name (e.g. ``GNaL_b``, ``D``, ``Kmax``), and the seconds the pacing took.

        Every call starts again from the initial state (Myokit's pre-pacing would otherwise make its end state the
        next start)."""
        sim = self._sim
        sim.set_default_state(self._start)
        sim.reset()
        for name, value in (constants or {}).items():
            sim.set_constant(self._constants[name], float(value))
        t = time.perf_counter()
        if beats > 1:
            sim.pre((beats - 1) * self.cycle_length)  # time restarts at 0 for the logged beat
        log = sim.run(float(times[-1]) + 1e-9, log=["membrane.v", "cipa.qNet"], log_times=np.asarray(times, float))
        seconds = time.perf_counter() - t
        return np.asarray(log["membrane.v"], float), np.asarray(log["cipa.qNet"], float), seconds
