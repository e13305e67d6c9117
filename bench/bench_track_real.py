"""Benchmark of the embedded tracker on real faces against real OpenFace 2.x output.

Reads the shared reference clips (``../shared/data/real-faces/``, never copied into the
repository; see its README) and prints, per clip:

* ``default.wmv`` (with OpenFace's CSV for every frame): pose r and mean absolute difference per
  column (as is and with each series' mean removed), AU intensity r and MAD per AU, presence F1
  per AU, each AU's correlation with head pitch (OpenFace's pitch) next to OpenFace's own, and
  the held-out check of the AU units (calibrated on alternate 24-frame blocks, see
  ``features/tracker/aus.py``; r on the other blocks; nan where the best unit would be negative,
  i.e. the measure moves against OpenFace's AU). Two diagnostics of what limits the
  agreement: the rotation bias when the same 2D landmarks are refitted with variants of the 3D
  face (the shipped mean face, its symmetric mirror average, all 68 points instead of the rigid
  ones), and per AU OpenFace's own correlation with its AU12 (cross-talk of its appearance
  models on this smiling, talking clip), the correlation of each of the AU's own measures
  (``aus.AU_RULES``, signed so that + = towards more of the AU) with OpenFace's AU, and the best
  correlation any single geometric measure of ``aus.MEASURES`` reaches with it (the ceiling of
  a one-measure proxy, whatever region it comes from);
* ``WolfgangLanger_Pexels.mp4`` (a hand over mouth and nose, frames 70-235; worst-covered
  96-134 by inspection: the hand over nose, mouth and one eye; from 138 the mouth shows
  again): mean confidence and success fraction in the covered, worst-covered and clear
  (< 60, > 245) stretches;
* ``single_face.mp4`` (neutral frames 0-10, a broad smile 20-68, by inspection): AU12 presence
  on each;
* frames per CPU second (decode + track + AUs; one thread) for every clip.

Targets (issue 11) are printed with each figure as met / NOT met.

    python bench/bench_track_real.py [--shared ../shared]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "threads;1")

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features.media.video import probe_media  # noqa: E402
from features.tracker import aus  # noqa: E402
from features.tracker.embedded import TrackerSettings, track_video  # noqa: E402
from features.tracker.models import camera_matrix, mean_face_3d  # noqa: E402
from features.tracker.pose import (  # noqa: E402
    RIGID_POINTS,
    euler_from_matrix,
    matrix_from_euler,
    to_head_frame,
)
from features.tracks.openface import AU_C, AU_R, read_openface  # noqa: E402

POSE = ["Tx", "Ty", "Tz", "Rx", "Ry", "Rz"]
MUST = ["01", "02", "04", "06", "12", "25", "45"]
# 68-point index of each landmark's mirror image (iBUG 300-W layout)
MIRROR = np.array(list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30]
                  + [35, 34, 33, 32, 31] + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
                  + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65])


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def corr(a: np.ndarray, b: np.ndarray) -> float:
    if a.std() < 1e-9 or b.std() < 1e-9:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def f1(pred: np.ndarray, truth: np.ndarray) -> float:
    tp = float(np.sum(pred & truth))
    fp, fn = float(np.sum(pred & ~truth)), float(np.sum(~pred & truth))
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else float("nan")


def ok(flag: bool) -> str:
    return "met" if flag else "NOT met"


def run(path: Path, settings: TrackerSettings):
    fps = probe_media(path).fps
    c0 = cpu()
    res = track_video(path, fps, settings)
    dt = cpu() - c0
    print(f"\n== {path.name}: {res.track.n} frames, {res.info['tracked']} success=1, "
          f"{res.track.n / dt:.1f} frames per CPU s ({res.info['width']}x{res.info['height']}); "
          f"person switches {res.info['person_switches']}; closed-eye frames "
          f"{res.info['closed_eye_frames']}; AU baseline: {res.info['au_baseline']}")
    return res


def refit_rotations(lmk2d: np.ndarray, model: np.ndarray, points: np.ndarray,
                    K: np.ndarray) -> np.ndarray:
    """Euler angles ``(n, 3)`` deg of the rigid fit of ``model[points]`` to each frame's 2D
    landmarks ``(n, 68, 2)`` (SQPnP, refined by Levenberg-Marquardt), without the tracker."""
    out = np.zeros((len(lmk2d), 3))
    obj = np.ascontiguousarray(model[points], dtype=np.float64)
    for i, lmk in enumerate(lmk2d):
        img = np.ascontiguousarray(lmk[points], dtype=np.float64)
        _, rvec, tvec = cv2.solvePnP(obj, img, K, None, flags=cv2.SOLVEPNP_SQPNP)
        _, rvec, tvec = cv2.solvePnP(obj, img, K, None, rvec, tvec, True, cv2.SOLVEPNP_ITERATIVE)
        out[i] = np.degrees(euler_from_matrix(cv2.Rodrigues(rvec)[0]))
    return out


def pose_sensitivity(lmk2d: np.ndarray, ref_deg: np.ndarray, width: int, height: int) -> None:
    """Mean rotation bias against OpenFace when the same 2D landmarks are fitted with variants
    of the 3D face: how much of the bias the mean face's shape decides."""
    K = camera_matrix(width, height)
    model = mean_face_3d()
    sym = (model + model[MIRROR] * [-1.0, 1.0, 1.0]) / 2.0
    sym = sym - sym.mean(axis=0)
    variants = [("shipped mean face, rigid points", model, RIGID_POINTS),
                ("mean face mirrored-averaged (symmetric)", sym, RIGID_POINTS),
                ("shipped mean face, all 68 points", model, np.arange(68))]
    print("refitting the same 2D landmarks: rotation bias vs OpenFace (deg) Rx / Ry / Rz;  r")
    for name, m, pts in variants:
        rot = refit_rotations(lmk2d, m, pts, K)
        bias = (rot - ref_deg).mean(axis=0)
        r = [corr(rot[:, k], ref_deg[:, k]) for k in range(3)]
        print(f"  {name:40s} {bias[0]:+6.2f} / {bias[1]:+6.2f} / {bias[2]:+6.2f};  "
              f"{r[0]:.3f} / {r[1]:.3f} / {r[2]:.3f}")


def default_clip(data: Path, settings: TrackerSettings) -> None:
    res = run(data / "default.wmv", settings)
    t = res.track
    of = read_openface(data / "default.openface.csv")
    if of.n != t.n:
        print(f"row mismatch: OpenFace {of.n}, embedded {t.n}")
        return
    both = t.success & of.success
    print(f"frames tracked by both: {int(both.sum())}")
    emb = np.concatenate([t.pose_T, np.degrees(t.pose_R)], 1)[both]
    ref = np.concatenate([of.pose_T, np.degrees(of.pose_R)], 1)[both]
    print("pose   r       MAD     bias    MAD(mean removed)   (T mm, R deg)")
    rot_ok = True
    for k, name in enumerate(POSE):
        a, b = emb[:, k], ref[:, k]
        r, bias = corr(a, b), float(np.mean(a - b))
        mad0 = float(np.mean(np.abs((a - a.mean()) - (b - b.mean()))))
        print(f"{name:5s} {r:6.3f}  {np.mean(np.abs(a - b)):7.2f}  {bias:+7.2f}  {mad0:7.2f}")
        if k >= 3:
            rot_ok &= r >= 0.95 and abs(bias) <= 2.0
    print(f"target rotations r >= 0.95 and |bias| <= 2 deg: {ok(rot_ok)}")
    pose_sensitivity(t.lmk_2d[both], ref[:, 3:], res.info["width"], res.info["height"])
    pitch = of.pose_R[both, 0]
    # every geometric measure the AUs are built from (aus.MEASURES), per frame
    Rm = np.stack([matrix_from_euler(e) for e in t.pose_R[both]])
    meas = aus.measurements(to_head_frame(t.lmk_3d[both], Rm, t.pose_T[both]))
    of12 = of.au_r[both, AU_R.index("12")]
    print("AU    r      MAD    F1(c)   r(AU,pitch) emb / OpenFace   held-out r (units)   "
          "OpenFace r(AU, its AU12)   own measures' r   best |r| of any measure")
    good, leak_ok, must_ok = 0, True, True
    raw = res.au_raw[both]
    blk = (np.arange(int(both.sum())) // 24) % 2 == 0
    for j, au in enumerate(AU_R):
        a, b = t.au_r[both, j], of.au_r[both, j]
        r = corr(a, b)
        jc = AU_C.index(au)
        fc = f1(t.au_c[both, jc] > 0.5, of.au_c[both, jc] > 0.5)
        pe, po = corr(a, pitch), corr(b, pitch)
        x = raw[:, j] - np.percentile(raw[:, j], 10)
        den = float(np.dot(x[blk], x[blk]))
        k = max(float(np.dot(x[blk], b[blk])) / den, 0.0) if den > 0 else 0.0   # unit > 0
        held = corr(np.clip(x[~blk] * k, 0, 5), b[~blk])
        good += int(r >= 0.5)
        if au in MUST:
            must_ok &= bool(r >= 0.5)
        if np.isfinite(pe):
            leak_ok &= bool(abs(pe) - (abs(po) if np.isfinite(po) else 0.0) <= 0.3)
        rm = np.array([corr(meas[:, i], b) for i in range(meas.shape[1])])
        best = int(np.nanargmax(np.abs(rm))) if np.isfinite(rm).any() else -1
        best_txt = f"{rm[best]:+6.2f} {aus.MEASURES[best]}" if best >= 0 else "   nan"
        own = " ".join(f"{rm[aus.MEASURES.index(m)] * np.sign(w):+.2f}"
                       for m, w in aus.AU_RULES[au][0])
        print(f"AU{au} {r:6.2f} {np.mean(np.abs(a - b)):6.2f}  {fc:6.2f}   {pe:+6.2f} / {po:+6.2f}"
              f"            {held:6.2f}               {corr(b, of12):+6.2f}                  "
              f"{own:15s}   {best_txt}")
    print(f"target AU r >= 0.5 for >= 12 of 17 AUs: {good} of 17: {ok(good >= 12)}; "
          f"incl. AU{', AU'.join(MUST)}: {ok(must_ok)}")
    print(f"target no AU's |r with pitch| above OpenFace's own by > 0.3: {ok(leak_ok)}")
    print(f"success=1 fraction (no occlusion in this clip): {t.success.mean():.3f}")


def wolfgang(data: Path, settings: TrackerSettings) -> None:
    res = run(data / "WolfgangLanger_Pexels.mp4", settings)
    t = res.track
    idx = np.arange(t.n)
    covered = (idx >= 70) & (idx <= 235)
    worst = (idx >= 96) & (idx <= 134)
    clear = (idx < 60) | (idx > 245)
    for name, m in [("covered 70-235", covered), ("worst 96-134", worst), ("clear", clear)]:
        print(f"{name:15s} mean confidence {t.confidence[m].mean():.3f}  success=1 "
              f"{t.success[m].mean():.3f}  ({int(m.sum())} frames)")
    print(f"target covered confidence clearly below clear: "
          f"{ok(t.confidence[covered].mean() < t.confidence[clear].mean() - 0.15)}; "
          f"worst-covered frames not success=1: {ok(not t.success[worst].any())} "
          f"({int(t.success[worst].sum())} of {int(worst.sum())} success=1)")


def single(data: Path, settings: TrackerSettings) -> None:
    res = run(data / "single_face.mp4", settings)
    t = res.track
    j, jc = AU_R.index("12"), AU_C.index("12")
    for name, sl in [("neutral 0-10", slice(0, 11)), ("smile 20-68", slice(20, 69))]:
        print(f"{name:13s} AU12_r mean {t.au_r[sl, j].mean():.2f}  AU12_c present "
              f"{t.au_c[sl, jc].mean():.2f}")
    print(f"target AU12 present on the smiling frames: {ok(t.au_c[20:69, jc].mean() >= 0.9)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"))
    args = parser.parse_args()
    data = Path(args.shared) / "data" / "real-faces"
    if not data.is_dir():
        print(f"{data}: shared reference clips not found", file=sys.stderr)
        return 2
    cv2.setNumThreads(1)
    settings = TrackerSettings()
    # load the models before timing
    track_video(data / "single_face.mp4", 30.0, settings)
    default_clip(data, settings)
    wolfgang(data, settings)
    single(data, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
