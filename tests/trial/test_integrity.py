"""Trial stores never lose what is not theirs: overwrite replaces only a vhtwin store, and only once the new one is
complete; a store appears at its path only once its metadata is complete."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vhtwin as vh
from vhtwin.io import open_zarr, write_zarr
from vhtwin.trial import runner
from vhtwin.trial import store as st

from .helpers import assert_same_store, store_files
from .trial_fixture import make_trial

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SMALL = dict(n_per_arm=100)
BATCH = 50  # 2 batches per arm, 4 in all


def small(**overrides) -> vh.Trial:
    return make_trial(**{**SMALL, **overrides})


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """Uninterrupted runs of two specs (seeds 1 and 2), each into a fresh path."""
    root = tmp_path_factory.mktemp("refs")
    for seed in (1, 2):
        small(seed=seed).run(root / f"seed{seed}.zarr", batch_size=BATCH, progress=False)
    return root


def tree(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (or the file itself) by relative path, with its bytes."""
    if path.is_file():
        return {"": path.read_bytes()}
    return {str(f.relative_to(path)): f.read_bytes() for f in sorted(path.rglob("*")) if f.is_file()}


def hidden_siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}."))


def foreign_things(root: Path) -> dict[str, Path]:
    """What a user may have at a store's path: a results folder, a file, an empty folder, another Zarr store."""
    folder = root / "results"
    (folder / "figures").mkdir(parents=True)
    (folder / "notes.txt").write_text("three months of work")
    (folder / "figures" / "fig1.png").write_bytes(b"\x89PNG not really")
    (root / "data.csv").write_text("ID,TIME\n1,0\n")
    (root / "empty").mkdir()
    write_zarr(vh.simulate(vh.load_model("pharmacokinetics/one_compartment_iv"), times=[1.0]), root / "other.zarr")
    return {"a results folder": folder, "a file": root / "data.csv", "an empty folder": root / "empty",
            "a Zarr store vhtwin did not write as a trial": root / "other.zarr"}


def test_overwrite_leaves_what_is_not_a_trial_store_untouched(tmp_path):
    things = foreign_things(tmp_path)
    before = {k: tree(p) for k, p in things.items()}
    for what, path in things.items():
        with pytest.raises(vh.InputError, match="is not a vhtwin trial store; overwrite replaces only a store vhtwin wrote"):
            small().run(path, batch_size=BATCH, overwrite=True, progress=False)
        assert tree(path) == before[what], what
        assert hidden_siblings(path) == [], what
    # and resume finds nothing to resume there
    with pytest.raises(vh.InputError, match="not a vhtwin trial store, so there is nothing to resume"):
        small().run(things["an empty folder"], batch_size=BATCH, resume=True, progress=False)


def test_overwrite_through_the_command_line_leaves_a_folder_untouched(tmp_path):
    folder = foreign_things(tmp_path)["a results folder"]
    before = tree(folder)
    done = subprocess.run(
        [sys.executable, "-m", "vhtwin", "run", "--out", str(folder), "--overwrite", "--n-per-arm", "10", "--quiet"],
        cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=300,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "is not a vhtwin trial store" in lines[0]
    assert tree(folder) == before


def test_a_failed_overwrite_keeps_the_old_store_and_a_later_one_replaces_it(references, tmp_path):
    path = tmp_path / "t.zarr"
    shutil.copytree(references / "seed1.zarr", path)
    before = tree(path)
    failing = small(seed=2, max_failure_fraction=0.0, max_steps=3)  # every patient fails: the run stops
    with pytest.raises(vh.TrialError):
        failing.run(path, batch_size=BATCH, overwrite=True, progress=False)
    assert tree(path) == before  # the old store, as it was
    assert vh.open_trial(path).attrs["seed"] == "1"
    ds = small(seed=2).run(path, batch_size=BATCH, overwrite=True, progress=False)  # restarts the replacement
    assert ds.attrs["seed"] == "2" and ds.attrs["vhtwin_complete"] is True
    assert_same_store(path, references / "seed2.zarr")
    assert hidden_siblings(path) == []


def test_an_interrupted_overwrite_is_continued_by_resume(references, tmp_path, monkeypatch):
    path = tmp_path / "t.zarr"
    shutil.copytree(references / "seed1.zarr", path)
    before = tree(path)
    real = runner._run_local

    def interrupted(trial, target, todo, batch_size, finished, stop=None):
        real(trial, target, todo[:1], batch_size, finished, stop)
        raise KeyboardInterrupt  # stopped after one batch

    monkeypatch.setattr(runner, "_run_local", interrupted)
    with pytest.raises(KeyboardInterrupt):
        small(seed=2).run(path, batch_size=BATCH, overwrite=True, progress=False)
    monkeypatch.setattr(runner, "_run_local", real)
    assert tree(path) == before
    assert hidden_siblings(path) == [".t.zarr.replacement"]
    assert len(st.done_batches(st.replacement(path))) == 1
    ds = small(seed=2).run(path, batch_size=BATCH, resume=True, progress=False)
    assert ds.attrs["seed"] == "2"
    assert_same_store(path, references / "seed2.zarr")
    assert hidden_siblings(path) == []


def test_a_swap_cut_between_its_two_renames_is_completed(references, tmp_path):
    """Killed after the old store was renamed aside and before the new one took its place: the next run puts the
    new one in place and only then deletes the old one."""
    path = tmp_path / "t.zarr"
    shutil.copytree(references / "seed1.zarr", tmp_path / ".t.zarr.replaced-4242")
    shutil.copytree(references / "seed2.zarr", st.replacement(path))
    ds = small(seed=2).run(path, batch_size=BATCH, resume=True, progress=False)
    assert ds.attrs["seed"] == "2"
    assert_same_store(path, references / "seed2.zarr")
    assert hidden_siblings(path) == []


def test_a_store_appears_only_once_its_metadata_is_complete(tmp_path, monkeypatch):
    path = tmp_path / "t.zarr"
    real = st._write_json_atomic

    def fail_on_markers(target, doc):
        if target.parent.name == st.MARKERS:
            raise OSError("disk full")
        return real(target, doc)

    monkeypatch.setattr(st, "_write_json_atomic", fail_on_markers)
    with pytest.raises(OSError, match="disk full"):
        small().run(path, batch_size=BATCH, progress=False)
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_a_creation_killed_midway_is_swept_by_the_next(references, tmp_path):
    """A process killed while creating a store leaves only its hidden folder; the next creation removes it."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)
    path = tmp_path / "t.zarr"
    shutil.copytree(references / "seed1.zarr", tmp_path / f".t.zarr.creating-{dead}")
    ds = small().run(path, batch_size=BATCH, progress=False)
    assert ds.attrs["vhtwin_complete"] is True and hidden_siblings(path) == []
    assert_same_store(path, references / "seed1.zarr")


def test_only_trial_stores_are_recognised(references, tmp_path):
    things = foreign_things(tmp_path)
    assert st.is_trial_store(references / "seed1.zarr")
    assert not any(st.is_trial_store(p) for p in things.values())
    (tmp_path / "broken.zarr").mkdir()
    (tmp_path / "broken.zarr" / "zarr.json").write_text("{not json")
    assert not st.is_trial_store(tmp_path / "broken.zarr")
    with pytest.raises(vh.InputError, match="vhtwin deletes only the stores it wrote"):
        st.remove(things["a results folder"])
    assert np.all([p.exists() for p in things.values()])
    assert store_files(references / "seed1.zarr")  # the references are intact


def test_write_zarr_overwrites_only_a_zarr_store_and_swaps_the_new_one_in(tmp_path):
    things = foreign_things(tmp_path)
    ds = vh.simulate(vh.load_model("pharmacokinetics/one_compartment_iv"), {"CL": [1.0, 2.0]}, times=[1.0, 2.0])
    for what in ("a results folder", "a file", "an empty folder"):
        before = tree(things[what])
        with pytest.raises(vh.InputError, match="is not a Zarr store; overwrite replaces only a store"):
            write_zarr(ds, things[what], overwrite=True)
        assert tree(things[what]) == before and hidden_siblings(things[what]) == [], what
    store = things["a Zarr store vhtwin did not write as a trial"]
    write_zarr(ds, store, overwrite=True)
    assert open_zarr(store).sizes["patient"] == 2 and hidden_siblings(store) == []
    with pytest.raises(vh.InputError, match="holds Python objects"):  # refused before anything is written
        write_zarr(ds.assign(bad=("patient", np.array([object(), object()]))), store, overwrite=True)
    assert open_zarr(store).sizes["patient"] == 2 and hidden_siblings(store) == []


MODEL_FILE = '''
import pathlib
pathlib.Path({marker!r}).write_text("this model file ran")

import vhtwin as vh


class OneCompartmentIV(vh.Model):
    """One compartment, IV bolus, first-order elimination."""

    time_unit = "h"
    states = (vh.State("central", "mg", dosable=True),)
    parameters = (vh.Parameter("CL", 2.0, "L h-1", positive=True), vh.Parameter("V", 20.0, "L", positive=True))
    observed = (vh.Observable("Cc", "mg L-1"),)

    def rhs(self, t, y, p):
        return {{"central": -p.CL / p.V * y.central}}

    def observables(self, t, y, p):
        return {{"Cc": y.central / p.V}}
'''


def test_plotting_a_store_never_runs_the_model_file_its_spec_names(tmp_path):
    marker = tmp_path / "marker.txt"
    model_file = tmp_path / "planted.py"
    model_file.write_text(MODEL_FILE.format(marker=str(marker)))
    m = vh.load_model(str(model_file))  # the user runs their own file: that is when it may run
    trial = vh.Trial(model=m, population=vh.Population(m, omega={"CL": 0.1}), n_per_arm=20,
                     arms={"100 mg": vh.Regimen.bolus(100.0, into="central")}, times=np.arange(0.0, 25.0),
                     outputs=["Cc"], seed=1)
    store = tmp_path / "t.zarr"
    trial.run(store, batch_size=20, progress=False)
    assert '"path"' in vh.open_trial(store).attrs["vhtwin_spec"]  # the spec names the file
    marker.unlink()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for command in (["plot", str(store), "--out", str(tmp_path / "figures")], ["info", str(store)]):
        done = subprocess.run([sys.executable, "-m", "vhtwin", *command], cwd=tmp_path, capture_output=True, text=True,
                              env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        assert not marker.exists(), f"vhtwin {command[0]} ran the model file"
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["t_Cc_bands.png", "t_Cc_nca.png"]


@pytest.mark.parametrize("column, kind", [
    ("NAME", "a name"), ("Last name", "a name"), ("MRN", "a record or registry number"),
    ("date_of_birth", "a date of birth"), ("DOB", "a date of birth"), ("Zip-Code", "an address"),
    ("email", "contact details"), ("VISITDATE", "a calendar date"), ("Comments", "free text"),
])
def test_identifier_columns_are_refused_naming_the_column(column, kind):
    from vhtwin.identifiers import identifier_kind

    assert identifier_kind(column) == kind
    m = vh.load_model("pharmacokinetics/one_compartment_oral")
    table = {"WT": np.array([70.0, 80.0]), column: np.array([123456.0, 234567.0])}
    with pytest.raises(vh.InputError, match=rf"covariate table: column '{column}' looks like {kind}, a direct identifier"):
        vh.Population(m, covariates=table)
    frame = {"ID": [1, 1], "TIME": [0.0, 1.0], "AMT": [100.0, 0.0], "EVID": [1, 0], "DV": [".", 2.0], column: [1, 1]}
    import pandas as pd

    with pytest.raises(vh.InputError, match=rf"dataset: column '{column}' looks like {kind}.*allow_identifiers=True"):
        vh.read_dataset(pd.DataFrame(frame), m)
    measurements = {"time": [1.0, 2.0], "value": [3.0, 2.0], "unit": "mg/L", column: ["x", "y"]}
    with pytest.raises(vh.InputError, match=rf"calibrate data: column '{column}' looks like {kind}"):
        vh.calibrate(m, measurements, prior=vh.Population(m, residual=vh.Residual(additive=0.5)),
                     protocol=vh.Regimen.bolus(100.0, into="depot"))


def test_identifiers_are_kept_only_on_an_explicit_opt_in(tmp_path):
    import pandas as pd

    m = vh.load_model("pharmacokinetics/one_compartment_oral")
    from vhtwin.identifiers import identifier_kind

    assert all(identifier_kind(c) is None for c in ("ID", "WT", "AGE", "SEX", "CRCL", "DOSE", "SITE"))
    frame = pd.DataFrame({"ID": [1, 1], "TIME": [0.0, 1.0], "AMT": [100.0, 0.0], "EVID": [1, 0], "CMT": [1, 2], "DV": [".", 2.0],
                          "MRN": [998877, 998877]})
    ds = vh.read_dataset(frame, m, allow_identifiers=True)
    assert ds.covariate_names == ("MRN",)
    table = vh.CovariateTable({"WT": np.array([70.0, 80.0]), "MRN": np.array([1.0, 2.0])}, allow_identifiers=True)
    trial = vh.Trial(model=m, population=vh.Population(m, omega={"CL": 0.1}, covariates=table), n_per_arm=2,
                     arms={"a": vh.Regimen.bolus(100.0, into="depot")}, times=np.arange(0.0, 4.0), outputs=["Cc"], seed=1)
    again = vh.Trial.from_dict(trial.to_dict())  # the opt-in is part of the spec
    assert again.population.covariates.allow_identifiers is True


ORAL = "pharmacokinetics/one_compartment_oral"


@pytest.mark.parametrize("call, match", [
    (lambda m: vh.Regimen.repeated(100.0, 12.0, 10**9, into="depot"),
     r"Regimen.repeated: count 1,000,000,000 is more than vhtwin runs at once \(at most 100,000\)"),
    (lambda m: vh.Trial(model=m, population=vh.Population(m), arms={"a": vh.Regimen.bolus(1.0, into="depot")},
                        n_per_arm=10**12, times=[1.0], outputs=["Cc"], seed=1),
     r"Trial n_per_arm 1,000,000,000,000 is more than vhtwin runs at once \(at most 1,000,000,000\)"),
    (lambda m: vh.Population(m).sample(n=10**12, seed=1), r"Population.sample: n 1,000,000,000,000 is more than"),
    (lambda m: vh.Population(m).sample(n=5 * 10**8, seed=1), r"Population.sample of 500,000,000 patients needs about .* of memory"),
    (lambda m: vh.Population(m).sample(n=10, seed=1, first_patient=2**63 - 5),
     r"Population.sample: first_patient 9,223,372,036,854,775,803 \+ n 10 passes the last patient id"),
    (lambda m: vh.simulate(m, {}, times=np.arange(2e7)), r"times: output times per patient 20,000,000 is more than"),
    (lambda m: vh.simulate(m, {"CL": np.full(10**6, 2.0)}, times=np.arange(10**6)),
     r"simulating 1,000,000 patients x 1,000,000 output times needs about .* TB of memory"),
    (lambda m: vh.simulate(m, {"CL": 1 + 2j}, times=[1.0]), r"parameter 'CL': values must be real numbers"),
    (lambda m: vh.simulate(m, {}, times=[1.0], protocol="bolus"), r"protocol must be a vh.Regimen .* got str 'bolus'"),
    (lambda m: vh.calibrate(m, {"time": [1.0], "value": [2.0], "unit": "mg/L"}, prior=vh.Population(m, residual=vh.Residual(additive=0.5))),
     r"calibrate: protocol is required: .* or protocol=vh.Regimen\(\) if none were given"),
])
def test_work_sized_by_a_typing_error_is_refused_before_any_compute(call, match):
    with pytest.raises(vh.InputError, match=match):
        call(vh.load_model(ORAL))


@pytest.mark.parametrize("args, says", [
    (["run", "--n-per-arm", "1000000000000"], "is more than vhtwin runs at once"),
    (["run", "--batch-size", "0"], "batch"),
])
def test_the_command_line_refuses_bad_input_in_one_line(tmp_path, args, says):
    done = subprocess.run([sys.executable, "-m", "vhtwin", *args, "--out", str(tmp_path / "t.zarr"), "--quiet"],
                          cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                          timeout=300)
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(lines) == 1 and says in lines[0], lines
    assert not (tmp_path / "t.zarr").exists()


def test_patients_drawn_outside_a_parameters_range_are_flagged_and_the_trial_goes_on(tmp_path):
    """A normal draw of a positive clearance falls below zero for some patients, in any batch: each is flagged with
    status invalid_parameters at its own global id, its draw kept and its outputs NaN; the others are solved."""
    m = vh.load_model(ORAL)
    pop = vh.Population(m, typical={"ka": 1.5, "CL": 2.8, "V": 31.5}, omega={"CL": 4.0}, distribution={"CL": "normal"})
    trial = vh.Trial(model=m, population=pop, n_per_arm=200, times=np.arange(0.0, 24.0), outputs=["Cc"], seed=1,
                     independent_arms=True, arms={"a": vh.Regimen.bolus(100.0, into="depot"),
                                                  "b": vh.Regimen.bolus(200.0, into="depot")})
    ds = trial.run(tmp_path / "t.zarr", batch_size=50, progress=False)
    drawn = pop.sample(n=400, seed=1)["CL"].values.reshape(2, 200)  # arm b draws patients 200..399
    expected = drawn <= 0
    assert 10 < expected.sum() < 200 and expected[:, 50:].any()  # some, in later batches and both arms
    status = ds["status"].values
    np.testing.assert_array_equal(status == int(vh.Status.INVALID_PARAMETERS), expected)
    assert (status[~expected] == 0).all()
    np.testing.assert_array_equal(ds["CL"].values, drawn)  # the draw is stored as drawn
    assert np.isnan(ds["Cc"].values[expected]).all() and np.isfinite(ds["Cc"].values[~expected]).all()
    counts = json.loads(ds.attrs["vhtwin_status_counts"])
    assert counts["a"]["invalid_parameters"] == expected[0].sum() and ds.attrs["vhtwin_complete"] is True
    # The solved patients are those of a run of the valid draws alone.
    again = vh.simulate(m, pop.sample(n=200, seed=1).isel(patient=np.flatnonzero(~expected[0])), times=np.arange(0.0, 24.0),
                        protocol=vh.Regimen.bolus(100.0, into="depot"), outputs=["Cc"])
    np.testing.assert_allclose(ds["Cc"].values[0][~expected[0]], again["Cc"].values, rtol=1e-12)


@pytest.mark.parametrize("conc, says", [
    (["1.5", "2.0", "BLQ"], r"conc: row 2 holds 'BLQ', which is not a number"),
    ([1.5, np.inf, 2.0], r"conc: value 1 is inf; concentrations must be finite"),
])
def test_nca_refuses_text_and_infinity_instead_of_making_them_missing(conc, says):
    import pandas as pd

    with pytest.raises(vh.InputError, match=says):
        vh.nca(pd.DataFrame({"id": [1, 1, 1], "time": [0.0, 1.0, 2.0], "conc": conc}))
    blank = pd.DataFrame({"id": [1, 1, 1], "time": [0.0, 1.0, 2.0], "conc": ["1.5", "", "2.0"]})
    assert float(vh.nca(blank)["cmax"].values[0]) == 2.0  # an empty cell is a missing sample


@pytest.mark.parametrize("args, says", [
    (["calibrate", "--model", ORAL, "--data", "empty.csv", "--prior", "prior.toml"], "--data 'empty.csv' is empty"),
    (["calibrate", "--model", ORAL, "--data", "header.csv", "--prior", "prior.toml"], "has a header but no rows"),
    (["verify", "nowhere.zarr"], "trial store 'nowhere.zarr' does not exist"),
    (["info", "data.csv"], "is not a Zarr v3 store"),
    (["export", "nowhere.zarr"], "does not exist"),
    (["run", "--scheduler", "tcp://192.0.2.1:8786"], "--scheduler needs --executor dask"),
    (["run", "missing.toml"], "trial spec 'missing.toml' does not exist"),
    (["calibrate", "--model", ORAL, "--data", "named.csv", "--prior", "prior.toml"],
     "--data 'named.csv': column 'Patient Name' looks like a name, a direct identifier"),
    (["plot", "nowhere.zarr"], "does not exist"),
])
def test_each_bad_input_from_the_command_line_is_one_line_and_status_2(tmp_path, args, says):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("time,value\n")
    (tmp_path / "data.csv").write_text("ID,TIME\n1,0\n")
    (tmp_path / "prior.toml").write_text("[population]\n")
    (tmp_path / "named.csv").write_text("time,value,Patient Name\n1,2.5,Jane Roe\n")
    done = subprocess.run([sys.executable, "-m", "vhtwin", *args], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=300)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1 and lines[0].startswith("vhtwin: error: ") and says in lines[0], lines
