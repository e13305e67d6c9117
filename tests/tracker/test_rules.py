"""Issue 11 rules on small cases the tests build: one person per video (largest face, a cut to
another face is not followed), confidence under an occluder, precomputed CSVs with too many
rows, closed-eye gaze, AU baselines, and the standalone command."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from features.media.video import ffmpeg_exe
from features.tracker import aus
from features.tracker.__main__ import main as track_cli
from features.tracker.detect import Detection, pick_face
from features.tracker.embedded import report, track_video
from features.tracker.jobs import embedded_report_rows, precomputed_job, row_count_problem
from features.tracker.models import mean_face_3d
from features.tracks.frames import gaze_valid, interpolate
from features.tracks.openface import AU_C, AU_R, read_openface, write_openface
from tests.helpers.synthetic_faces import base_face, motion, render_clip
from tests.tracker.test_track import _full_track


def write_video(path: Path, frames: list[np.ndarray], fps: int = 30) -> Path:
    """H.264 clip of BGR ``frames`` through the bundled ffmpeg."""
    h, w = frames[0].shape[:2]
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s",
           f"{w}x{h}", "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset", "veryfast",
           "-crf", "18", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(cmd, input=b"".join(np.ascontiguousarray(f).tobytes() for f in frames),
                   check=True)
    return path


def face_patch(width: int) -> tuple[np.ndarray, np.ndarray]:
    """The portrait's face cut out (square around its landmarks) at ``width`` px, and its
    landmarks in the patch."""
    image, lmk = base_face()
    c = lmk.mean(axis=0)
    half = 1.3 * (lmk[:, 0].max() - lmk[:, 0].min()) / 2
    x0, y0 = int(c[0] - half), int(c[1] - half)
    crop = image[y0:y0 + int(2 * half), x0:x0 + int(2 * half)]
    s = width / crop.shape[1]
    return cv2.resize(crop, (width, width), interpolation=cv2.INTER_AREA), (lmk - (x0, y0)) * s


def background(w: int = 640, h: int = 360) -> np.ndarray:
    bg = np.full((h, w, 3), 96, np.uint8)
    cv2.randn(bg, 96, 12)
    return bg


# ---------------------------------------------------------------- one person per video

def test_pick_face_prefers_largest_then_central():
    small_central = Detection((300, 150, 380, 230), 3.0)       # higher score, smaller
    large = Detection((20, 40, 220, 240), 0.5)
    assert pick_face([small_central, large], (320, 180)) is large
    twin_left = Detection((0, 100, 200, 300), 1.0)
    twin_mid = Detection((220, 80, 415, 275), 0.1)             # within 10 % of the widest
    assert pick_face([twin_left, twin_mid], (320, 180)) is twin_mid
    assert pick_face([], (320, 180)) is None


@pytest.fixture(scope="module")
def two_faces(tmp_path_factory):
    """30 frames with a large face (left) and a small one (right), then a cut: 15 frames with
    only the small face."""
    big, big_l = face_patch(250)
    small, small_l = face_patch(160)
    frames = []
    big_at, small_at = (30, 60), (430, 120)
    for i in range(45):
        f = background()
        if i < 30:
            f[big_at[1]:big_at[1] + 250, big_at[0]:big_at[0] + 250] = big
        f[small_at[1]:small_at[1] + 160, small_at[0]:small_at[0] + 160] = small
        frames.append(f)
    path = write_video(tmp_path_factory.mktemp("two") / "two.mp4", frames)
    return path, big_l.mean(axis=0) + big_at, small_l.mean(axis=0) + small_at


def test_largest_face_followed_and_cut_to_other_face_not_followed(two_faces):
    path, big_c, small_c = two_faces
    res = track_video(path, 30.0)
    t = res.track
    centre = t.lmk_2d.mean(axis=1)
    assert t.success[:30].mean() > 0.9
    assert np.all(np.linalg.norm(centre[:30][t.success[:30]] - big_c, axis=1) < 20)
    # after the cut only the other (smaller) face is visible: never success = 1 on it
    assert not t.success[30:].any()
    assert res.info["person_switches"] >= 1
    assert res.info["other_person_runs"][0][0] in (30, 31)
    rows = embedded_report_rows(res)
    assert rows[0][0].startswith("AU baseline: fallback")
    assert any("person switch" in p and "not followed" in a for p, a, _ in rows)
    assert report(res)["person_switches"] == res.info["person_switches"]


# ---------------------------------------------------------------- confidence

@pytest.fixture(scope="module")
def occluded(tmp_path_factory):
    """40 frames of the moving portrait; frames 15-29 with a skin-coloured textured occluder
    pasted over mouth and nose (a hand's stand-in)."""
    image, lmk = base_face()
    mats = motion(40, 640, 360, 190, seed=3, amplitude=0.5)
    rng = np.random.default_rng(0)
    frames = []
    for i in range(40):
        f = cv2.warpAffine(image, mats[i], (640, 360), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT)
        if 15 <= i < 30:
            pts = lmk @ mats[i][:, :2].T + mats[i][:, 2]
            x0, y0 = pts[[1, 29]].min(axis=0).astype(int)          # cheek to nose bridge
            x1, y1 = pts[[15, 8]].max(axis=0).astype(int) + 10     # to the chin
            patch = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
            patch[:] = (120, 150, 200)                               # skin tone (BGR)
            noise = rng.normal(0, 18, patch.shape[:2])[..., None]
            patch = np.clip(patch + noise, 0, 255).astype(np.uint8)
            for k in range(4):                                       # finger edges
                xs = int(x0 + (k + 1) * (x1 - x0) / 5) - x0
                patch[:, max(xs - 2, 0):xs + 2] = (70, 90, 130)
            f[y0:y1, x0:x1] = patch
        frames.append(f)
    return write_video(tmp_path_factory.mktemp("occ") / "occ.mp4", frames)


def test_occluder_over_the_mouth_lowers_confidence_and_success(occluded):
    res = track_video(occluded, 30.0)
    t = res.track
    clear = np.r_[0:13, 32:40]
    cover = np.arange(16, 30)
    assert t.confidence[clear].mean() > 0.7 and t.success[clear].all()
    assert t.confidence[cover].mean() < t.confidence[clear].mean() - 0.3
    assert t.success[cover].mean() < 0.2
    assert res.info["low_confidence_fraction"] > 0.2


# ---------------------------------------------------------------- precomputed CSV row count

def test_precomputed_csv_with_too_many_rows_refused(tmp_path):
    src = tmp_path / "pre" / "v.csv"
    src.parent.mkdir()
    write_openface(src, _full_track(10))
    item = {"video_id": "v", "path": "/videos/v.mp4", "frames": 4}
    res = precomputed_job(item, [str(src)], str(tmp_path), row_tolerance=2)
    assert not res.written and not (tmp_path / "v.csv").exists()
    (problem, action, fatal), = res.problems
    assert "has 10 rows but the video has 4 frames" in problem and str(src) in problem
    assert "track.row_tolerance 2" in problem and action == "skipped" and fatal
    ok = precomputed_job(dict(item, frames=9), [str(src)], str(tmp_path), row_tolerance=2)
    assert ok.written and read_openface(tmp_path / "v.csv").n == 10
    assert any("within track.row_tolerance" in p for p, _, _ in ok.problems)
    assert row_count_problem(10, 0, 2, "x") is None                # frame count unknown


# ---------------------------------------------------------------- closed eyes: gaze invalid

def test_closed_eye_gaze_is_interpolated_like_untracked_frames():
    t = _full_track(5)
    t.gaze_0[:] = t.gaze_1[:] = [0.0, 0.0, -1.0]
    t.gaze_angle[:] = [[0.1, 0.0], [0.2, 0.0], [9.0, 9.0], [0.4, 0.0], [0.5, 0.0]]
    t.gaze_0[2] = t.gaze_1[2] = 0.0                                 # closed eye on frame 2
    assert list(gaze_valid(t)) == [True, True, False, True, True]
    g = interpolate(t.gaze_angle, t, np.arange(5), gaze_valid(t))
    np.testing.assert_allclose(g[:, 0], [0.1, 0.2, 0.3, 0.4, 0.5])
    assert interpolate(t.gaze_angle, t, np.arange(5))[2, 0] == 9.0  # other features unchanged


# ---------------------------------------------------------------- AUs

def test_au_baseline_is_a_low_percentile_not_the_stillest_frames():
    """A smile held through most of a clip: the stillest frames are the smile, yet AU12 shows
    on it (the baseline is each AU's low percentile), and rigid pitch does not leak."""
    n = 60
    head = np.repeat(mean_face_3d()[None], n, axis=0).copy()
    head[8:60, [48, 54], 1] -= 8.0            # lip corners up 8 mm from frame 8 on (held smile)
    head[8:60, 48, 0] -= 3.0                   # and the mouth widens 6 mm
    head[8:60, 54, 0] += 3.0
    success = np.ones(n, bool)
    m = aus.measurements(head)
    pitch = np.radians(8.0) * np.sin(np.arange(n) / 5.0)
    leak = m.copy()
    leak[:, aus.MEASURES.index("inner_brow")] += 20.0 * pitch      # brow height follows pitch
    euler = np.stack([pitch, np.zeros(n), np.zeros(n)], 1)
    fixed = aus.decorrelate_pose(leak, euler, success)
    raw = aus.au_values(fixed)
    base = aus.baseline(raw, np.arange(n), 10.0)
    au_r, au_c = aus.estimate_aus(raw, success, base)
    j = AU_R.index("12")
    # 11 mm / 6.2 mm per level = 1.8, less what the pose regression removes by chance
    assert au_r[10:, j].min() > 1.0 and au_r[:8, j].max() < 0.1
    assert au_c[10:, AU_C.index("12")].all()
    brow = aus.MEASURES.index("inner_brow")
    # the brow's swing with pitch (+-2.8 mm) is removed down to the ridge's shrinkage (< 5 %)
    assert fixed[:, brow].std() < 0.05 * leak[:, brow].std()
    assert np.all(au_r[:, [AU_R.index(a) for a in aus.UNFOLLOWED]] == 0)


# ---------------------------------------------------------------- the standalone command

def test_standalone_command_writes_csv_and_report(tmp_path, occluded):
    clip = tmp_path / "clip.mp4"
    render_clip(clip, n_frames=12, width=320, height=240, seed=1)
    out = tmp_path / "out"
    assert track_cli([str(clip), str(occluded), "-o", str(out), "--min-confidence", "0.3",
                      "--params", str(Path(__file__).resolve().parents[2] / "params.yaml")]) == 0
    t = read_openface(out / "clip.csv")
    assert t.n == 12 and t.success.all() and t.variant == "openface2"
    rep = json.loads((out / "occ.report.json").read_text())
    assert rep["frames"] == 40 and rep["low_confidence_fraction"] > 0
    assert rep["au_baseline"].startswith("fallback") and "AU09" in rep["aus_not_followed"]
    assert track_cli([str(occluded), "-o", str(tmp_path / "n"), "--neutral", str(clip)]) == 0
    rep = json.loads((tmp_path / "n" / "occ.report.json").read_text())
    assert rep["au_baseline"] == (f"neutral clip {clip}: 10th percentile per AU over its 12 "
                                  "tracked frames")
    assert track_cli([str(tmp_path / "missing.mp4"), "-o", str(out)]) == 1
    with pytest.raises(SystemExit):
        track_cli([str(clip), "-o", str(out), "--min-confidence", "2"])
