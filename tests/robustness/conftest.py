"""Fixtures of the robustness suite: the broken corpus run through the stages once per session."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pytest

from tests.robustness.corpus import MIN_FRAMES, build_corpus
from tests.robustness.media import write_params

# The stages in pipeline order, as `python -m stages.<name> <args>` would run them.
CHAIN = [("ingest", []), ("track", ["01"]), ("kpd", ["face", "01"]), ("kpd", ["eyes", "01"]),
         ("facs", ["au", "01"]), ("facs", ["pose", "01"]), ("facs", ["gaze_stats", "01"]),
         ("audio", ["lms", "01"]),
         # actor 02 keeps no clip at all (its only file is the mislabelled one)
         ("track", ["02"]), ("kpd", ["face", "02"]), ("facs", ["au", "02"]), ("audio", ["lms", "02"])]


def run_stage(name: str, args: list[str]) -> int:
    """Run ``python -m stages.<name> <args>`` in-process (in the current folder)."""
    return importlib.import_module(f"stages.{name}").main(args)


@pytest.fixture(scope="package")
def pipeline(tmp_path_factory) -> Path:
    """A working folder where the broken corpus went through ingest, track, kpd, facs and audio."""
    work = tmp_path_factory.mktemp("broken")
    build_corpus(work / "corpus")
    write_params(work, {"dataset.root": "corpus", "dataset.actors": ["01", "02"],
                        "dataset.min_frames": MIN_FRAMES, "compute.jobs": 1})
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        for name, args in CHAIN:
            assert run_stage(name, args) == 0, (name, args)
    return work


@pytest.fixture
def pipeline_copy(pipeline, tmp_path, monkeypatch) -> Path:
    """A private copy of :func:`pipeline`'s folder as the working folder (for tests that edit it)."""
    work = tmp_path / "work"
    shutil.copytree(pipeline, work)
    monkeypatch.chdir(work)
    return work
