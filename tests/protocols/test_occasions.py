"""Inter-occasion variability inside one simulation: ``simulate(..., occasions=[...])``."""

import numpy as np
import pytest

import vhtwin as vh
from vhtwin.errors import InputError

pytestmark = pytest.mark.slow

STARTS = [0.0, 24.0, 48.0]
DOSES = [0.0, 12.0, 24.0, 36.0, 48.0, 60.0]
TIGHT = dict(rtol=1e-10, atol=1e-12)


@pytest.fixture(scope="module")
def iv():
    return vh.load_model("pharmacokinetics/one_compartment_iv")


@pytest.fixture(scope="module")
def oral():
    return vh.load_model("pharmacokinetics/one_compartment_oral")


@pytest.fixture(scope="module")
def pop(iv):
    return vh.Population(iv, typical={"CL": 5.0, "V": 50.0}, omega={"CL": 0.1, "V": 0.05},
                         iov=vh.IOV({"CL": 0.09, "V": 0.04}, n_occasions=3))


def regimen(start=0.0, count=6):
    return vh.Regimen.repeated(100.0, 12.0, count, into="central", start=start)


def piecewise_central(t, CL, V, starts=STARTS, doses=DOSES, amount=100.0):
    """Exact amount: decay with the occasion's k = CL_k / V_k between events, doses added (left limit at events)."""
    events = sorted(set(doses) | set(starts[1:]))
    occasion = lambda s: max(int(np.searchsorted(starts, s, side="right")) - 1, 0)
    out = []
    for tt in np.atleast_1d(t):
        A, prev = 0.0, min(events[0], tt)
        for e in events:
            if e >= tt:
                break
            k = occasion(prev)
            A *= np.exp(-CL[k] / V[k] * (e - prev))
            prev = e
            if e in doses:
                A += amount
        k = occasion(prev)
        out.append(A * np.exp(-CL[k] / V[k] * (tt - prev)))
    return np.array(out)


def test_closed_form_piecewise(iv, pop):
    draw = pop.sample(n=8, seed=1)
    times = np.arange(0.0, 73.0, 0.5)
    out = vh.simulate(iv, draw, times=times, protocol=regimen(), occasions=STARTS, **TIGHT)
    assert out.attrs["solver"] == "tsit5"  # "auto" on a linear model falls back to the ODE path
    assert out.attrs["occasion_parameters"] == ["CL", "V"]
    np.testing.assert_array_equal(out["occasion_start"].values, STARTS)
    CL, V = draw["CL_by_occasion"].values, draw["V_by_occasion"].values
    assert np.ptp(CL, axis=1).min() > 0  # the parameters really switch
    for i in range(draw.sizes["patient"]):
        ref = piecewise_central(times, CL[i], V[i])
        np.testing.assert_allclose(out["central"].values[i], ref, rtol=1e-6, atol=1e-12)
        # Cc uses the V in force just before each output time
        k = np.clip(np.searchsorted(STARTS, times, side="left") - 1, 0, None)
        np.testing.assert_allclose(out["Cc"].values[i], ref / V[i, k], rtol=1e-6, atol=1e-12)


def test_same_as_chained_occasions(iv, pop):
    draw = pop.sample(n=6, seed=2)
    times = np.arange(0.0, 73.0)
    one = vh.simulate(iv, draw, times=times, protocol=regimen(), occasions=STARTS, **TIGHT)
    ends = STARTS[1:] + [72.0]
    state = None
    for k, (s, e) in enumerate(zip(STARTS, ends)):
        chunk_times = np.arange(s, e + 1.0)
        part = vh.simulate(iv, pop.at_occasion(draw, k), times=chunk_times, protocol=regimen(start=s, count=2),
                           initial=state, t0=s, **TIGHT)
        sel = one.sel(time=chunk_times)
        # at a boundary the one-run output is the left limit: compare the chunk's own end, not its start
        cmp = slice(1, None) if k else slice(None)
        for name in ("central", "Cc"):
            np.testing.assert_allclose(sel[name].values[:, cmp], part[name].values[:, cmp], rtol=1e-7, atol=1e-12)
        state = {"central": part["central"].values[:, -1]}


def test_bioavailability_by_occasion(oral):
    F = np.array([[1.0, 0.5, 0.25], [0.8, 0.3, 0.6]])
    base = {"ka": np.array([1.2, 0.7]), "CL": np.array([4.0, 6.0]), "V": np.array([40.0, 60.0])}
    times = np.arange(0.0, 73.0, 0.5)
    # boluses in occasions 0, 1 (one at the boundary itself: the new occasion's F), 2; an infusion across t = 48
    reg = (vh.Regimen.bolus(100.0, into="depot", at=0.0) + vh.Regimen.bolus(100.0, into="depot", at=24.0)
           + vh.Regimen.bolus(100.0, into="depot", at=55.0)
           + vh.Regimen.infusion(40.0, into="depot", duration=4.0, at=46.0))
    out = vh.simulate(oral, {**base, "F": F}, times=times, protocol=reg, occasions=STARTS, **TIGHT)
    for i in range(2):
        f = F[i]
        ref_reg = (vh.Regimen.bolus(100.0 * f[0], into="depot", at=0.0)
                   + vh.Regimen.bolus(100.0 * f[1], into="depot", at=24.0)
                   + vh.Regimen.bolus(100.0 * f[2], into="depot", at=55.0)
                   + vh.Regimen.infusion(20.0 * f[1], into="depot", duration=2.0, at=46.0)
                   + vh.Regimen.infusion(20.0 * f[2], into="depot", duration=2.0, at=48.0))
        ref = vh.simulate(oral, {k: v[i] for k, v in base.items()} | {"F": 1.0}, times=times, protocol=ref_reg, **TIGHT)
        for name in ("depot", "central", "Cc"):
            np.testing.assert_allclose(out[name].values[i], ref[name].values, rtol=1e-7, atol=1e-10)


def test_observables_at_boundary_are_left_limits(iv):
    V = np.array([[50.0, 20.0, 80.0]])
    times = np.array([0.0, 23.5, 24.0, 24.5, 48.0, 50.0])
    out = vh.simulate(iv, {"CL": 5.0, "V": V}, times=times, protocol=regimen(), occasions=STARTS, **TIGHT)
    central = piecewise_central(times, [5.0] * 3, V[0])
    expected_V = np.array([50.0, 50.0, 50.0, 20.0, 20.0, 80.0])
    assert out["central"].dims == ("time",)  # one patient (a (1, K) array describes one patient)
    np.testing.assert_allclose(out["central"].values, central, rtol=1e-8)
    np.testing.assert_allclose(out["Cc"].values, central / expected_V, rtol=1e-8)
    # the dose at the boundary 24 is not in the output at 24 (left limit) but is 0.5 h later
    assert out["central"].values[2] < out["central"].values[1] < out["central"].values[3]


@pytest.fixture(scope="module")
def batch300(iv, pop):
    draw = pop.sample(n=300, seed=3)
    times = np.arange(0.0, 73.0, 2.0)
    out = vh.simulate(iv, draw, times=times, protocol=regimen(), occasions=STARTS)
    return draw, times, out


def test_batch_equals_single_patient_runs(iv, batch300):
    draw, times, out = batch300
    assert (out["status"].values == 0).all()
    for i in (0, 1, 77, 150, 151, 299):
        single = vh.simulate(iv, draw.isel(patient=[i]), times=times, protocol=regimen(), occasions=STARTS)
        for name in ("central", "Cc"):
            np.testing.assert_allclose(out[name].values[i], single[name].values.reshape(-1), rtol=1e-12, atol=0)


def test_deterministic_across_batch_sizes(iv, pop, batch300):
    _, times, out = batch300
    for n in (1, 7):
        small = vh.simulate(iv, pop.sample(n=n, seed=3), times=times, protocol=regimen(), occasions=STARTS)
        for name in ("central", "Cc"):
            np.testing.assert_array_equal(small[name].values.reshape(n, -1), out[name].values[:n])


def test_per_patient_occasion_starts(iv):
    CL = np.array([[5.0, 10.0], [5.0, 10.0]])
    starts = np.array([[0.0, 20.0], [0.0, 30.0]])
    times = np.arange(0.0, 49.0)
    out = vh.simulate(iv, {"CL": CL, "V": 50.0}, times=times, protocol=regimen(count=4), occasions=starts, **TIGHT)
    for i in range(2):
        ref = piecewise_central(times, CL[i], [50.0, 50.0], starts=list(starts[i]), doses=[0.0, 12.0, 24.0, 36.0])
        np.testing.assert_allclose(out["central"].values[i], ref, rtol=1e-7, atol=1e-12)
    assert out["occasion_start"].dims == ("patient", "occasion")


def test_without_occasions_a_draw_gives_occasion_zero(iv, pop):
    # and a model without IOV runs the unchanged path: bitwise the occasion-0 draw
    draw = pop.sample(n=5, seed=4)
    times = np.arange(0.0, 49.0)
    a = vh.simulate(iv, draw, times=times, protocol=regimen())
    b = vh.simulate(iv, pop.at_occasion(draw, 0), times=times, protocol=regimen(), occasions=None)
    np.testing.assert_array_equal(a["central"].values, b["central"].values)
    np.testing.assert_array_equal(a["Cc"].values, b["Cc"].values)
    assert "occasion_start" not in a.coords and "occasion_parameters" not in a.attrs
    assert a.attrs["solver"] == "exact"  # the exact linear path still applies without occasions


def test_errors(iv, oral, pop):
    draw = pop.sample(n=3, seed=5)
    times = np.arange(0.0, 49.0)

    def run(params=draw, protocol=regimen(count=4), **kw):
        return vh.simulate(iv, params, times=times, protocol=protocol, **kw)

    with pytest.raises(InputError, match="occasions .* strictly increasing"):
        run(occasions=[0.0, 24.0, 24.0])
    with pytest.raises(InputError, match="occasions: got 2 start times .* 3 occasions"):
        run(occasions=[0.0, 24.0])
    with pytest.raises(InputError, match="no per-occasion parameters"):
        run(pop.at_occasion(draw, 1).drop_vars(["CL_by_occasion", "V_by_occasion"]), occasions=STARTS)
    with pytest.raises(InputError, match="no parameter in params varies by occasion"):
        run({"CL": [5.0, 6.0]}, occasions=STARTS)
    with pytest.raises(InputError, match="solver 'exact' does not apply with occasions"):
        run(occasions=STARTS, solver="exact")
    with pytest.raises(InputError, match="outside the allowed range"):
        run({"CL": [[5.0, -1.0, 2.0]]}, occasions=STARTS)
    with pytest.raises(InputError, match="Simulator: occasions"):
        vh.Simulator(iv, draw, times=times, occasions=STARTS)
    with pytest.raises(InputError, match="'ALAG' is a dose lag and varies by occasion"):
        vh.simulate(oral, {"ALAG": [[0.0, 1.0, 2.0]]}, times=times, occasions=STARTS)
    with pytest.raises(InputError, match="steady-state doses"):
        run(occasions=STARTS, protocol=vh.Regimen.repeated(100.0, 12.0, 4, into="central", steady_state=True))
