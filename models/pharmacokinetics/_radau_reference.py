"""An independent reference solve for the library's nonlinear models: scipy's Radau, restarted at each bolus.

Not a model (the leading underscore keeps it out of the library listing); the Michaelis-Menten models use it for
their ``reference_central`` validation targets.
"""


def boluses_by_radau(rhs, n_states, dosed, observed, t, dose_times, dose_amounts, rtol=1e-11, atol=1e-12):
    """State ``observed`` at the sorted times ``t`` after boluses into state ``dosed``, from an empty body.

    ``rhs(t, y)`` is the model's right-hand side as a list. The solve restarts at each dose with ``y[dosed]``
    raised by the dose; at a dose time the value is the one just before it, as in :func:`vhtwin.simulate`.
    """
    import numpy as np
    from scipy.integrate import solve_ivp

    t = np.asarray(t, float)
    out = np.zeros_like(t)
    doses = sorted(zip(dose_times, dose_amounts))
    ends = [td for td, _ in doses[1:]] + [max(t[-1], doses[-1][0])]
    y = np.zeros(n_states)
    for (td, amount), end in zip(doses, ends):
        y = y.copy()
        y[dosed] += amount
        inside = (t > td) & (t <= end)
        if end > td:
            evals = np.unique(np.append(t[inside], end))
            sol = solve_ivp(rhs, (td, end), y, method="Radau", t_eval=evals, rtol=rtol, atol=atol)
            out[inside] = sol.y[observed, : inside.sum()]
            y = sol.y[:, -1]
    return out
