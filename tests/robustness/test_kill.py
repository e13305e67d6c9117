"""Stages killed outright (SIGKILL) in the middle of their work, then run again.

A kill cannot be caught, so nothing of the stage's own clean-up runs. The documented outcome:
no partial or corrupt file ever sits under a final output name (outputs are written under
temporary names ``.<name>.tmp-<pid>...`` and renamed when complete), the next run completes, and
it removes the temporary files the killed run left behind (``features.core.atomic.remove_stale_temps``),
so they neither pile up nor change the hash of a folder a DVC stage depends on (training depends
on the whole of ``data/features``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import pytest

from features.core.store import list_ids, read_record
from features.tracks.openface import read_openface
from tests.robustness.conftest import run_stage
from tests.robustness.media import face_clip, hidden_files, stage_cmd, stage_env, write_params

pytestmark = pytest.mark.slow

IDS = ["01-01-01-01-01-01-01", "01-01-02-01-01-01-01", "01-01-03-01-01-01-01",
       "01-01-04-01-01-01-01"]
FRAMES = 100
CROPS = ("crops_eyes", "crops_mouth", "crops_face")


@pytest.fixture(scope="module")
def actor(tmp_path_factory) -> Path:
    """Four face clips of actor 01, ingested and tracked once (the complete first run)."""
    work = tmp_path_factory.mktemp("killed")
    for k, vid in enumerate(IDS):
        face_clip(work / "corpus" / "Actor_01" / f"{vid}.mp4", n_frames=FRAMES, seed=k)
    write_params(work, {"dataset.root": "corpus", "dataset.actors": ["01"], "compute.jobs": 1,
                        "crops.codec": "raw"})   # raw: a long HDF5 write to kill (issue 14 made jpeg the default)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        assert run_stage("ingest", []) == 0
        assert run_stage("track", ["01"]) == 0
    return work


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _kill_when(cmd: list[str], ready: Callable[[int], bool], log: Path, env: dict | None = None,
               timeout: float = 120.0) -> tuple[int, float]:
    """Start ``cmd``; SIGKILL it as soon as ``ready(pid)`` holds. Returns (pid, seconds it ran).

    Fails if the process ended on its own first (the kill came too late to test anything).
    Its output goes to the file ``log`` (a pipe nobody reads could fill up and stall it).
    """
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env or stage_env(), stdout=out, stderr=subprocess.STDOUT)
    t0 = time.perf_counter()
    try:
        while not ready(proc.pid):
            if proc.poll() is not None:
                pytest.fail(f"{' '.join(cmd)} ended ({proc.returncode}) before it could be killed:"
                            f"\n{log.read_text()[-2000:]}")
            if time.perf_counter() - t0 > timeout:
                pytest.fail(f"{' '.join(cmd)}: no sign of output after {timeout} s")
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
        ran = time.perf_counter() - t0
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return proc.pid, ran


def test_track_killed_while_writing_csvs(actor, monkeypatch, tmp_path):
    monkeypatch.chdir(actor)
    final = Path("data/openface/Actor_01")
    before = _snapshot(final)
    # each clip: its CSV and the embedded tracker's companion report
    assert sorted(before) == sorted([f"{v}.csv" for v in IDS] + [f"{v}.report.json" for v in IDS])

    # kill once the run has begun writing CSVs into its temporary folder
    pid, ran = _kill_when(stage_cmd("track", "01"),
                          lambda pid: any(Path(f"data/openface/.Actor_01.tmp-{pid}").glob("*.csv")),
                          tmp_path / "track.log")
    stale = Path(f"data/openface/.Actor_01.tmp-{pid}")
    assert hidden_files(Path("data")) == [stale]
    assert 1 <= len(list(stale.glob("*.csv"))) <= len(IDS)
    assert _snapshot(final) == before               # the final folder was never touched
    for name in before:
        if name.endswith(".csv"):
            assert read_openface(final / name).n == FRAMES

    # the next run completes, gives the same bytes, and removes the killed run's folder
    assert run_stage("track", ["01"]) == 0
    assert _snapshot(final) == before
    assert hidden_files(Path("data")) == []
    print(f"track killed after {ran:.2f} s with {len(before)} clips")


def test_crops_killed_while_writing_hdf5(actor, monkeypatch, tmp_path):
    monkeypatch.chdir(actor)
    # the stage's per-clip .npy scratch folder goes to the system temporary folder: point it
    # at a folder of this test to see what a kill leaves there
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {**stage_env(), "TMPDIR": str(scratch)}

    def writing(pid: int) -> bool:
        for c in CROPS:
            for p in Path("data/features", c).glob(f".Actor_01.h5.tmp-{pid}-*.h5"):
                try:
                    if p.stat().st_size > 0:
                        return True
                except FileNotFoundError:       # renamed into place between glob and stat
                    continue
        return False

    pid, ran = _kill_when(stage_cmd("crops", "01"), writing, tmp_path / "crops.log", env)
    temps = [p for p in hidden_files(Path("data")) if p.is_file()]
    assert temps and all(p.name.startswith(f".Actor_01.h5.tmp-{pid}-") for p in temps)
    # whatever sits under a final name is a complete file (crops files are written one by one)
    for c in CROPS:
        path = Path("data/features", c, "Actor_01.h5")
        if path.exists():
            assert list_ids(path) == IDS
    leftover = sum(f.stat().st_size for f in scratch.rglob("*") if f.is_file())
    assert leftover > 0                              # the killed run's .npy patches
    assert sorted(scratch.iterdir()) == sorted(scratch.glob(f".crops-Actor_01.tmp-{pid}-*"))

    # the next run completes and removes the killed run's temporary files
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    assert run_stage("crops", ["01"]) == 0
    for c in CROPS:
        path = Path("data/features", c, "Actor_01.h5")
        assert list_ids(path) == IDS, c
        with h5py.File(path) as h5:
            assert h5[IDS[0]].shape[0] == 88
    assert read_record(Path("data/features/crops_face/Actor_01.h5"), IDS[2]).valid.all()
    assert hidden_files(Path("data")) == []
    assert list(scratch.iterdir()) == []            # the killed run's scratch folder, too
    print(f"crops killed after {ran:.2f} s; {len(temps)} temporary h5 left beside the outputs "
          f"and {leftover / 1e6:.0f} MB of .npy scratch in TMPDIR (both removed by the re-run)")
