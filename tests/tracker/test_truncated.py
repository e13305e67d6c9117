"""Truncated videos through the standalone tracker and the track stage's job: a warning naming the
file with frames decoded / declared, and ``frames_decoded``, ``frames_declared``, ``truncated`` in
every ``<stem>.report.json``."""

from __future__ import annotations

import json
import subprocess
import sys

from features.tracker import jobs
from features.tracker.embedded import TrackerSettings, report
from tests.media.clips import cut_clip, faststart_clip


def test_cli_warns_and_reports_a_truncated_video(tmp_path):
    cut = cut_clip(tmp_path / "cut.mp4")
    intact = faststart_clip(tmp_path / "intact.mp4")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "features.tracker", str(cut), str(intact), "-o", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads((out / "cut.report.json").read_text())
    n = rep["frames_decoded"]
    assert 0 < n < 50 and rep["frames"] == n and rep["frames_declared"] == 60 and rep["truncated"] is True
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert warnings == [f"{cut}: warning: truncated: {n} of 60 frames decode (frames decoded / declared "
                        f"by the container: {n} / 60); only the frames that decode are tracked"]
    ok = json.loads((out / "intact.report.json").read_text())
    assert (ok["frames_decoded"], ok["frames_declared"], ok["truncated"]) == (60, 60, False)
    assert f"{cut}: 0/{n} frames tracked" in proc.stdout


def test_stage_job_reports_decoded_and_declared_frames(tmp_path):
    cut = cut_clip(tmp_path / "cut.mp4")
    settings = TrackerSettings()
    res = jobs.embedded_job({"video_id": "cut", "path": str(cut), "fps": 30.0, "frames": 0}, settings)
    rep = report(res.embedded)
    assert rep["frames_declared"] == 60 and 0 < rep["frames_decoded"] < 50 and rep["truncated"] is True
    intact = faststart_clip(tmp_path / "intact.mp4")
    res = jobs.embedded_job({"video_id": "intact", "path": str(intact), "fps": 30.0, "frames": 60},
                            settings)
    jobs.write_embedded(res.embedded, tmp_path / "intact.csv")
    rep = json.loads((tmp_path / "intact.report.json").read_text())
    assert (rep["frames_decoded"], rep["frames_declared"], rep["truncated"]) == (60, 60, False)
