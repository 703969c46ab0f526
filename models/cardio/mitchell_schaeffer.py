"""Mitchell--Schaeffer two-current model of the cardiac membrane potential (dimensionless voltage, time in ms).

    dv/dt = J_in + J_out + J_stim
    J_in  = h v^2 (1 - v) / tau_in          (fast inward current, gated by h)
    J_out = -v / tau_out                     (slow outward current)
    dh/dt = (1 - h) / tau_open    if v <  v_gate   (recovery of the inward current)
            -h / tau_close        if v >= v_gate   (its inactivation during the action potential)

``v`` is the membrane potential rescaled to [0, 1] (0 at rest, 1 near the peak) and ``h`` the gate of the inward
current. ``h``'s equation is ``(h_inf - h) / tau_h`` with ``h_inf = 1, tau_h = tau_open`` below ``v_gate`` and
``h_inf = 0, tau_h = tau_close`` above: a gating variable (``State(gate=True)``), integrated exponentially by the
Rush--Larsen solver. The switch at ``v_gate`` is the published model and is kept as a hard switch (no smoothing):
the adaptive solvers reject the step that straddles it and shrink, which costs a few steps per crossing.

Parameters and the rest state ``(v, h) = (0, 1)`` are the paper's standard set (as in the CellML repository's
``mitchell_schaeffer_2003`` encoding): tau_in 0.3, tau_out 6, tau_open 120, tau_close 150 ms, v_gate 0.13.

Stimulus: the input ``J_stim`` (ms-1) is added to dv/dt. Its documented amplitude is 0.2 ms-1: a 1 ms pulse raises
``v`` from rest to about 0.2, four times the excitation threshold (``v(1 - v) = tau_in / tau_out``, v = 0.053, where
the inward current first beats the outward one with h = 1) and above ``v_gate``. At the default parameters (checked
with :func:`vhtwin.testing.cardio.mitchell_schaeffer_reference`) the 1 ms threshold amplitude from rest is
0.054 ms-1, and 0.2 ms-1 excites once h has recovered above 0.33 (about 50 ms after repolarisation at tau_open = 120 ms). ``vh.Pacing(period, duration=1.0)`` uses it.

Observable ``Vm`` (mV) is the conventional affine rescaling ``Vm = -80 + 100 v`` (rest -80 mV; the peak, v about 0.95, is near +15 mV),
for plots and for analysis code that expects millivolts; it is not part of the model.

Action-potential duration: during the plateau ``v`` stays near 1 while ``h`` decays as ``exp(-t / tau_close)``;
the plateau loses its stable fixed point when ``h`` falls to ``4 tau_in / tau_out``, which gives the leading-order
maximal APD ``tau_close ln(tau_out / (4 tau_in))`` = 241 ms at the defaults (Mitchell & Schaeffer 2003, section 3).
The full model repolarises later (``v`` lingers near the vanishing fixed point), so that formula is a lower bound
(:func:`vhtwin.testing.cardio.mitchell_schaeffer_apd_leading_order`);
:func:`vhtwin.testing.cardio.mitchell_schaeffer_reference` solves the same equations with scipy's Radau.

Reference: C. C. Mitchell, D. G. Schaeffer. A two-current model for the dynamics of cardiac membrane potential.
Bulletin of Mathematical Biology 65 (2003) 767--793. doi:10.1016/S0092-8240(03)00041-7.
"""

from vhtwin import Input, Model, Observable, Parameter, State

_PAPER = "Mitchell & Schaeffer 2003 (Bull Math Biol 65:767), section 2; CellML mitchell_schaeffer_2003"

#: Documented stimulus amplitude on J_stim (ms-1) for a 1 ms pulse (see the module docstring).
STIMULUS_AMPLITUDE = 0.2
#: Affine rescaling of v to millivolts for the Vm observable: Vm = V_REST + V_SPAN * v.
V_REST, V_SPAN = -80.0, 100.0


class MitchellSchaeffer(Model):
    """Mitchell--Schaeffer 2003 two-variable cardiac cell model (v dimensionless in [0, 1], time in ms)."""

    time_unit = "ms"
    reference = (
        "Mitchell CC, Schaeffer DG. A two-current model for the dynamics of cardiac membrane potential. "
        "Bull Math Biol 2003;65:767-793. doi:10.1016/S0092-8240(03)00041-7"
    )
    states = (
        State("v", "1", 0.0, description="membrane potential, rescaled to [0, 1] (0 rest, 1 peak)"),
        State("h", "1", 1.0, gate=True, description="gate of the inward current (1 open, recovered; 0 inactivated)"),
    )
    parameters = (
        Parameter("tau_in", 0.3, "ms", positive=True, description="time constant of the inward current (upstroke)", source=_PAPER),
        Parameter("tau_out", 6.0, "ms", positive=True, description="time constant of the outward current (repolarisation)", source=_PAPER),
        Parameter("tau_open", 120.0, "ms", positive=True, description="recovery time constant of the gate (v < v_gate)", source=_PAPER),
        Parameter("tau_close", 150.0, "ms", positive=True, description="inactivation time constant of the gate (v >= v_gate); sets the APD", source=_PAPER),
        Parameter("v_gate", 0.13, "1", lower=0.0, upper=1.0, description="potential at which the gate switches from opening to closing", source=_PAPER),
    )
    observed = (Observable("Vm", "mV", "membrane potential rescaled to millivolts: -80 + 100 v (a convention, not part of the model)"),)
    inputs = (
        Input("J_stim", "ms-1", 0.0, description="stimulus current added to dv/dt", stimulus=STIMULUS_AMPLITUDE),
    )

    def rhs(self, t, y, p, u):
        import jax.numpy as jnp

        v, h = y.v, y.h
        j_in = h * v * v * (1.0 - v) / p.tau_in
        j_out = -v / p.tau_out
        below = v < p.v_gate
        dh = jnp.where(below, (1.0 - h) / p.tau_open, -h / p.tau_close)
        return {"v": j_in + j_out + u.J_stim, "h": dh}

    def observables(self, t, y, p):
        return {"Vm": V_REST + V_SPAN * y.v}


# -- validation targets, in vhtwin.testing.cardio:
# 1. The leading-order maximal APD of the paper, a lower bound of the full model's APD
#    (mitchell_schaeffer_apd_leading_order).
# 2. An independent solve: scipy's Radau on the same equations, restarted at each stimulus edge
#    (mitchell_schaeffer_reference).
