"""features.core.atomic.remove_stale_temps: leftovers of dead writers go, a live writer's stay."""

from __future__ import annotations

import os
import subprocess
import sys

from features.core.atomic import atomic_path, remove_stale_temps, temp_prefix


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_only_temps_of_finished_processes_are_removed(tmp_path):
    final = tmp_path / "Actor_01.h5"
    dead = _dead_pid()
    stale_file = tmp_path / f".Actor_01.h5.tmp-{dead}-x1y2.h5"
    stale_dir = tmp_path / f".Actor_01.h5.tmp-{dead}"
    live = tmp_path / f".Actor_01.h5.tmp-{os.getpid()}-abcd.h5"
    other = tmp_path / f".Actor_01.h5x.tmp-{dead}-abcd.h5"       # another output's temp
    foreign = tmp_path / ".Actor_01.h5.tmp-notapid"                # not our naming scheme
    stale_file.write_bytes(b"partial")
    stale_dir.mkdir()
    (stale_dir / "a.csv").write_text("partial")
    for p in (live, other, foreign):
        p.write_bytes(b"x")
    assert sorted(remove_stale_temps(final)) == sorted([stale_file, stale_dir])
    assert not stale_file.exists() and not stale_dir.exists()
    assert live.exists() and other.exists() and foreign.exists()
    assert remove_stale_temps(tmp_path / "missing" / "f.h5") == []


def test_atomic_write_sweeps_before_writing(tmp_path):
    final = tmp_path / "out.csv"
    stale = tmp_path / f".out.csv.tmp-{_dead_pid()}-zz.csv"
    stale.write_text("half a row")
    with atomic_path(final, suffix=".csv") as tmp:
        assert tmp.name.startswith(temp_prefix(final) + "-") and tmp.parent == tmp_path
        tmp.write_text("a,b\n")
    assert final.read_text() == "a,b\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
