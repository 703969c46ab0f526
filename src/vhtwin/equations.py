"""A model's equations on flat arrays: the view the engine, the tissue solvers and the benchmarks compute with.

A :class:`vhtwin.Model` is a declaration -- states, parameters, observables and inputs with units, and equations
that read them by name. :func:`equations` gives the same equations on flat vectors (``y`` (n,), ``p`` (P,), ``u``
(U,)), with what follows from the declarations worked out once per model class: infusion rates added to their
states, bioavailability applied to doses, parameter-dependent initial values, and which states each observable
reads. Nothing here is stored on the model.
"""

from __future__ import annotations

import functools

from .errors import ModelError
from .model import Model, Names, check_keys, jnp_broadcast_scalar


class Equations:
    """The flat-array form of one model's equations (see the module docstring); get it with :func:`equations`."""

    def __init__(self, model: Model):
        self.model = model
        states = {s.name: i for i, s in enumerate(model.states)}
        parameters = {q.name: i for i, q in enumerate(model.parameters)}
        self.state_index, self.parameter_index = states, parameters
        self.input_index = {x.name: i for i, x in enumerate(model.inputs)}
        self.dosable = tuple(states[s.name] for s in model.states if s.dosable)
        # (state index, parameter index) of each dose scaling
        self.bioavailability = tuple((states[s.name], parameters[s.bioavailability])
                                     for s in model.states if s.bioavailability)
        self._dependencies: dict[str, tuple[str, ...]] | None = None

    @property
    def has_bioavailability(self) -> bool:
        return bool(self.bioavailability)

    def row_rhs(self, t, y, p, u):
        """``rhs`` on one trajectory: states ``y`` (n_states,), parameters ``p`` (n_params,) and inputs ``u``
        (n_rates + n_inputs,) as sequences of scalars -> a tuple of n_states derivatives.

        The first ``len(dosable_states)`` entries of ``u`` are zero-order infusion rates into the dosable states
        (state unit per time unit); they are added here, so a model never handles infusions itself. The result is
        a tuple, not a stacked vector: the engine vmaps this over a batch and keeps each state's row separate.
        """
        model = self.model
        ys = Names(self.state_index, y, "state")
        ps = Names(self.parameter_index, p, "parameter")
        if model.inputs:
            out = model.rhs(t, ys, ps, Names(self.input_index, u[len(self.dosable):], "input"))
        else:
            out = model.rhs(t, ys, ps)
        check_keys(out, model.state_names, f"{type(model).__name__}.rhs", "state")
        dydt = [jnp_broadcast_scalar(out[name], y[0].dtype) for name in model.state_names]
        fraction = dict(self.bioavailability)
        for channel, state in enumerate(self.dosable):
            rate = u[channel] * p[fraction[state]] if state in fraction else u[channel]
            dydt[state] = dydt[state] + rate
        return tuple(dydt)

    @property
    def event_names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.model.events)

    def _per_event(self, method: str, t, y, p):
        """A model method returning one value per event by name (``event_triggers``, ``event_priorities``) on one
        trajectory -> (G,), checked."""
        import jax.numpy as jnp

        model = self.model
        out = getattr(model, method)(t, Names(self.state_index, y, "state"), Names(self.parameter_index, p, "parameter"))
        check_keys(out, self.event_names, f"{type(model).__name__}.{method}", "event")
        return jnp.stack([jnp_broadcast_scalar(out[name], y.dtype) for name in self.event_names])

    def row_triggers(self, t, y, p):
        """Every event's trigger function on one trajectory: ``y`` (n,), ``p`` (P,) -> (G,); true where ``>= 0``."""
        return self._per_event("event_triggers", t, y, p)

    def row_event_states(self, t, y, p):
        """The state after each event, computed from ``y`` (n,) -> (G, n): assigned rows new, the rest ``y``'s."""
        import jax.numpy as jnp

        model = self.model
        ys, ps = Names(self.state_index, y, "state"), Names(self.parameter_index, p, "parameter")
        rows = []
        every = model.all_event_assignments(t, ys, ps)
        for name in self.event_names:
            out = every[name]
            unknown = [k for k in out if k not in self.state_index]
            if unknown:
                raise ModelError(f"{type(model).__name__}.event_assignments({name!r}) sets unknown states {unknown}")
            rows.append(jnp.stack([jnp_broadcast_scalar(out[s], y.dtype) if s in out else y[i]
                                   for i, s in enumerate(model.state_names)]))
        return jnp.stack(rows)

    def row_event_delays(self, t, y, p):
        """Each event's delay on one trajectory -> (G,) (zero for events without one)."""
        import jax.numpy as jnp

        model = self.model
        ys, ps = Names(self.state_index, y, "state"), Names(self.parameter_index, p, "parameter")
        return jnp.stack([jnp_broadcast_scalar(model.event_delay(e.name, t, ys, ps) if e.delayed else 0.0, y.dtype)
                          for e in model.events])

    def row_event_priorities(self, t, y, p):
        """Each event's priority on one trajectory -> (G,)."""
        return self._per_event("event_priorities", t, y, p)

    def flat_observables(self, t, y, p):
        """``observables`` on flat vectors -> (n_observables,)."""
        import jax.numpy as jnp

        model = self.model
        if not model.observed:
            return jnp.zeros((0,), y.dtype)
        out = model.observables(t, Names(self.state_index, y, "state"), Names(self.parameter_index, p, "parameter"))
        check_keys(out, model.observable_names, f"{type(model).__name__}.observables", "observable")
        return jnp.stack([jnp_broadcast_scalar(out[name], y.dtype) for name in model.observable_names])

    def dose_fractions(self, p):
        """Per-state multiplier of doses, (n, B) from parameters (P, B): the bioavailability parameter or 1."""
        import jax.numpy as jnp

        fraction = dict(self.bioavailability)
        ones = jnp.ones_like(p[0])
        return jnp.stack([p[fraction[i]] if i in fraction else ones for i in range(len(self.model.states))])

    def initial_rows(self, p):
        """The parameter-dependent initial values for a batch: parameters (P, B) -> {state index: (B,)}."""
        import jax
        import jax.numpy as jnp

        model = self.model

        def one(p_lane):
            out = model.initial(Names(self.parameter_index, p_lane, "parameter"))
            unknown = [k for k in out if k not in self.state_index]
            if unknown:
                raise ModelError(f"{type(model).__name__}.initial returns unknown states {unknown}")
            return {self.state_index[k]: jnp.asarray(v, p_lane.dtype) for k, v in out.items()}

        return jax.vmap(one, in_axes=1)(p)

    def observable_dependencies(self) -> dict[str, tuple[str, ...]]:
        """The states each observable reads, found from the traced equations (structural, so conservative).

        The engine uses it to save only the states that the requested outputs need.
        """
        import jax
        import jax.numpy as jnp

        model = self.model
        if not model.observed:
            return {}
        if self._dependencies is not None:  # tracing costs about a millisecond, and every simulate asks
            return dict(self._dependencies)
        n = len(model.states)

        def observe(t, *args):
            y, p = args[:n], args[n:]
            out = model.observables(t, Names(self.state_index, y, "state"), Names(self.parameter_index, p, "parameter"))
            check_keys(out, model.observable_names, f"{type(model).__name__}.observables", "observable")
            return tuple(jnp.asarray(out[name]) for name in model.observable_names)

        values = [0.0] + [float(s.initial) for s in model.states] + [float(q.default) for q in model.parameters]
        closed = jax.make_jaxpr(observe)(*values)
        from .jaxpr_dependencies import input_dependencies  # imports JAX: only when a model is first traced
        # time and parameters are not tracked (mask 0); state i is bit i
        masks = input_dependencies(closed, [0] + [1 << i for i in range(n)] + [0] * len(model.parameters))
        states = model.state_names
        self._dependencies = {
            name: tuple(states[i] for i in range(n) if (mask >> i) & 1)
            for name, mask in zip(model.observable_names, masks)
        }
        return dict(self._dependencies)


@functools.lru_cache(maxsize=None)
def equations(model: Model) -> Equations:
    """The flat-array equations of ``model`` (one per model class: instances of a class compare equal)."""
    return Equations(model)
