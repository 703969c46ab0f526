"""The documentation site builds, strictly, and holds what it promises; the README stays a five-minute read.

The build is the real one (``mkdocs build --strict``, as ``make docs`` runs it): a warning -- a broken link, a
docstring whose parameters do not match its signature, a page missing from the navigation's files -- fails it.
"""

from __future__ import annotations

import html
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def nav_pages() -> list[str]:
    """Every page the navigation of mkdocs.yml names (its files, relative to docs/)."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())

    def walk(item):
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            for value in item.values():
                yield from walk(value)
        elif isinstance(item, list):
            for value in item:
                yield from walk(value)

    return list(walk(config["nav"]))


def built_path(site: Path, page: str) -> Path:
    """Where mkdocs writes a page with directory URLs: docs/a/b.md -> site/a/b/index.html."""
    stem = page.rsplit(".", 1)[0]
    if stem == "index" or stem.endswith("/index"):
        return site / f"{stem}.html"
    return site / stem / "index.html"


def text_of(path: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(ROOT / "mkdocs.yml"), "--site-dir", str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=900, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-5000:]
    return out


def test_the_readme_is_a_five_minute_read():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) < 12 * 1024
    for heading in ("## Two commands", "## Quick start", "## Where to go next"):
        assert heading in readme
    for link in re.findall(r"\]\(((?:docs|notebooks)/[^)#]*)", readme):  # the README's links resolve in the checkout
        assert (ROOT / link).exists(), link


def test_every_page_of_docs_is_in_the_navigation_and_every_notebook_too():
    nav = set(nav_pages())
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert pages <= nav, f"pages missing from the navigation of mkdocs.yml: {sorted(pages - nav)}"
    notebooks = {f"notebooks/{p.name}" for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.py")}
    assert notebooks and notebooks <= nav, f"notebooks missing from the navigation: {sorted(notebooks - nav)}"


@pytest.mark.slow
def test_every_page_of_the_navigation_is_built(site):
    for page in nav_pages():
        path = built_path(site, page)
        assert path.is_file(), f"{page} was not built ({path.relative_to(site)})"
        assert "vhtwin" in path.read_text()


@pytest.mark.slow
def test_the_api_reference_holds_the_docstrings(site):
    from vhtwin.calibration import calibrate
    from vhtwin.simulate import simulate
    from vhtwin.trial import Trial

    for obj, page in ((simulate, "api/index.md"), (calibrate, "api/calibration.md"), (Trial, "api/trial.md")):
        summary = inspect.getdoc(obj).split("\n\n")[0].replace("\n", " ")
        built = " ".join(text_of(built_path(site, page)).split())
        assert summary in built, f"{obj.__name__}'s docstring is not on {page}"
    parameters = text_of(built_path(site, "api/index.md"))
    assert "Parameters" in parameters and "protocol" in parameters


@pytest.mark.slow
def test_the_api_reference_shows_cross_references_as_names_not_markup(site):
    pages = [p for p in nav_pages() if p.startswith("api/")]
    shown = {p: text_of(built_path(site, p)) for p in pages}
    assert any("vhtwin.simulate" in text for text in shown.values())
    for page, text in shown.items():
        assert not re.search(r":(mod|func|class|meth|data|attr):", text), f"{page} shows a docstring role's markup"


@pytest.mark.slow
def test_the_notebooks_are_rendered_with_their_text_and_code(site):
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        source = notebook.read_text()
        title = re.search(r"^# # (.+)$", source, re.M).group(1)
        built = text_of(built_path(site, f"notebooks/{notebook.name}"))
        assert " ".join(title.split()) in " ".join(built.split()), f"{notebook.name}: its title is not on its page"
        assert "import vhtwin" in built, f"{notebook.name}: its code is not on its page"
