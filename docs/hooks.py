"""MkDocs hook: the notebooks live in ``notebooks/`` (jupytext percent scripts, executed by the tests), not in
``docs/``; this adds them to the site as ``notebooks/NAME.py`` so that mkdocs-jupyter renders them where they are,
without copying them into the documentation folder."""

from __future__ import annotations

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@event_priority(100)  # before mkdocs-jupyter's on_files, which wraps the notebooks it includes
def on_files(files, config):
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py")):
        files.append(File(f"notebooks/{path.name}", src_dir=str(NOTEBOOKS.parent), dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    return files
