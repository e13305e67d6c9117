"""The predict stage through DVC on the tiny demo: renamed clips reproduce the test-fold
predictions of training, bad inputs are reported while the others are scored, and the outputs
(per-recording CSV, summary, timeline picture, problems) are written.

One module fixture builds the tiny demo project (4 actors x 6 clips at 320x180) and trains a
tiny Multi-Net (LMS + face KPD, the default modalities; 10 epochs) on folds 0, 1 and 4 (the folds that
have test actors among actors 01-04) with `dvc repro`; about 4-6 minutes on 2 shared cores.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from features.media.video import ffmpeg_exe
from tests.conftest import copy_project, make_clip, run, set_params

pytestmark = pytest.mark.slow

FOLDS = [0, 1, 4]
EMOTIONS = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    repo = copy_project(tmp_path_factory.mktemp("predict") / "repo")
    set_params(repo, {"demo.size": "tiny", "demo.width": 320, "demo.height": 180, "demo.jobs": 1,
                      "dataset.actors": ["01", "02", "03", "04"], "train.folds": FOLDS,
                      "train.epochs": 10, "train.lr": 0.01, "train.filters": 8,
                      "train.scales": 2, "train.layers": 1, "train.mlp_hidden": [16, 16],
                      "train.threads": 1, "compute.jobs": 1})
    run(["dvc", "repro", "--glob", "train@*"], repo, env={"OMP_NUM_THREADS": "1"})
    return repo


def _renamed_corpus(repo: Path) -> tuple[dict[int, dict[str, str]], dict[str, str]]:
    """Copy every demo clip to data/mine_<fold>/<arbitrary name>.mp4 and its neutral reference
    clip to data/calib/; returns {fold: {new name: video id}} and the calibration mapping
    {file name: path}."""
    manifest = pd.read_parquet(repo / "data/manifest.parquet")
    calib = repo / "data/calib"
    for d in [calib, *(repo / f"data/mine_{k}" for k in FOLDS)]:
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    rng = np.random.default_rng(3)
    names: dict[int, dict[str, str]] = {k: {} for k in FOLDS}
    mapping = {}
    for row in manifest.itertuples(index=False):
        name = f"session {rng.integers(1e6):06d}_take"
        shutil.copy(repo / row.path, repo / f"data/mine_{row.fold}" / f"{name}.mp4")
        ref = manifest.loc[manifest["video_id"] == row.neutral_ref].iloc[0]
        cal = calib / f"person{int(ref.actor) * 7 % 5}_{ref.video_id[-8:-3]}_neutral.mp4"
        if not cal.exists():
            shutil.copy(repo / ref.path, cal)
        names[int(row.fold)][name] = row.video_id
        mapping[f"{name}.mp4"] = str(cal.relative_to(repo))
    return names, mapping


def test_renamed_clips_reproduce_their_test_fold_predictions(repo):
    """Each fold's clips, renamed, in their own folder, scored by their test-fold model."""
    names, mapping = _renamed_corpus(repo)
    for fold in FOLDS:
        folder = f"data/mine_{fold}"
        set_params(repo, {"predict.inputs": [folder], "predict.fold": fold,
                          "predict.clip_score": "middle", "predict.neutral": "calibration",
                          "predict.calibration": mapping})
        run(["dvc", "repro", f"predict@{folder}"], repo, env={"OMP_NUM_THREADS": "1"})
        out = repo / "reports/predict" / folder
        settings = json.loads((out / "settings.json").read_text())
        assert settings["folds"] == [str(fold)] and settings["feature_settings_from"] == "checkpoint"
        truth = pd.read_parquet(repo / f"data/predictions/fold_{fold}.parquet").set_index("video_id")
        assert sorted(truth.index) == sorted(names[fold].values())
        for name, vid in names[fold].items():
            rows = pd.read_csv(out / f"{name}.csv")
            clip = rows[rows["kind"] == "clip"].iloc[0]
            assert clip["neutral"].startswith("calibration data/calib/")
            got = np.array([clip[f"p_{e}"] for e in EMOTIONS])
            want = truth.loc[vid, [f"p_{e}" for e in EMOTIONS]].to_numpy(float)
            np.testing.assert_allclose(got, want, atol=1e-5, rtol=0, err_msg=f"{name} = {vid}")
            assert clip["top"] == EMOTIONS[int(truth.loc[vid, "predicted"])]


def _bad_and_odd_inputs(folder: Path, clip: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "broken.mp4").write_bytes(b"\x00not a video" * 100)
    (folder / "notes.txt").write_text("not media")
    make_clip(folder / "no face.mp4", seconds=3.2, size="320x180")            # test pattern
    ff = ffmpeg_exe()
    subprocess.run([ff, "-v", "error", "-y", "-i", str(clip), "-an", "-c:v", "copy",
                    str(folder / "silent.mp4")], check=True)                     # no audio
    subprocess.run([ff, "-v", "error", "-y", "-i", str(clip), "-t", "2.0", "-c:v", "libx264",
                    "-c:a", "aac", str(folder / "short.mp4")], check=True)       # 60 frames
    subprocess.run([ff, "-v", "error", "-y", "-i", str(clip), "-i", str(clip), "-filter_complex",
                    "[0:v][0:a][1:v][1:a]concat=n=2:v=1:a=1[v][a]", "-map", "[v]", "-map", "[a]",
                    "-c:v", "libx264", "-c:a", "aac", str(folder / "long.mp4")], check=True)
    make_clip(folder / "voice.wav", seconds=3.5, video=False)                    # no video


def test_default_settings_score_good_inputs_and_report_bad_ones(repo):
    clip = sorted((repo / "data/demo/corpus/Actor_02").glob("*.mp4"))[2]
    folder = repo / "data/colleague"
    _bad_and_odd_inputs(folder, clip)
    shutil.copy(clip, folder / "good one.mp4")
    set_params(repo, {"predict.inputs": ["data/colleague"], "predict.fold": "all",
                      "predict.clip_score": "mean", "predict.neutral": "first_seconds",
                      "predict.calibration": ""})
    run(["dvc", "repro", "predict@data/colleague"], repo, env={"OMP_NUM_THREADS": "1"})
    out = repo / "reports/predict/data/colleague"
    summary = pd.read_csv(out / "summary.csv").set_index("recording")
    assert sorted(summary.index) == ["broken", "good one", "long", "no face", "short", "silent",
                                     "voice"]
    assert set(summary.index[summary["status"] == "scored"]) == {"good one", "long", "short"}
    problems = pd.read_csv(out / "problems.csv")

    def problem(name: str) -> str:
        hits = problems[problems["path"].str.endswith(name)]["problem"].tolist()
        assert hits, f"no problem recorded for {name}: {problems}"
        return " | ".join(hits)

    assert "cannot open" in problem("broken.mp4") or "ffmpeg cannot read" in problem("broken.mp4")
    assert "no face found" in problem("no face.mp4")
    assert "no audio stream" in problem("silent.mp4") and "lms" in problem("silent.mp4")
    assert "no video stream" in problem("voice.wav") and "kpd_face" in problem("voice.wav")
    assert "not a media file" in problem("notes.txt")
    assert "shorter than the models' 88 frames" in problem("short.mp4")
    for name in ("broken", "no face", "silent", "voice"):
        assert str(folder.relative_to(repo)) in summary.loc[name, "problem"] or \
            name in summary.loc[name, "problem"]
    # scored recordings: a clip row, windows, probabilities summing to 1, a timeline picture
    p_cols = [f"p_{e}" for e in EMOTIONS]
    for name, n_windows, padded in (("good one", None, False), ("long", None, False),
                                    ("short", 1, True)):
        rows = pd.read_csv(out / f"{name}.csv")
        assert rows["kind"].iloc[0] == "clip" and (rows["kind"].iloc[1:] == "window").all()
        np.testing.assert_allclose(rows[p_cols].sum(axis=1), 1.0, atol=1e-6)
        assert (rows["top"] == [EMOTIONS[i] for i in rows[p_cols].to_numpy().argmax(1)]).all()
        assert bool(rows["padded"].iloc[0]) is padded
        assert rows["neutral"].iloc[0].startswith("first 2 s @frame")
        if n_windows:
            assert (rows["kind"] == "window").sum() == n_windows
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    long_rows = pd.read_csv(out / "long.csv")
    win = long_rows[long_rows["kind"] == "window"]
    assert len(win) >= 8 and win["start_s"].diff().dropna().between(0, 0.5 + 1e-6).all()
    assert win["end_s"].max() == pytest.approx(long_rows["end_s"].iloc[0], abs=0.04)
    clip_row = long_rows.iloc[0]
    np.testing.assert_allclose(clip_row[p_cols].to_numpy(float), win[p_cols].mean().to_numpy(),
                               atol=1e-7)


def test_bad_checkpoints_are_named_and_other_folds_still_used(repo, tmp_path, monkeypatch):
    """An old-format and a structurally incompatible checkpoint: reported with their path; the
    remaining fold is used. A model whose features predict cannot compute stops with a message."""
    from features.core.problems import ProblemLog
    from models.predict import load_models

    models = tmp_path / "models"
    for k in (0, 1, 4):
        (models / f"fold_{k}").mkdir(parents=True)
        shutil.copy(repo / f"data/models/fold_{k}/model.pt", models / f"fold_{k}/model.pt")
    old = torch.load(models / "fold_0/model.pt", weights_only=True)
    old["format"] = "hmd-emotion/multinet-v0"
    torch.save(old, models / "fold_0/model.pt")
    broken = torch.load(models / "fold_1/model.pt", weights_only=True)
    broken["state_dict"].pop(next(iter(broken["state_dict"])))
    torch.save(broken, models / "fold_1/model.pt")
    monkeypatch.chdir(repo)
    problems = ProblemLog("predict")
    got = load_models({"predict": {"fold": "all", "models": str(models)}}, problems)
    assert [m.fold for m in got] == ["4"]
    msgs = {Path(p.path).parent.name: p.problem for p in problems.items}
    assert "multinet-v0" in msgs["fold_0"] and str(models / "fold_0/model.pt") in msgs["fold_0"]
    assert "incompatible" in msgs["fold_1"] and str(models / "fold_1/model.pt") in msgs["fold_1"]

    other = torch.load(models / "fold_4/model.pt", weights_only=True)
    other["experiment"]["modalities"] = ["wav2vec2", "kpd_face"]
    other["experiment"]["trunks"] = {"wav2vec2": other["experiment"]["trunks"]["lms"],
                                     "kpd_face": other["experiment"]["trunks"]["kpd_face"]}
    other["in_dims"] = {"wav2vec2": other["in_dims"]["lms"], "kpd_face": other["in_dims"]["kpd_face"]}
    other["standardisers"] = {"wav2vec2": other["standardisers"]["lms"],
                              "kpd_face": other["standardisers"]["kpd_face"]}
    other["state_dict"] = {k.replace("trunks.lms.", "trunks.wav2vec2."): v
                           for k, v in other["state_dict"].items()}
    other["features"] = {"wav2vec2": {}, "kpd_face": other["features"]["kpd_face"]}
    torch.save(other, models / "fold_4/model.pt")
    with pytest.raises(SystemExit, match="wav2vec2, which predict cannot compute"):
        load_models({"predict": {"fold": 4, "models": str(models)}}, ProblemLog("predict"))


def test_live_scores_each_window_as_it_closes_with_the_offline_inputs(repo, monkeypatch):
    """Frames pushed one by one: a window is scored on the frame that closes it (not at the
    end); its audio (streamed from ffmpeg) gives the offline LMS exactly, its key-point
    distances match offline up to the CSV's 0.1 mm rounding, and so do the probabilities."""
    from features.core.config import load_params
    from features.core.problems import ProblemLog
    from features.media.live import LiveAudio, LiveVideo
    from features.predict.live import LiveScorer, append_csv
    from features.predict.recording import (
        feature_spec,
        load_recording,
        neutral_reference,
        track_recording,
        window_inputs,
    )
    from features.predict.windows import Window
    from features.tracker.embedded import TrackerSettings
    from models.predict import average_posteriors, load_models

    monkeypatch.chdir(repo)
    models = load_models({"predict": {"fold": "all", "models": "data/models"}}, ProblemLog("p"))
    spec = feature_spec(models[0].modalities, models[0].features)
    settings = TrackerSettings.from_params(load_params()["track"])
    manifest = pd.read_parquet("data/manifest.parquet")
    row = manifest[(manifest["actor"] == 3) & (manifest["frames"] > 100)].iloc[0]
    ref_path = manifest.loc[manifest["video_id"] == row.neutral_ref, "path"].iloc[0]
    calibration = track_recording(Path(ref_path), 30.0, settings)
    audio = LiveAudio(row.path, spec.sample_rate, 2, pace=False)
    video = LiveVideo(row.path, pace=False)
    scorer = LiveScorer(models, spec, settings, video.fps, hop=15, neutral="calibration",
                        calibration=calibration, audio=audio)
    emitted = []
    try:
        for frame in video.frames():
            emitted += [(frame.index, line) for line in scorer.push(frame)]
    finally:
        video.close()
        audio.close()
    n = int(row.frames)
    starts = list(range(0, n - 88 + 1, 15))
    assert [i for i, _ in emitted] == [s + 87 for s in starts]       # scored as each closes
    rec = load_recording(row.path, spec, settings)
    ref = neutral_reference(rec, spec, "calibration", calibration=calibration)
    for (_, line), s in zip(emitted, starts):
        w = Window("window", 0, s, 88, np.arange(s, s + 88, dtype=float), np.zeros(88, bool))
        xs, masks, _ = window_inputs(rec, spec, w, ref)
        np.testing.assert_allclose(line.inputs["lms"], xs["lms"], atol=1e-4)
        np.testing.assert_allclose(line.inputs["kpd_face"], xs["kpd_face"], rtol=0.02, atol=0.01)
        offline = average_posteriors(models, {m: x[None] for m, x in xs.items()},
                                     {m: v[None] for m, v in masks.items()})[0]
        np.testing.assert_allclose(line.probs, offline, atol=2e-3)
        assert line.start_s == pytest.approx(s / 30) and line.latency_ms >= 0
    out = Path("reports/live_test.csv")
    for _, line in emitted:
        append_csv(out, line, scorer.names, row.path, scorer.ref.source)
    table = pd.read_csv(out)
    assert len(table) == len(emitted) and table["neutral"].str.startswith("calibration").all()
    np.testing.assert_allclose(table[[f"p_{e}" for e in EMOTIONS]].sum(axis=1), 1, atol=1e-5)


def test_live_command_on_a_file_played_in_real_time(repo):
    """`python -m stages.predict --live FILE`: one printed line per hop, appended to the CSV."""
    clip = sorted((repo / "data/demo/corpus/Actor_01").glob("*.mp4"))[3]
    set_params(repo, {"predict.fold": "all", "predict.neutral": "clip", "predict.calibration": ""})
    proc = run(["python", "-m", "stages.predict", "--live", str(clip), "--csv",
                "reports/live_cmd.csv"], repo, env={"OMP_NUM_THREADS": "1"})
    lines = [ln for ln in proc.stdout.splitlines() if "latency" in ln and " s " in ln]
    table = pd.read_csv(repo / "reports/live_cmd.csv")
    assert len(lines) >= 1 and len(table) == len(lines)
    assert table["top"].isin(EMOTIONS).all() and (table["latency_ms"] > 0).all()
    assert table["neutral"].str.startswith("first 2 s").all()       # clip -> first_seconds


REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real-faces"


@pytest.mark.skipif(not (REAL / "single_face.mp4").exists(),
                    reason=f"shared real-face clips not found at {REAL} (../shared is absent outside "
                           "the development machine)")
def test_two_workers_give_the_outputs_of_one_on_real_clips(repo, tmp_path):
    """predict scores recordings in worker threads (one dlib tracker per thread, one torch thread
    per scoring call): two real clips give byte-identical outputs with compute.jobs 1 and 2."""
    folder = repo / "data/real"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name in ("single_face.mp4", "WolfgangLanger_Pexels.mp4"):
        shutil.copy(REAL / name, folder / name)
    outputs = {}
    for jobs in (1, 2):
        set_params(repo, {"compute.jobs": jobs, "predict.inputs": [], "predict.fold": "all",
                          "predict.clip_score": "mean", "predict.neutral": "clip", "predict.calibration": ""})
        run([sys.executable, "-m", "stages.predict", "data/real"], repo, env={"OMP_NUM_THREADS": "1"})
        out = repo / "reports/predict/data/real"
        outputs[jobs] = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
        shutil.rmtree(out)
    set_params(repo, {"compute.jobs": 1})
    assert {"single_face.csv", "WolfgangLanger_Pexels.csv", "summary.csv"} <= set(outputs[1])
    assert outputs[1] == outputs[2]
