"""Ingest on a tiny generated corpus with bad files, zips (including a malicious member) and audio."""

import shutil
import subprocess
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from features.core.config import dump_params
from features.core.problems import ProblemLog, StageFailure, read_problems
from features.ingest import build_manifest, safe_member_path
from tests.conftest import make_clip
from tests.media.clips import cut_clip, faststart_clip
from tests.robustness.media import stage_cmd, stage_env, write_params


def _corpus(root: Path) -> None:
    a1, a2 = root / "Actor_01", root / "Actor_02"
    make_clip(a1 / "01-01-01-01-01-01-01.mp4")           # neutral, statement 1
    make_clip(a1 / "01-01-03-02-01-01-01.mp4")           # happy strong
    make_clip(a2 / "01-01-05-01-02-01-02.mp4")           # angry, no neutral for statement 2
    make_clip(a1 / "01-01-04-01-01-01-01.mp4", audio_channels=None)   # no audio
    make_clip(a1 / "01-01-06-01-01-01-01.mp4", seconds=2.0)           # 60 frames: too short
    (a1 / "01-01-07-01-01-01-01.mp4").write_bytes(b"")                 # zero bytes
    good = (a1 / "01-01-01-01-01-01-01.mp4").read_bytes()
    (a1 / "01-01-08-01-01-01-01.mp4").write_bytes(good[: len(good) // 3])  # truncated
    (a1 / "holiday.mp4").write_bytes(good)                             # not a RAVDESS name
    (a1 / "02-01-03-01-01-01-01.mp4").write_bytes(good)                # video-only: counted
    (a2 / "01-01-03-01-01-01-01.mp4").write_bytes(good)                # mislabelled (actor 01 in Actor_02)
    dup = root / "Actor_01 copy"
    dup.mkdir()
    shutil.copy(a1 / "01-01-03-02-01-01-01.mp4", dup / "01-01-03-02-01-01-01.mp4")


def _build(root, tmp_path, **kw):
    problems = ProblemLog("ingest", fail=kw.pop("fail", False))
    df, summary = build_manifest(root, tmp_path / "raw", kw.pop("media", "video"),
                                 kw.pop("actors", list(range(1, 25))),
                                 yaml.safe_load(Path("params.yaml").read_text())["dataset"]["folds"],
                                 88, problems)
    return df, summary, problems


def test_ingest_tiny_corpus_with_bad_files(tmp_path):
    root = tmp_path / "corpus"
    _corpus(root)
    df, summary, problems = _build(root, tmp_path)
    assert list(df["video_id"]) == ["01-01-01-01-01-01-01", "01-01-03-02-01-01-01", "01-01-05-01-02-01-02"]
    row = df.iloc[1]
    assert (row.emotion, row.emotion_name, row.label, row.intensity, row.statement, row.actor,
            row.gender, row.fold) == (3, "happy", 2, 2, 1, 1, "male", 4)
    assert row.frames == 96 and row.fps == 30 and (row.width, row.height) == (64, 48)
    assert row.audio_rate == 48000 and row.audio_channels == 2 and len(row.fingerprint) == 64
    assert row.neutral_ref == "01-01-01-01-01-01-01"
    assert df.iloc[2].neutral_ref == "" and df.iloc[2].fold == 0
    reasons = {Path(p.path).name: p.problem for p in problems.items}
    assert reasons["01-01-04-01-01-01-01.mp4"] == "no audio stream"
    assert "too short: 60 frames" in reasons["01-01-06-01-01-01-01.mp4"]
    assert "empty file" in reasons["01-01-07-01-01-01-01.mp4"]
    assert "01-01-08-01-01-01-01.mp4" in reasons            # truncated: unreadable or short
    assert "not a RAVDESS name" in reasons["holiday.mp4"]
    assert "mislabelled" in reasons["01-01-03-01-01-01-01.mp4"]
    dup = [p for p in problems.items if "duplicate video id" in p.problem]
    assert len(dup) == 1 and "Actor_01 copy" in dup[0].path
    assert any("neutral clip" in p.problem and p.video_id == "01-01-05-01-02-01-02" for p in problems.items)
    assert summary.skipped_other_modality == 1 and summary.clips == 3


def test_ingest_fail_mode_names_the_file(tmp_path):
    root = tmp_path / "corpus"
    make_clip(root / "Actor_01" / "01-01-04-01-01-01-01.mp4", audio_channels=None)
    with pytest.raises(StageFailure, match=r"01-01-04-01-01-01-01\.mp4: no audio stream"):
        _build(root, tmp_path, fail=True)


def test_actor_subset(tmp_path):
    root = tmp_path / "corpus"
    make_clip(root / "Actor_01" / "01-01-01-01-01-01-01.mp4")
    make_clip(root / "Actor_02" / "01-01-01-01-01-01-02.mp4")
    df, summary, _ = _build(root, tmp_path, actors=[2])
    assert list(df["actor"]) == [2] and summary.skipped_other_actor == 1


def test_zip_ingestion_rejects_malicious_members(tmp_path):
    src = make_clip(tmp_path / "src.mp4")
    root = tmp_path / "corpus"
    root.mkdir()
    with zipfile.ZipFile(root / "Video_Speech_Actor_05.zip", "w") as zf:
        zf.write(src, "Actor_05/01-01-02-01-01-01-05.mp4")
        zf.write(src, "Actor_05/02-01-02-01-01-01-05.mp4")
        # ZipInfo keeps the names verbatim (ZipFile.write would sanitise them).
        zf.writestr(zipfile.ZipInfo("../../evil/01-01-03-01-01-01-05.mp4"), src.read_bytes())
        zf.writestr(zipfile.ZipInfo("/abs/01-01-04-01-01-01-05.mp4"), src.read_bytes())
    df, _, problems = _build(root, tmp_path, actors=[5])
    assert list(df["video_id"]) == ["01-01-02-01-01-01-05"]
    assert Path(df.iloc[0].path).is_relative_to(tmp_path / "raw")
    unsafe = [p.problem for p in problems.items if "unsafe member" in p.problem]
    assert len(unsafe) == 2
    assert not (tmp_path / "evil").exists() and not Path("/abs").exists()
    assert safe_member_path("a/../../b") is None and safe_member_path("C:/x") is None


def test_audio_only_release(tmp_path):
    root = tmp_path / "audio"
    make_clip(root / "Actor_01" / "03-01-05-01-01-01-01.wav", video=False, audio_channels=1)
    make_clip(root / "Actor_01" / "03-01-01-01-01-01-01.wav", video=False, audio_channels=2)
    df, _, problems = _build(root, tmp_path, media="audio")
    assert list(df["audio_channels"]) == [2, 1] and (df["frames"] == 0).all()
    assert df.iloc[1].neutral_ref == "03-01-01-01-01-01-01"


def test_ingest_stage_writes_outputs(tmp_path, monkeypatch):
    repo = Path.cwd()
    root = tmp_path / "corpus"
    make_clip(root / "Actor_01" / "01-01-01-01-01-01-01.mp4")
    make_clip(root / "Actor_01" / "01-01-04-01-01-01-01.mp4", audio_channels=None)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["dataset"].update(root=str(root), actors=["01", "02"])
    params["compute"]["jobs"] = 1
    (tmp_path / "params.yaml").write_text(dump_params(params))
    monkeypatch.chdir(tmp_path)
    from stages import ingest
    assert ingest.main() == 0
    df = pd.read_parquet("data/manifest.parquet")
    assert list(df["video_id"]) == ["01-01-01-01-01-01-01"]
    assert len(pd.read_parquet("data/manifest_by_actor/Actor_02.parquet")) == 0
    rows = read_problems("reports/problems/ingest.csv")
    assert [r["problem"] for r in rows] == ["no audio stream"]
    assert not [p for p in Path("data").rglob("*") if p.name.startswith(".")]


def test_clip_without_audio_kept_in_visual_only_run_and_refused_by_audio_stage(tmp_path):
    from features.audio.recipes import AudioSettings, load_audio
    from features.core.runner import clips_of
    from features.media.audio import AudioError, no_audio_problem

    root = tmp_path / "corpus"
    make_clip(root / "Actor_01" / "01-01-01-01-01-01-01.mp4")
    silent = root / "Actor_01" / "01-01-04-01-01-01-01.mp4"
    make_clip(silent, audio_channels=None)
    df, _, problems = _build(root, tmp_path)                      # default: audio required
    assert list(df["video_id"]) == ["01-01-01-01-01-01-01"]
    problems = ProblemLog("ingest")
    df, summary = build_manifest(root, tmp_path / "raw2", "video", [1],
                                 yaml.safe_load(Path("params.yaml").read_text())["dataset"]["folds"],
                                 88, problems, require_audio=False)
    assert list(df["video_id"]) == ["01-01-01-01-01-01-01", "01-01-04-01-01-01-01"]
    kept = df.set_index("video_id").loc["01-01-04-01-01-01-01"]
    assert kept.audio_rate == 0 and kept.audio_channels == 0 and kept.frames == 96
    note = [p for p in problems.items if p.video_id == "01-01-04-01-01-01-01"]
    assert [p.problem for p in note] == ["no audio stream"]
    assert note[0].action.startswith("kept: visual-only run")
    # the audio stage's loader refuses it (the runner reports the clip as skipped, naming the
    # problem) instead of failing in the decoder
    clips = {c.video_id: c for c in clips_of(df)}
    with pytest.raises(AudioError, match="no audio stream.*require_audio"):
        load_audio(clips["01-01-04-01-01-01-01"], AudioSettings(140800, 48000))
    assert load_audio(clips["01-01-01-01-01-01-01"], AudioSettings(140800, 48000)).audio.mono.size
    assert no_audio_problem(48000) is None


def test_truncated_clip_kept_reported_and_printed(tmp_path):
    """A clip cut mid-stream (index first: the header declares 180 frames, fewer decode) is kept
    with the frames that decode, in the problems report and on the stage's output; an intact
    clip is not flagged."""
    root = tmp_path / "corpus" / "Actor_01"
    cut = cut_clip(root / "01-01-03-01-01-01-01.mp4", seconds=6.0, keep=0.7)
    faststart_clip(root / "01-01-01-01-01-01-01.mp4", seconds=6.0)
    write_params(tmp_path, {"dataset.root": "corpus", "dataset.actors": ["01"], "compute.jobs": 1})
    proc = subprocess.run(stage_cmd("ingest"), cwd=tmp_path, env=stage_env(), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    df = pd.read_parquet(tmp_path / "data" / "manifest.parquet").set_index("video_id")
    n = int(df.loc["01-01-03-01-01-01-01", "frames"])
    assert 88 <= n < 170 and int(df.loc["01-01-01-01-01-01-01", "frames"]) == 180
    rows = read_problems(tmp_path / "reports" / "problems" / "ingest.csv")
    assert [(r["path"], r["problem"], r["action"]) for r in rows] == [
        ("corpus/Actor_01/01-01-03-01-01-01-01.mp4", f"truncated: {n} of 180 frames decode",
         "kept: the frames that decode are used")]
    assert (f"{cut.relative_to(tmp_path)}: truncated: {n} of 180 frames decode (kept: the frames "
            "that decode are used)") in proc.stderr
