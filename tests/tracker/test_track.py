"""Track stage: embedded tracker on generated clips, openface and precomputed backends, bad input."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from features.core.config import dump_params
from features.core.problems import read_problems
from features.media.video import ffmpeg_exe
from features.tracker import aus
from features.tracker.actor import track_actor
from features.tracker.embedded import TrackerSettings, track_video
from features.tracker.external import OpenFaceBinaryError
from features.tracker.models import camera_matrix, mean_face_3d
from features.tracker.pose import euler_from_matrix, fit_pose, matrix_from_euler, project
from features.tracks.openface import (
    COLUMNS,
    DATA_BLOCKS,
    OpenFaceTrack,
    gaze_angles,
    read_openface,
    write_openface,
)
from stages import track as track_stage
from tests.helpers.landmark_scores import score_landmarks
from tests.helpers.synthetic_faces import render_clip

REPO = Path(__file__).resolve().parents[2]
IDS = ["01-01-01-01-01-01-05", "01-01-03-01-01-01-05", "01-01-04-01-01-01-05",
       "01-01-05-01-01-01-05"]


def _params(tmp_path: Path, **track) -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["compute"]["jobs"] = 1
    params["track"].update(track)
    (tmp_path / "params.yaml").write_text(dump_params(params))
    return params


def _manifest(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "data" / "manifest_by_actor" / "Actor_05.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    full = [dict({"fps": 30.0, "frames": 0, "neutral_ref": IDS[0]}, **r) for r in rows]
    pd.DataFrame(full).to_parquet(path)
    return path


# ---------------------------------------------------------------- geometry and scoring units

def test_euler_convention_matches_openface_and_pnp_recovers_pose():
    e = np.array([0.15, -0.3, 0.1])
    R = matrix_from_euler(e)
    # OpenFace: R = Rx @ Ry @ Rz
    rx = np.array([[1, 0, 0], [0, np.cos(e[0]), -np.sin(e[0])], [0, np.sin(e[0]), np.cos(e[0])]])
    ry = np.array([[np.cos(e[1]), 0, np.sin(e[1])], [0, 1, 0], [-np.sin(e[1]), 0, np.cos(e[1])]])
    rz = np.array([[np.cos(e[2]), -np.sin(e[2]), 0], [np.sin(e[2]), np.cos(e[2]), 0], [0, 0, 1]])
    np.testing.assert_allclose(R, rx @ ry @ rz, atol=1e-12)
    np.testing.assert_allclose(euler_from_matrix(R), e, atol=1e-9)
    model, K = mean_face_3d(), camera_matrix(1280, 720)
    assert K[0, 0] == 875.0 and (K[0, 2], K[1, 2]) == (640.0, 360.0)
    t = np.array([30.0, -20.0, 650.0])
    pts = project(model @ R.T + t, K)
    fit = fit_pose(pts, model, K)
    np.testing.assert_allclose(fit.euler, e, atol=1e-6)
    np.testing.assert_allclose(fit.tvec, t, atol=1e-3)
    # model axes: nose tip nearer the camera than the eye corners, chin below the eyes
    assert model[30, 2] < model[36, 2] and model[8, 1] > model[36, 1] and model[36, 0] < 0


def test_scorer_on_known_errors():
    rng = np.random.default_rng(0)
    truth = rng.uniform(100, 300, (10, 68, 2))
    truth[:, 36], truth[:, 45] = [100, 200], [200, 200]             # inter-ocular 100 px
    pred = truth + [3.0, 4.0]                                         # 5 px everywhere
    success = np.ones(10, bool)
    s = score_landmarks(pred, truth, success)
    assert s["nme"] == pytest.approx(0.05) and s["jitter"] == pytest.approx(0.0)
    truth[7] = np.nan                                                 # no face in frame 7
    success[2] = False                                                # missed frame 2
    pred[5] += [0.0, 10.0]                                            # one noisy frame
    s = score_landmarks(pred, truth, success)
    assert s["detection_rate"] == pytest.approx(8 / 9) and s["false_tracks"] == 1
    assert s["nme"] == pytest.approx((7 * 0.05 + np.hypot(3, 14) / 100) / 8)
    assert s["jitter"] == pytest.approx(2 * 0.1 / 5)   # pairs (0,1) (3,4) (4,5) (5,6) (8,9)


def test_au_estimates_follow_the_named_movements():
    # the baseline is each AU's 10th percentile: it needs more neutral frames than frames of the
    # opposite movement (a smile lowers "lip corner depressor"), as in real clips
    n = 60
    head = np.repeat(mean_face_3d()[None], n, axis=0).copy()
    head[10:15, [48, 54], 1] -= 14.0         # lip corners up 14 mm: AU12
    head[20:25, 8, 1] += 9.0                  # chin down 9 mm: AU26
    head[20:25, 57:60, 1] += 9.0              # lower lip follows the jaw
    head[26:29, [37, 38, 43, 44], 1] += 7.0   # upper lids down onto the lower ones: blink
    success = np.ones(n, bool)
    success[29] = False
    raw = aus.au_values(aus.measurements(head))
    base = aus.baseline(raw, np.flatnonzero(success), 10.0)
    au_r, au_c = aus.estimate_aus(raw, success, base)
    j = {a: i for i, a in enumerate(aus.AU_R)}
    assert au_r[10:15, j["12"]].min() > 2 and au_r[:10, j["12"]].max() == 0
    assert au_r[20:25, j["26"]].min() > 2.5 and au_r[:20, j["26"]].max() == 0
    assert au_r[26:29, j["45"]].min() > 1.5
    assert au_r[:10].max() == 0 and not au_c[:10].any()           # neutral frames: nothing
    assert au_r[30:].max() == 0 and not au_c[30:].any()
    assert au_c[10:15, aus.AU_C.index("12")].all() and not au_c[29].any()
    assert au_r.min() >= 0 and au_r.max() <= 5


# ---------------------------------------------------------------- embedded tracker

@pytest.fixture(scope="module")
def clip_with_gap(tmp_path_factory):
    path = tmp_path_factory.mktemp("clips") / "gap.mp4"
    truth = render_clip(path, n_frames=45, width=640, height=360, seed=4, blank=range(15, 20))
    return path, truth


def test_embedded_tracks_generated_clip_against_truth(clip_with_gap):
    path, truth = clip_with_gap
    res = track_video(path, 30.0, TrackerSettings(detect_every=10, detect_scale=0.5))
    t = res.track
    s = score_landmarks(t.lmk_2d, truth, t.success)
    assert s["nme"] < 0.05 and s["detection_rate"] >= 0.99 and s["false_tracks"] == 0
    assert s["jitter"] < 0.02
    # frames without a face: rows kept, success 0, zeros elsewhere
    assert t.n == 45 and list(np.flatnonzero(~t.success)) == [15, 16, 17, 18, 19]
    assert np.all(t.lmk_2d[15:20] == 0) and np.all(t.au_r[15:20] == 0)
    ok = t.success
    # OpenFace eye layout: eyelid points 8, 10, ..., 18 are face landmarks 36..41 / 42..47
    np.testing.assert_allclose(t.eye_lmk_2d[ok][:, 8:20:2], t.lmk_2d[ok][:, 36:42])
    np.testing.assert_allclose(t.eye_lmk_2d[ok][:, 36:48:2], t.lmk_2d[ok][:, 42:48])
    pupil = t.eye_lmk_2d[ok][:, 0:8].mean(axis=1)              # OpenFace: pupil = mean of 0-7
    lo, hi = t.lmk_2d[ok][:, 36:42].min(axis=1), t.lmk_2d[ok][:, 36:42].max(axis=1)
    assert np.all((pupil >= lo - 2) & (pupil <= hi + 2))
    # 3D landmarks reproject onto the 2D ones; the face is in front of the camera
    K = camera_matrix(640, 360)
    np.testing.assert_allclose(project(t.lmk_3d[ok], K), t.lmk_2d[ok], atol=1e-6)
    assert np.all(t.pose_T[ok, 2] > 100) and np.all(np.abs(t.pose_R[ok]) < 0.6)
    # gaze: unit vectors towards the camera; angles as OpenFace computes them
    np.testing.assert_allclose(np.linalg.norm(t.gaze_0[ok], axis=1), 1.0, atol=1e-9)
    assert np.all(t.gaze_0[ok, 2] < 0)
    np.testing.assert_allclose(t.gaze_angle[ok], gaze_angles(t.gaze_0, t.gaze_1)[ok])
    assert t.au_r.min() >= 0 and t.au_r.max() <= 5 and set(np.unique(t.au_c)) <= {0.0, 1.0}
    # a rigid face carries no expression: AUs stay low
    assert np.mean(t.au_c[ok]) < 0.05


# ---------------------------------------------------------------- the stage, embedded backend

def test_stage_embedded_with_bad_videos(tmp_path, monkeypatch, clip_with_gap):
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(clip_with_gap[0], videos / f"{IDS[0]}.mp4")
    render_clip(videos / "noface.mp4", n_frames=12, width=320, height=240, blank=range(12))
    shutil.move(videos / "noface.mp4", videos / f"{IDS[1]}.mp4")
    render_clip(videos / "full.mp4", n_frames=40, width=320, height=240, seed=2)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(videos / "full.mp4"), "-c", "copy",
                    "-movflags", "+faststart", str(videos / "fast.mp4")], check=True)
    data = (videos / "fast.mp4").read_bytes()
    (videos / f"{IDS[2]}.mp4").write_bytes(data[: len(data) * 6 // 10])   # truncated
    (videos / f"{IDS[3]}.mp4").write_bytes(b"not a video at all")
    _manifest(tmp_path, [{"video_id": IDS[0], "path": str(videos / f"{IDS[0]}.mp4"), "frames": 45},
                         {"video_id": IDS[1], "path": str(videos / f"{IDS[1]}.mp4"), "frames": 12},
                         {"video_id": IDS[2], "path": str(videos / f"{IDS[2]}.mp4"), "frames": 40,
                          "neutral_ref": IDS[1]},                   # its neutral clip has no face
                         {"video_id": IDS[3], "path": str(videos / f"{IDS[3]}.mp4"), "frames": 40}])
    _params(tmp_path)
    monkeypatch.chdir(tmp_path)
    track_stage.main(["05"])
    out = tmp_path / "data" / "openface" / "Actor_05"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{i}.csv" for i in IDS[:3]] + [f"{i}.report.json" for i in IDS[:3]])
    assert not list((tmp_path / "data" / "openface").glob(".*"))          # no temp folder left
    good = read_openface(out / f"{IDS[0]}.csv")
    assert good.variant == "openface2" and good.n == 45 and good.success.sum() == 40
    assert (out / f"{IDS[0]}.csv").read_text().splitlines()[0] == ",".join(COLUMNS)
    noface = read_openface(out / f"{IDS[1]}.csv")
    assert noface.n == 12 and not noface.success.any()
    cut = read_openface(out / f"{IDS[2]}.csv")
    assert 0 < cut.n < 40 and cut.success.mean() > 0.9
    rows = read_problems(tmp_path / "reports/problems/track/Actor_05.csv")
    base = {p["video_id"]: p["problem"] for p in rows if p["problem"].startswith("AU baseline")}
    assert base[IDS[2]].startswith("AU baseline: fallback: 10th percentile per AU over this "
                                   "clip's") and f"neutral reference {IDS[1]} has no tracked" \
        in base[IDS[2]]
    assert base[IDS[0]].startswith("AU baseline: neutral clip itself")
    assert "0.0% of frames below track.min_confidence; 0 person switch(es)" in base[IDS[0]]
    probs = {p["video_id"]: p for p in rows if not p["problem"].startswith("AU baseline")}
    assert "5 of 45 frames without a tracked face" in probs[IDS[0]]["problem"]
    assert "no face found in any of the 12 frames" in probs[IDS[1]]["problem"]
    assert probs[IDS[1]]["action"] == "written: every row success=0"
    assert f"only {cut.n} of 40 frames decode" in probs[IDS[2]]["problem"]
    assert "cannot read video" in probs[IDS[3]]["problem"] and probs[IDS[3]]["action"] == "skipped"


def test_stage_fails_on_bad_input_with_on_error_fail(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"")
    man = _manifest(tmp_path, [{"video_id": IDS[3], "path": str(bad), "frames": 40}])
    params = _params(tmp_path)
    params["dataset"]["on_error"] = "fail"
    with pytest.raises(Exception, match="bad.mp4.*empty file"):
        track_actor("05", params, man, tmp_path / "of", tmp_path / "p.csv")
    assert not (tmp_path / "of" / "Actor_05").exists()


# ---------------------------------------------------------------- openface backend (stand-in binary)

STAND_IN = r'''#!{python}
"""Stand-in for OpenFace's FeatureExtraction: same command line, 2.0-style ", " CSV."""
import sys
from pathlib import Path
args = sys.argv[1:]
video = Path(args[args.index("-f") + 1])
out = Path(args[args.index("-out_dir") + 1])
flags = set(a for a in args if a.startswith("-"))
if "broken" in video.name:
    sys.stderr.write("Attempting to read from file: %s\nERROR: Could not open the video\n" % video)
    sys.exit(1)
if "cen" in video.name and "-mloc" not in args:   # OpenFace's most reported failure, as it prints it
    sys.stderr.write("Could not find the HAAR face detector location\n")
    print("Reading the intensity CEN patch experts from: model/patch_experts/cen_patches_0.25_of.dat"
          "....Could not find CEN patch experts, for instructions of how to download them, see "
          "https://github.com/TadasBaltrusaitis/OpenFace/wiki/Model-download")
    print("ERROR: Could not load the landmark detector")
    sys.exit(1)
n = 5
cols = ["frame", "face_id", "timestamp", "confidence", "success"]
if "-gaze" in flags:
    cols += ["gaze_0_x", "gaze_0_y", "gaze_0_z", "gaze_1_x", "gaze_1_y", "gaze_1_z",
             "gaze_angle_x", "gaze_angle_y"]
    for a in "xyXYZ":
        cols += ["eye_lmk_%s_%d" % (a, i) for i in range(56)]
if "-pose" in flags:
    cols += ["pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz"]
if "-2Dfp" in flags:
    for a in "xy":
        cols += ["%s_%d" % (a, i) for i in range(68)]
if "-3Dfp" in flags:
    for a in "XYZ":
        cols += ["%s_%d" % (a, i) for i in range(68)]
if "-pdmparams" in flags:
    cols += ["p_scale", "p_rx", "p_ry", "p_rz", "p_tx", "p_ty"] + ["p_%d" % i for i in range(34)]
aus = ["01", "02", "04", "05", "06", "07", "09", "10", "12", "14", "15", "17", "20", "23", "25", "26", "45"]
if "-aus" in flags:
    cols += ["AU%s_r" % a for a in aus] + ["AU%s_c" % a for a in sorted(aus + ["28"])]
lines = [", ".join(cols)]
for f in range(1, n + 1):
    vals = ["%d" % f, "0", "%.3f" % ((f - 1) / 30.0), "0.98", "1" if f != 3 else "0"]
    vals += ["%.1f" % (f + i / 10.0) for i in range(len(cols) - 5)]
    lines.append(", ".join(vals))
out.mkdir(parents=True, exist_ok=True)
(out / (video.stem + ".csv")).write_text("\r\n".join(lines) + "\r\n")
(out / (video.stem + "_of_details.txt")).write_text("Input:" + str(video))
'''


def _stand_in(tmp_path: Path) -> Path:
    exe = tmp_path / "bin" / "FeatureExtraction"
    exe.parent.mkdir()
    exe.write_text(STAND_IN.replace("{python}", sys.executable))
    exe.chmod(0o755)
    return exe


def test_openface_backend_with_stand_in_binary(tmp_path):
    exe = _stand_in(tmp_path)
    good, broken = tmp_path / f"{IDS[0]}.mp4", tmp_path / "broken.mp4"
    good.write_bytes(b"stand-in does not read it")
    broken.write_bytes(b"")
    man = _manifest(tmp_path, [{"video_id": IDS[0], "path": str(good), "frames": 5},
                               {"video_id": IDS[1], "path": str(broken), "frames": 5}])
    params = _params(tmp_path, backend="openface", openface_bin=str(exe))
    problems = track_actor("05", params, man, tmp_path / "of", tmp_path / "p.csv")
    out = tmp_path / "of" / "Actor_05"
    assert sorted(p.name for p in out.iterdir()) == [f"{IDS[0]}.csv"]
    text = (out / f"{IDS[0]}.csv").read_text()
    assert ", " not in text and "\r" not in text and text.splitlines()[0] == ",".join(COLUMNS)
    t = read_openface(out / f"{IDS[0]}.csv")
    assert t.blocks == tuple(DATA_BLOCKS) and t.n == 5 and list(t.success) == [1, 1, 0, 1, 1]
    assert t.lmk_2d[0, 0, 0] == pytest.approx(1.0 + (COLUMNS.index("x_0") - 5) / 10)
    [p] = [p for p in problems.items if p.video_id == IDS[1]]
    assert "broken.mp4: FeatureExtraction failed (exit 1)" in p.problem
    assert "ERROR: Could not open the video" in p.problem

    params["track"]["openface_bin"] = str(tmp_path / "nowhere" / "FeatureExtraction")
    with pytest.raises(OpenFaceBinaryError, match="FeatureExtraction not found.*nowhere"):
        track_actor("05", params, man, tmp_path / "of2", tmp_path / "p2.csv")


def test_openface_backend_command_prefix_extra_args_and_the_real_cause(tmp_path):
    """A command prefix (here: the interpreter running the stand-in) and OpenFace's own flags
    reach FeatureExtraction; its real failure (on stdout) is named with the fix, not the harmless
    stderr warning."""
    exe = _stand_in(tmp_path)
    cen = tmp_path / f"{IDS[0]}-cen.mp4"
    cen.write_bytes(b"x")
    man = _manifest(tmp_path, [{"video_id": IDS[0], "path": str(cen), "frames": 5}])
    params = _params(tmp_path, backend="openface", openface_bin=f"{sys.executable} {exe}")
    problems = track_actor("05", params, man, tmp_path / "of", tmp_path / "p.csv")
    [p] = problems.items
    assert "FeatureExtraction failed (exit 1)" in p.problem
    assert "add `-mloc model/main_clnf_general.txt` to track.openface_args" in p.problem
    assert "Could not load the landmark detector" in p.problem and "HAAR" not in p.problem
    params["track"]["openface_args"] = ["-mloc", "model/main_clnf_general.txt"]
    problems = track_actor("05", params, man, tmp_path / "of2", tmp_path / "p2.csv")
    assert read_openface(tmp_path / "of2" / "Actor_05" / f"{IDS[0]}.csv").n == 5
    assert not [p for p in problems.items if "failed" in p.problem]
    params["track"]["openface_bin"] = [sys.executable, str(exe)]          # a list works too
    track_actor("05", params, man, tmp_path / "of3", tmp_path / "p3.csv")
    assert (tmp_path / "of3" / "Actor_05" / f"{IDS[0]}.csv").exists()


REAL_BIN = os.environ.get("OPENFACE_FEATURE_EXTRACTION", "")


@pytest.mark.skipif(not REAL_BIN, reason="set OPENFACE_FEATURE_EXTRACTION to a real OpenFace build "
                                         "(../shared/third_party/openface/build-debian.sh) to run this")
def test_openface_backend_with_a_real_build(tmp_path):
    """The openface backend end to end with a real FeatureExtraction (a benchmark tool: not in CI)."""
    clip = Path(__file__).resolve().parents[2].parent / "shared/data/real-faces/single_face.mp4"
    man = _manifest(tmp_path, [{"video_id": IDS[0], "path": str(clip), "frames": 72}])
    params = _params(tmp_path, backend="openface", openface_bin=REAL_BIN)
    [p] = track_actor("05", params, man, tmp_path / "of", tmp_path / "p.csv").items
    assert "track.openface_args" in p.problem                   # no CE-CLM files: named, with the fix
    params["track"]["openface_args"] = ["-mloc", "model/main_clnf_general.txt"]
    track_actor("05", params, man, tmp_path / "of2", tmp_path / "p2.csv")
    t = read_openface(tmp_path / "of2" / "Actor_05" / f"{IDS[0]}.csv")
    assert t.n == 72 and t.success.all() and t.blocks == tuple(DATA_BLOCKS)


# ---------------------------------------------------------------- precomputed backend

def _full_track(n: int) -> OpenFaceTrack:
    rng = np.random.default_rng(1)
    g = np.tile([0.0, 0.0, -1.0], (n, 1))
    return OpenFaceTrack(
        path="mem", frame=np.arange(1, n + 1), timestamp=np.arange(n) / 30, confidence=np.full(n, 0.9),
        success=np.ones(n, bool), gaze_0=g, gaze_1=g, gaze_angle=np.zeros((n, 2)),
        eye_lmk_2d=rng.uniform(0, 99, (n, 56, 2)), eye_lmk_3d=rng.uniform(0, 99, (n, 56, 3)),
        pose_T=np.ones((n, 3)), pose_R=np.zeros((n, 3)), lmk_2d=rng.uniform(0, 99, (n, 68, 2)),
        lmk_3d=rng.uniform(0, 99, (n, 68, 3)), pdm=np.zeros((n, 40)), au_r=np.zeros((n, 17)),
        au_c=np.zeros((n, 18)), blocks=tuple(DATA_BLOCKS))


def test_precomputed_backend_good_partial_malformed_missing(tmp_path):
    pre = tmp_path / "pre"
    (pre / "deep" / "er").mkdir(parents=True)
    (pre / "other").mkdir()
    write_openface(pre / "deep" / "er" / f"{IDS[0]}.csv", _full_track(4), sep=", ")
    write_openface(pre / "other" / f"{IDS[1]}.csv", _full_track(4), blocks=["au_r", "au_c"])
    full = pre / "tmp.csv"
    write_openface(full, _full_track(3))
    header, *rows = full.read_text().splitlines()
    keep = [i for i, c in enumerate(header.split(",")) if c not in ("Y_3", "Y_4")]
    (pre / f"{IDS[2]}.csv").write_text("\n".join(",".join(line.split(",")[i] for i in keep)
                                                 for line in [header] + rows) + "\n")
    full.unlink()
    man = _manifest(tmp_path, [{"video_id": v, "path": f"/videos/{v}.mp4", "frames": 4} for v in IDS])
    params = _params(tmp_path, backend="precomputed", precomputed_dir=str(pre))
    problems = track_actor("05", params, man, tmp_path / "of", tmp_path / "p.csv")
    out = tmp_path / "of" / "Actor_05"
    assert sorted(p.name for p in out.iterdir()) == [f"{IDS[0]}.csv", f"{IDS[1]}.csv"]
    t0 = read_openface(out / f"{IDS[0]}.csv")
    assert t0.sep == "," and t0.blocks == tuple(DATA_BLOCKS)
    t1 = read_openface(out / f"{IDS[1]}.csv")
    assert t1.blocks == ("au_r", "au_c")
    by = {}
    for p in read_problems(tmp_path / "p.csv"):
        by.setdefault(p["video_id"], []).append(p)
    assert "lacks block(s) gaze" in by[IDS[1]][0]["problem"]
    assert "malformed precomputed CSV" in by[IDS[2]][0]["problem"]
    assert "block lmk_3d (3D landmarks) is incomplete: missing ['Y_3', 'Y_4']" in by[IDS[2]][0]["problem"]
    assert "no precomputed OpenFace CSV" in by[IDS[3]][0]["problem"]
    assert by[IDS[3]][0]["action"] == "skipped"
    assert len(problems.items) == 3
    params["track"]["precomputed_dir"] = str(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="precomputed_dir"):
        track_actor("05", params, man, tmp_path / "of3", tmp_path / "p3.csv")
