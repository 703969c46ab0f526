"""Every code block of the README and of the documentation site (``docs/``) runs as written.

* ``python`` blocks: the blocks of one page run in order in one namespace, as a reader pastes them into one session,
  in a scratch directory holding a copy of ``examples/`` (the pages read ``examples/...`` as from the repository
  root and write files such as ``cohort.zarr``).
* Shell blocks (``bash``, ``sh``, ``console``): each ``make X`` must be a target of the Makefile; cheap ``vhtwin``
  commands are run; a costly one must use only options its subcommand declares and name a test that runs it
  (``COVERED``); a benchmark command must name a script that exists and declares every option used.
* ``text`` blocks and blocks without a language are output, not code.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)
SHELL = {"bash", "sh", "console", "shell"}

# Pages whose examples take more than ~10 s on 2 cores (twins and gradients compile for a minute; trials, steady
# states, tissue): left out of `make test-fast`, still run by `make test`. The pages of one process share compiled
# programs, so a page that follows one with the same model and buckets (compile-once.md after README.md) is quick.
SLOW = {"docs/getting-started/clinician.md", "docs/guides/twins.md", "docs/guides/solvers.md",
        "docs/guides/dosing.md", "docs/getting-started/trial-team.md", "docs/guides/trials.md",
        "docs/guides/heart.md", "docs/guides/estimation.md",
        "docs/guides/cardiac-safety.md"}

# vhtwin commands run as written (seconds each).
CHEAP = {("--help",), ("models",), ("schema", "trial")}

# Costly commands and the tests that run them (the test must exist: checked below).
COVERED = {
    "vhtwin run": "tests/cli/test_cli.py::test_run_a_toml_spec_and_report_its_errors_by_key",
    "vhtwin run examples/paced_cells.toml": "tests/trial/test_toml_spec.py::test_paced_cells_example",
    "vhtwin run examples/cipa_exposure_trial.toml": "tests/cipa/test_exposure.py::test_the_exposure_example",
    "vhtwin info": "tests/cli/test_cli.py::test_info_prints_spec_progress_failures_and_provenance",
    "vhtwin verify": "tests/trial/test_damage.py::test_verify_reports_complete_incomplete_and_damaged_with_exit_codes",
    "vhtwin export": "tests/trial/test_export.py::test_the_command_line_exports_and_keeps_an_existing_file",
    "vhtwin plot": "tests/cli/test_cli.py::test_plot_writes_svg_with_observed_data",
    "vhtwin calibrate": "tests/cli/test_calibrate.py::test_calibrate_prints_the_twins_with_intervals_and_draws_their_forecasts",
    "vhtwin estimate": "tests/cli/test_estimate.py::test_writes_a_checked_store_table_and_figures",
    "vhtwin import": "tests/exchange/test_module.py::test_the_written_module_computes_what_the_import_does",
    "openssl": "tests/trial/test_dask.py::test_the_documented_tls_setup_runs_a_trial",
    "vhtwin serve": "tests/clinic/test_browser.py::test_vhtwin_serve_answers_scripts_on_localhost",
    "curl -s -X POST": "tests/clinic/test_browser.py::test_vhtwin_serve_answers_scripts_on_localhost",
    # `make run` is the built-in trial of `vhtwin run` without a spec; `make test`, `test-fast`, `bench`, `docs` and
    # `venv` are checked to exist only (the suite, the benchmarks, the docs build: tests/test_docs.py).
}

# Installation steps of optional peers: not run by a test (they reach a package index).
INSTALL = ("pip install",)


def blocks(page: Path, languages: set[str]) -> list[str]:
    return [code for lang, code in FENCE.findall(page.read_text()) if lang in languages]


def name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def commands(page: Path) -> list[str]:
    """The commands of a page's shell blocks: continuation lines joined, comments and prompts dropped."""
    out = []
    for code in blocks(page, SHELL):
        for line in code.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip().removeprefix("$ ")
            if line and not line.startswith("#"):
                out.append(re.sub(r"^nice -n \d+ ", "", line))
    return out


PYTHON_PAGES = [p for p in PAGES if blocks(p, {"python"})]
SHELL_PAGES = [p for p in PAGES if commands(p)]


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    return tmp_path


def test_the_pages_have_examples_and_the_readme_a_quick_start():
    readme = blocks(ROOT / "README.md", {"python"})
    assert readme and "import vhtwin as vh" in readme[0]  # the quick start comes first
    assert len(PYTHON_PAGES) >= 10 and len(SHELL_PAGES) >= 5
    assert SLOW <= {name(p) for p in PYTHON_PAGES}, "SLOW names a page without Python examples"
    assert all(name(p) in {name(q) for q in PYTHON_PAGES} for p in ROOT.glob("docs/guides/*.md")
               if "```python" in p.read_text())


@pytest.mark.parametrize(
    "page", [pytest.param(p, marks=[pytest.mark.slow] if name(p) in SLOW else [], id=name(p)) for p in PYTHON_PAGES])
def test_the_python_examples_of_a_page_run_in_order(page, scratch):
    namespace: dict = {}
    for k, code in enumerate(blocks(page, {"python"})):
        exec(compile(code, f"{page}:python block {k}", "exec"), namespace)
    if "ds" in namespace and "cohort.zarr" in page.read_text():  # the Quick start
        assert namespace["ds"].sizes["patient"] == 1000
        assert (scratch / "cohort.zarr").is_dir() and (scratch / "Cc.png").is_file()
    if "write_dataset" in page.read_text():
        assert namespace["pred"].sizes["patient"] == 12 and (scratch / "theophylline_pred.csv").is_file()
    if "target_attainment(" in page.read_text():
        assert 0.0 <= float(namespace["pta"].max()) <= 1.0 and (scratch / "trial.zarr").is_dir()


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))


def subcommand_help(sub: str, capsys) -> str:
    from vhtwin.cli import main

    try:
        code = main([sub, "--help"])
    except SystemExit as stop:
        code = stop.code
    assert code in (0, None)
    return capsys.readouterr().out


def check_covered(command: str) -> None:
    key = max((k for k in COVERED if command.startswith(k)), key=len, default=None)
    assert key is not None, f"{command!r} is neither run by the docs test nor covered by a named test (COVERED)"
    path, _, test = COVERED[key].partition("::")
    assert (ROOT / path).is_file() and f"def {test}(" in (ROOT / path).read_text(), f"{COVERED[key]} does not exist"


def check_benchmark(words: list[str]) -> None:
    script = ROOT / words[1]
    assert script.is_file() and script.parent.name == "benchmarks", f"{words[1]} is not a benchmark script"
    source = script.read_text()
    for flag in (w.split("=")[0] for w in words[2:] if w.startswith("--")):
        assert f'"{flag}"' in source, f"{words[1]} declares no option {flag}"


@pytest.mark.parametrize("page", SHELL_PAGES, ids=name)
def test_the_shell_commands_of_a_page_exist_run_or_are_covered(page, capsys):
    targets = makefile_targets()
    for command in commands(page):
        words = shlex.split(command.replace("[", " ").replace("]", " ").replace("|", " "))
        if words[0] == "make":
            assert set(words[1:]) <= targets, f"{command!r}: no such Makefile target"
        elif words[0] == "vhtwin" and tuple(words[1:]) in CHEAP:
            done = subprocess.run([sys.executable, "-m", "vhtwin", *words[1:]], capture_output=True, text=True,
                                  cwd=ROOT, timeout=300)
            assert done.returncode == 0 and done.stdout.strip(), done.stderr
        elif words[0] == "vhtwin":
            check_covered(command)
            declared = subcommand_help(words[1], capsys)
            for flag in (w.split("=")[0] for w in words[2:] if w.startswith("--")):
                assert flag in declared, f"{command!r}: vhtwin {words[1]} has no option {flag}"
            for path in (w for w in words[2:] if w.startswith("examples/")):
                assert (ROOT / path).exists(), f"{command!r}: {path} does not exist"
        elif words[0] in {"python", ".venv/bin/python"}:
            check_benchmark(words)
        elif command.startswith(INSTALL):
            continue
        else:
            check_covered(command)
