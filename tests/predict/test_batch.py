"""Offline predict without models: which files are recordings, their names, which calibration
recording each uses, and where the outputs go."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.core.problems import ProblemLog
from features.predict.batch import PREDICT_DIR, calibration_for, list_recordings, output_dir


def test_recordings_are_named_by_relative_path_and_other_files_reported(tmp_path):
    for rel in ("a.mp4", "sub/b.wav", "sub/c.mp4", "sub/c.mkv", "notes.txt", ".hidden/d.mp4",
                ".e.mp4"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    problems = ProblemLog("predict")
    got = list_recordings(tmp_path, problems)
    assert [n for n, _ in got] == ["a", "sub__b", "sub__c.mkv", "sub__c.mp4"]
    assert [p.relative_to(tmp_path).as_posix() for _, p in got] == \
        ["a.mp4", "sub/b.wav", "sub/c.mkv", "sub/c.mp4"]
    assert [Path(p.path).name for p in problems.items] == ["notes.txt"]
    assert "not a media file" in problems.items[0].problem
    assert list_recordings(tmp_path / "a.mp4", problems) == [("a", tmp_path / "a.mp4")]
    with pytest.raises(SystemExit, match="no such file or folder"):
        list_recordings(tmp_path / "missing", problems)


def test_calibration_is_one_file_or_looked_up_by_name(tmp_path):
    rec = tmp_path / "sub" / "take 1.mp4"
    one = {"predict": {"calibration": "cal.mp4"}}
    assert calibration_for(one, "sub__take 1", rec, tmp_path) == Path("cal.mp4")
    assert calibration_for({"predict": {"calibration": ""}}, "x", rec, tmp_path) is None
    for key in ("sub__take 1", "take 1.mp4", "sub/take 1.mp4", "take 1"):
        params = {"predict": {"calibration": {key: "mine.mp4", "*": "other.mp4"}}}
        assert calibration_for(params, "sub__take 1", rec, tmp_path) == Path("mine.mp4")
    rest = {"predict": {"calibration": {"*": "other.mp4"}}}
    assert calibration_for(rest, "sub__take 1", rec, tmp_path) == Path("other.mp4")
    assert calibration_for({"predict": {"calibration": {"z": "z.mp4"}}}, "a", rec, tmp_path) is None


def test_outputs_go_under_reports_predict_for_inputs_inside_the_repository():
    assert output_dir("data/mine") == PREDICT_DIR / "data/mine"
    for bad in ("/tmp/videos", "../videos"):
        with pytest.raises(SystemExit, match="inside the repository"):
            output_dir(bad)
