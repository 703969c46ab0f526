"""Three-compartment pharmacokinetic model for intravenous dosing, with linear elimination.

    d central / dt     = -(CL / V1) * central - (Q2 / V1) * central + (Q2 / V2) * peripheral1
                                              - (Q3 / V1) * central + (Q3 / V3) * peripheral2
    d peripheral1 / dt =  (Q2 / V1) * central - (Q2 / V2) * peripheral1
    d peripheral2 / dt =  (Q3 / V1) * central - (Q3 / V3) * peripheral2
    Cc                 =  central / V1

The mammillary three-compartment model: a central compartment exchanging with a shallow (``peripheral1``) and a
deep (``peripheral2``) peripheral compartment, elimination from the central one (Gibaldi & Perrier,
*Pharmacokinetics*, 2nd ed., 1982, ch. 2, multicompartment models; the structure of NONMEM's ADVAN11). Boluses and
infusions go into ``central``. Default parameter values are illustrative typical adult values, not those of a
particular drug.
"""

from vhtwin import Model, Observable, Parameter, State


class ThreeCompartmentIV(Model):
    """Three-compartment mammillary model with intravenous input (amounts in mg, time in h)."""

    time_unit = "h"
    linear = True  # first-order transfer and elimination: solved exactly by solver="auto"
    reference = "Gibaldi M, Perrier D. Pharmacokinetics, 2nd ed. Marcel Dekker, 1982."
    states = (
        State("central", "mg", 0.0, dosable=True, description="amount in the central compartment (plasma)"),
        State("peripheral1", "mg", 0.0, description="amount in the shallow peripheral compartment"),
        State("peripheral2", "mg", 0.0, description="amount in the deep peripheral compartment"),
    )
    parameters = (
        Parameter("CL", 5.0, "L h-1", positive=True, description="clearance from the central compartment", source="illustrative typical value"),
        Parameter("V1", 20.0, "L", positive=True, description="central volume of distribution", source="illustrative typical value"),
        Parameter("Q2", 10.0, "L h-1", positive=True, description="inter-compartmental clearance, central <-> peripheral1", source="illustrative typical value"),
        Parameter("V2", 50.0, "L", positive=True, description="shallow peripheral volume of distribution", source="illustrative typical value"),
        Parameter("Q3", 2.0, "L h-1", positive=True, description="inter-compartmental clearance, central <-> peripheral2", source="illustrative typical value"),
        Parameter("V3", 100.0, "L", positive=True, description="deep peripheral volume of distribution", source="illustrative typical value"),
    )
    observed = (Observable("Cc", "mg L-1", "central (plasma) concentration"),)

    def rhs(self, t, y, p):
        elimination = p.CL / p.V1 * y.central
        to_shallow = p.Q2 / p.V1 * y.central - p.Q2 / p.V2 * y.peripheral1
        to_deep = p.Q3 / p.V1 * y.central - p.Q3 / p.V3 * y.peripheral2
        return {
            "central": -elimination - to_shallow - to_deep,
            "peripheral1": to_shallow,
            "peripheral2": to_deep,
        }

    def observables(self, t, y, p):
        return {"Cc": y.central / p.V1}


# -- validation target ---------------------------------------------------------------------------------------------
def disposition_modes(CL, V1, Q2, V2, Q3, V3):
    """Exponents and coefficients of the response to a unit input into ``central`` (numpy, float64).

    In amounts x = (central, peripheral1, peripheral2) the model is dx/dt = K x with K = M diag(1/V), where
    M = [[-(CL+Q2+Q3), Q2, Q3], [Q2, -Q2, 0], [Q3, 0, -Q3]] is symmetric. K is therefore similar to the symmetric
    S = diag(V)^-1/2 M diag(V)^-1/2 = U diag(lam) U^T, its eigenvalues lam are real and negative, and

        exp(K t)[r, 0] = sum_i  C[r, i] e^{lam_i t},   C[r, i] = sqrt(V_r / V1) U[r, i] U[0, i],

    the tri-exponential disposition function (Gibaldi & Perrier, ch. 2). Returns ``lam`` of shape (..., 3) and
    ``C`` of shape (..., 3, 3) (rows: states, columns: exponents); parameters broadcast.
    """
    import numpy as np

    CL, V1, Q2, V2, Q3, V3 = np.broadcast_arrays(*(np.asarray(x, float) for x in (CL, V1, Q2, V2, Q3, V3)))
    zero = np.zeros_like(CL)
    M = np.stack(
        [
            np.stack([-(CL + Q2 + Q3), Q2, Q3], -1),
            np.stack([Q2, -Q2, zero], -1),
            np.stack([Q3, zero, -Q3], -1),
        ],
        -2,
    )
    root_v = np.sqrt(np.stack([V1, V2, V3], -1))
    S = M / root_v[..., :, None] / root_v[..., None, :]
    lam, U = np.linalg.eigh(S)
    C = (root_v / root_v[..., :1])[..., :, None] * U * U[..., :1, :]
    return lam, C


def closed_form_amounts(t, dose_times, dose_amounts, CL, V1, Q2, V2, Q3, V3, infusions=()):
    """Exact amounts (mg) of (central, peripheral1, peripheral2) after IV boluses and infusions, shape (..., 3).

    By superposition of the modes of :func:`disposition_modes`: a bolus D at ``td`` adds
    D sum_i C[r, i] e^{lam_i (t - td)} for t > td; an infusion at rate R from ``ts`` to ``te`` adds

        R sum_i C[r, i] (e^{lam_i (t - ts)} - e^{lam_i (t - m)}) / lam_i,   m = min(t, te),  t > ts.

    ``infusions`` is a sequence of ``(start, duration, amount)``. At a bolus time the value is the one just before
    it, as in :func:`vhtwin.simulate`. Parameters broadcast against ``t`` (e.g. shape (n, 1) against (T,)).
    """
    import numpy as np

    t = np.asarray(t, float)
    lam, C = disposition_modes(CL, V1, Q2, V2, Q3, V3)

    def combine(modes):  # modes (..., 3 exponents) -> amounts (..., 3 states)
        return (modes[..., None, :] * C).sum(-1)

    total = 0.0
    for td, amount in zip(dose_times, dose_amounts):
        after = (t > td)[..., None]
        tau = np.where(t > td, t - td, 0.0)[..., None]
        total = total + np.where(after, amount * combine(np.exp(lam * tau)), 0.0)
    for ts, duration, amount in infusions:
        rate = amount / duration
        after = (t > ts)[..., None]
        since_start = np.where(t > ts, t - ts, 0.0)[..., None]
        since_stop = (t - np.minimum(t, ts + duration))[..., None]
        modes = (np.exp(lam * since_start) - np.exp(lam * since_stop)) / lam
        total = total + np.where(after, rate * combine(modes), 0.0)
    return total


def closed_form_central(t, dose_times, dose_amounts, CL, V1, Q2, V2, Q3, V3, infusions=()):
    """Exact amount in ``central`` (mg); see :func:`closed_form_amounts`."""
    return closed_form_amounts(t, dose_times, dose_amounts, CL, V1, Q2, V2, Q3, V3, infusions)[..., 0]
