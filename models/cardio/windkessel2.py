"""Two-element Windkessel: arterial compliance and peripheral resistance, driven by an aortic inflow Q_in(t).

    dP / dt = Q_in(t) / C - (P - P_out) / (R * C)
    P_ao    = P

The arterial tree is lumped into one compliance C (mL mmHg-1) that stores the stroke volume during ejection and
discharges through the peripheral resistance R (mmHg s mL-1) towards the outflow (venous) pressure P_out
(Frank 1899; element definitions as in Westerhof N, Lankhaar JW, Westerhof BE. The arterial Windkessel. Med Biol Eng
Comput 2009; 47:131-141). In diastole the pressure decays exponentially with time constant tau = R C; at periodic
steady state the beat-averaged pressure is exactly P_out + R * mean(Q_in) (what flows in leaves through R).

Inflow. By default Q_in is a half-sine ejection of stroke volume SV over the ejection time T_ej at the start of each
beat of period T = 60 / HR, and zero in diastole:

    Q_in(t) = Q_max sin(pi tau / T_ej)  for tau = t mod T < T_ej,  0 otherwise;   Q_max = pi SV / (2 T_ej)

so that every beat ejects exactly SV and the mean inflow is SV * HR / 60. A measured or otherwise prescribed inflow
is given as samples over one beat: ``with_inflow(times, flows, period)`` returns a model (a class of its own, named
after the samples' hash) whose Q_in interpolates the samples linearly and periodically; its parameters are the
vessel parameters only (R, C, P_out). The same factory exists in ``windkessel3`` and ``windkessel4`` (one shared
helper, :func:`sampled_inflow_model`, builds all three).

Units: time s, pressure mmHg, flow mL s-1, volume mL. Default parameters are typical of a resting adult (see each
parameter's source); with them the mean inflow is 87.5 mL s-1 (5.25 L min-1) and the steady-state mean pressure
87.5 mmHg. The two-element model overestimates the pulse pressure (no characteristic impedance): the 3-element
model (``cardio/windkessel3``) is the usual choice when the pressure waveform matters.

Validation targets (:mod:`vhtwin.testing.cardio`): ``windkessel2_pressure``, the closed-form solution beat by beat
for the half-sine inflow, and ``windkessel2_periodic_initial_pressure``, the initial pressure of the periodic steady
state.
"""

from __future__ import annotations

import hashlib
import math

import jax.numpy as jnp
import numpy as np

from vhtwin import InputError, Model, Observable, Parameter, State

WESTERHOF_2009 = "Westerhof N, Lankhaar JW, Westerhof BE. The arterial Windkessel. Med Biol Eng Comput 2009; 47:131-141."
_TYPICAL = (
    "typical resting adult value, of the order given by Westerhof et al. 2009 (total peripheral resistance about "
    "1 mmHg s mL-1, i.e. MAP ~90 mmHg / CO ~90 mL s-1; total arterial compliance 1-2 mL mmHg-1)"
)

#: Parameters of the default half-sine inflow, shared by the three Windkessel models.
INFLOW_PARAMETERS = (
    Parameter("HR", 75.0, "min-1", positive=True, description="heart rate; beat period T = 60 / HR",
              source="typical resting adult heart rate (60-100 min-1)"),
    Parameter("SV", 70.0, "mL", lower=0.0, description="stroke volume ejected by each half-sine beat",
              source="typical resting adult stroke volume (60-100 mL)"),
    Parameter("T_ej", 0.3, "s", positive=True, description="ejection time (must not exceed the beat period)",
              source="typical left-ventricular ejection time at rest, about 0.3 s"),
)
_INFLOW_NAMES = tuple(q.name for q in INFLOW_PARAMETERS)


def half_sine_inflow(t, HR, SV, T_ej):
    """The default inflow Q_in(t) (mL s-1): a half sine of area SV over [0, T_ej) of each beat of period 60 / HR."""
    period = 60.0 / HR
    tau = jnp.mod(t, period)
    q_max = jnp.pi * SV / (2.0 * T_ej)
    return jnp.where(tau < T_ej, q_max * jnp.sin(jnp.pi * jnp.minimum(tau, T_ej) / T_ej), 0.0)


def half_sine_inflow_rate(t, HR, SV, T_ej):
    """dQ_in/dt (mL s-2) of :func:`half_sine_inflow` (zero in diastole)."""
    period = 60.0 / HR
    tau = jnp.mod(t, period)
    q_max = jnp.pi * SV / (2.0 * T_ej)
    return jnp.where(tau < T_ej, q_max * jnp.pi / T_ej * jnp.cos(jnp.pi * jnp.minimum(tau, T_ej) / T_ej), 0.0)


class Windkessel2(Model):
    """Two-element (RC) Windkessel driven by a half-sine aortic inflow (time s, pressure mmHg, flow mL s-1)."""

    time_unit = "s"
    reference = WESTERHOF_2009
    states = (State("P_ao", "mmHg", 80.0, description="arterial (aortic) pressure = pressure across the compliance"),)
    parameters = (
        Parameter("R", 1.0, "mmHg s mL-1", positive=True, description="total peripheral resistance", source=_TYPICAL),
        Parameter("C", 1.2, "mL mmHg-1", positive=True, description="total arterial compliance", source=_TYPICAL),
        Parameter("P_out", 0.0, "mmHg", description="outflow (venous) pressure downstream of R",
                  source="0 mmHg: the usual simplification (Westerhof et al. 2009)"),
        *INFLOW_PARAMETERS,
    )
    observed = (
        Observable("Q_in", "mL s-1", "aortic inflow"),
        Observable("Q_out", "mL s-1", "peripheral outflow through R"),
    )

    def inflow(self, t, p):
        return half_sine_inflow(t, p.HR, p.SV, p.T_ej)

    def inflow_rate(self, t, p):
        return half_sine_inflow_rate(t, p.HR, p.SV, p.T_ej)

    def rhs(self, t, y, p):
        return {"P_ao": (self.inflow(t, p) - (y.P_ao - p.P_out) / p.R) / p.C}

    def observables(self, t, y, p):
        return {"Q_in": self.inflow(t, p), "Q_out": (y.P_ao - p.P_out) / p.R}


# -- a sampled inflow waveform -------------------------------------------------------------------------------------
_SAMPLED: dict = {}


def _check_samples(times, flows, period):
    times = np.asarray(times, dtype=float)
    flows = np.asarray(flows, dtype=float)
    if times.ndim != 1 or flows.shape != times.shape or times.size < 2:
        raise InputError(f"with_inflow: times and flows must be 1-D arrays of one length >= 2, got shapes "
                         f"{times.shape} and {flows.shape}")
    if not (np.all(np.isfinite(times)) and np.all(np.isfinite(flows))):
        raise InputError("with_inflow: times and flows must be finite")
    if not (isinstance(period, (int, float, np.floating, np.integer)) and math.isfinite(period) and period > 0):
        raise InputError(f"with_inflow: period {period!r} must be a finite number > 0 (s)")
    if np.any(np.diff(times) <= 0):
        raise InputError("with_inflow: times must be strictly increasing")
    if times[0] < 0 or times[-1] >= times[0] + period:
        raise InputError(f"with_inflow: the samples must lie in one beat, times[0] >= 0 and times[-1] < times[0] + "
                         f"period ({times[0]:g} + {float(period):g}); got times[-1] = {times[-1]:g}")
    return times, flows, float(period)


def sampled_inflow_model(base: type, times, flows, period) -> Model:
    """A model like ``base`` (a Windkessel class) whose inflow interpolates the samples of one beat periodically.

    The samples ``(times, flows)`` cover one beat (s, mL s-1): ``times`` strictly increasing within
    ``[times[0], times[0] + period)``; between the last sample and ``times[0] + period`` the flow returns linearly to
    ``flows[0]`` (the waveform is periodic). dQ_in/dt (for the 4-element model's inertance) is the periodic
    central-difference slope of the samples, interpolated the same way. The half-sine parameters (HR, SV, T_ej) are
    dropped. The class is created once per (base, samples) and named ``<base name>_sampled_<hash>``; its
    ``source_hash`` covers the samples, so results of different waveforms never share provenance.
    """
    times, flows, period = _check_samples(times, flows, period)
    digest = hashlib.sha256(
        b"".join([times.tobytes(), flows.tobytes(), np.float64(period).tobytes()])
    ).hexdigest()
    key = (base, digest)
    if key in _SAMPLED:
        return _SAMPLED[key]
    # one beat closed periodically: the first sample repeated one period later
    t_ext = np.concatenate([times, [times[0] + period]])
    q_ext = np.concatenate([flows, [flows[0]]])
    # periodic central differences for the slope at each sample
    dt_next = np.diff(t_ext)  # (n,)
    dq_next = np.diff(q_ext)
    slope_next = dq_next / dt_next
    slope_prev = np.roll(slope_next, 1)
    dt_prev = np.roll(dt_next, 1)
    rate = (slope_next * dt_prev + slope_prev * dt_next) / (dt_prev + dt_next)
    r_ext = np.concatenate([rate, [rate[0]]])
    t0 = float(times[0])
    label = f"cardio/{base.__module__.rsplit('.', 1)[-1]}_sampled_{digest[:12]}"
    base_hash = base.source_hash(base())

    def _interp(t, values):
        tau = t0 + jnp.mod(t - t0, period)
        return jnp.interp(tau, jnp.asarray(t_ext), jnp.asarray(values))

    class SampledInflow(base):
        __doc__ = f"{base.__doc__.split('(')[0].strip()} driven by a sampled periodic inflow (period {period:g} s)."
        name = label
        parameters = tuple(q for q in base.parameters if q.name not in _INFLOW_NAMES)
        inflow_period = period
        inflow_samples = (times.copy(), flows.copy())

        def inflow(self, t, p):
            return _interp(t, q_ext)

        def inflow_rate(self, t, p):
            return _interp(t, r_ext)

        def source_hash(self) -> str:
            """SHA-256 of the base model's source and of the inflow samples and period."""
            return hashlib.sha256(f"{base_hash}:inflow={digest}".encode()).hexdigest()

    SampledInflow.__name__ = SampledInflow.__qualname__ = f"{base.__name__}Sampled_{digest[:12]}"
    model = SampledInflow()
    _SAMPLED[key] = model
    return model


def with_inflow(times, flows, period) -> Model:
    """The 2-element Windkessel driven by a sampled periodic inflow (see :func:`sampled_inflow_model`).

    ``times`` (s) and ``flows`` (mL s-1) sample one beat; ``period`` is the beat period (s). Parameters: R, C, P_out.
    """
    return sampled_inflow_model(Windkessel2, times, flows, period)


# -- validation targets, in vhtwin.testing.cardio:
# windkessel2_pressure (closed form beat by beat for the half-sine inflow) and
# windkessel2_periodic_initial_pressure (the periodic steady state, exactly).
