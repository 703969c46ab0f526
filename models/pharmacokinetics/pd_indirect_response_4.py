"""Indirect-response model type IV: the drug stimulates the loss of the response.

    d R / dt = kin - kout * (1 + Emax C / (EC50 + C)) * R
    R(0)     = kin / kout

One of the four basic indirect-response models of Dayneka, Garg & Jusko (1993): the response R is produced at the
zero-order rate kin and lost at the first-order rate kout*R, and the drug acts on loss through the stimulation
function 1 + Emax C / (EC50 + C). At steady state without drug R = kin / kout; the drug lowers R.

The concentration is the input ``C``: link this model to a PK model, ``vh.link(pk, pd)``. Types I-IV are four
modules (``pd_indirect_response_1`` ... ``_4``) rather than one model with a type switch, so each reads like its
equation and no parameter is an integer in disguise. Default parameter values are illustrative (baseline
R(0) = kin / kout = 100); each patient starts at its own baseline kin / kout (``initial``), unless
``simulate(..., initial={"R": ...})`` says otherwise.
"""

from vhtwin import Input, Model, Parameter, State


class IndirectResponseStimulatedLoss(Model):
    """Indirect response, type IV (stimulation of loss); time in h."""

    time_unit = "h"
    reference = (
        "Dayneka NL, Garg V, Jusko WJ. Comparison of four basic models of indirect pharmacodynamic responses. "
        "J Pharmacokinet Biopharm 1993;21:457-478."
    )
    states = (State("R", "1", 100.0, description="response (baseline kin / kout at the default parameters)"),)
    parameters = (
        Parameter("kin", 10.0, "h-1", positive=True, description="zero-order production rate of the response", source="illustrative"),
        Parameter("kout", 0.1, "h-1", positive=True, description="first-order loss rate constant of the response", source="illustrative"),
        Parameter("Emax", 1.0, "1", lower=0.0, description="maximal fractional stimulation", source="illustrative"),
        Parameter("EC50", 1.0, "mg L-1", positive=True, description="concentration giving half the maximal stimulation", source="illustrative"),
    )
    inputs = (Input("C", "mg L-1", description="plasma drug concentration (wired by vhtwin.link)"),)

    def initial(self, p):
        return {"R": p.kin / p.kout}  # the drug-free steady state

    def rhs(self, t, y, p, u):
        stimulation = 1.0 + p.Emax * u.C / (p.EC50 + u.C)
        return {"R": p.kin - p.kout * stimulation * y.R}
