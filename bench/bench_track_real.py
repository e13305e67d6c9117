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

* OpenFace's own models (issue 23) next to the geometric fallback, on every shared clip: per-AU
  r and MAD, presence F1 and pose r / bias against the published OpenFace CSV of ``default.wmv``
  (static models, as that reference used) and against the CSVs of a real FeatureExtraction build
  (``openface-2.0.6-clnf/``: ``default.au_static.csv`` static, the other three dynamic; frames
  both tracked), and the milliseconds per frame of the PDM fit and of the AU step (alignment,
  FHOG, linear models; one core). ``--openface-bin`` (a built FeatureExtraction) adds clips that
  have no shipped reference (``--extra-clips``, e.g. demo-corpus videos): the binary is run on
  them with the CLNF landmark model and the static / dynamic model sets.

Targets (issues 11 and 23) are printed with each figure as met / NOT met.

    python bench/bench_track_real.py [--shared ../shared] [--openface-bin BIN --extra-clips V ...]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "threads;1")

import argparse  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features.media.video import iter_frames, probe_media  # noqa: E402
from features.tracker import aus, openface_aus, openface_models, pdm  # noqa: E402
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


def compare(t, of, label: str) -> dict[str, float]:
    """Per-AU r / MAD / presence F1 and rotation r / bias of track ``t`` against reference ``of``
    on the frames both tracked; printed as one block, returned as a summary."""
    both = t.success.astype(bool) & of.success.astype(bool)
    out: dict[str, float] = {"frames": int(both.sum())}
    rs = []
    cells = []
    for j, au in enumerate(AU_R):
        a, b = t.au_r[both, j], of.au_r[both, j]
        r = corr(a, b)
        rs.append(r)
        cells.append(f"AU{au} {r:5.2f} {np.mean(np.abs(a - b)):4.2f}")
    f1s = [f1(t.au_c[both, k] > 0.5, of.au_c[both, k] > 0.5) for k in range(len(AU_C))]
    rot = []
    for k in range(3):
        a, b = np.degrees(t.pose_R[both, k]), np.degrees(of.pose_R[both, k])
        rot.append((corr(a, b), float(np.mean(a - b))))
    out["median_r"] = float(np.nanmedian(rs))
    out["r"] = rs
    out["rot"] = rot
    print(f"  {label}: {int(both.sum())} frames both tracked; median AU r {out['median_r']:.3f}; "
          f"presence F1 mean {np.nanmean(f1s):.2f}; Rx/Ry/Rz r {rot[0][0]:.3f}/{rot[1][0]:.3f}/"
          f"{rot[2][0]:.3f} bias {rot[0][1]:+.2f}/{rot[1][1]:+.2f}/{rot[2][1]:+.2f} deg")
    for i in range(0, len(cells), 6):
        print("    " + " | ".join(cells[i:i + 6]))
    return out


def au_step_timing(path: Path, lmk2d: np.ndarray, success: np.ndarray,
                   models: openface_models.OpenFaceModels) -> tuple[float, float, float]:
    """ms per tracked frame (one core) of the PDM fit, of the AU features (alignment + FHOG +
    geometry) and of the per-video prediction, re-run on the tracked landmarks."""
    t_fit = t_feat = 0.0
    feats = np.zeros((len(success), openface_aus.feature_size(models)), np.float32)
    for i, (_, frame) in enumerate(iter_frames(path)):
        if i >= len(success) or not success[i]:
            continue
        c0 = time.perf_counter()
        fit = pdm.fit(models.pdm, lmk2d[i])
        c1 = time.perf_counter()
        face = openface_aus.align_face(frame, lmk2d[i], fit.params, models)
        nonrigid = (models.pdm.modes @ fit.local).T.ravel()
        feats[i] = np.concatenate([openface_aus.fhog_vector(face), nonrigid, fit.local])
        c2 = time.perf_counter()
        t_fit, t_feat = t_fit + c1 - c0, t_feat + c2 - c1
    c0 = time.perf_counter()
    openface_aus.predict(models, feats, success)
    t_pred = time.perf_counter() - c0
    n = max(int(success.sum()), 1)
    return 1000 * t_fit / n, 1000 * t_feat / n, 1000 * t_pred / n


def run_openface_build(binary: str, clip: Path, static: bool) -> Path:
    """A real FeatureExtraction (CLNF landmarks) on ``clip``; the CSV it writes."""
    out = Path(tempfile.mkdtemp(prefix="of-bench-"))
    cmd = [binary, "-f", str(clip), "-out_dir", str(out), "-2Dfp", "-3Dfp", "-pdmparams", "-pose",
           "-aus", "-mloc", "model/main_clnf_general.txt"] + (["-au_static"] if static else [])
    subprocess.run(cmd, check=True, capture_output=True)
    return out / f"{clip.stem}.csv"


def openface_models_section(data: Path, au_dir: Path, extra: list[Path], binary: str) -> None:
    """OpenFace's models against the geometric fallback on every shared clip (module docstring)."""
    build = data / "openface-2.0.6-clnf"
    geometric = TrackerSettings(openface_models="none")
    sets = {m: TrackerSettings(openface_models=str(au_dir), au_models=m) for m in ("static", "dynamic")}
    print(f"\n== OpenFace's own models ({au_dir}) next to the geometric fallback")
    refs = [("default.wmv", "default.openface.csv", "static", "published OpenFace output")]
    refs += [("default.wmv", "openface-2.0.6-clnf/default.au_static.csv", "static", "build, -au_static"),
             ("default.wmv", "openface-2.0.6-clnf/default.csv", "dynamic", "build, dynamic"),
             ("single_face.mp4", "openface-2.0.6-clnf/single_face.csv", "dynamic", "build, dynamic"),
             ("WolfgangLanger_Pexels.mp4", "openface-2.0.6-clnf/WolfgangLanger_Pexels.csv", "dynamic",
              "build, dynamic")]
    if binary:
        for clip in extra:
            for m in ("static", "dynamic"):
                refs.append((str(clip), str(run_openface_build(binary, clip, m == "static")), m,
                             f"build run now, {m}"))
    cache: dict[tuple[str, str], object] = {}
    build_medians = []
    default_pub = {}
    for clip, ref, model_set, what in refs:
        path = Path(clip) if Path(clip).is_absolute() else data / clip
        ref_path = Path(ref) if Path(ref).is_absolute() else data / ref
        if not ref_path.exists():
            print(f"  {ref_path}: missing, skipped")
            continue
        of = read_openface(ref_path)
        print(f"\n-- {path.name} against {ref_path.name} ({what})")
        for label, st in (("OpenFace models, " + model_set, sets[model_set]), ("geometric fallback", geometric)):
            key = (str(path), label)
            if key not in cache:
                cache[key] = track_video(path, probe_media(path).fps, st)
            res = cache[key]
            if res.track.n != of.n:
                print(f"  {label}: {res.track.n} rows vs the reference's {of.n}: skipped")
                continue
            summary = compare(res.track, of, label)
            if label.startswith("OpenFace") and ref_path.parent.name == build.name:
                build_medians.append(summary["median_r"])
            if ref_path.name == "default.openface.csv":
                default_pub[label] = summary
    pub = default_pub.get("OpenFace models, static")
    if pub:
        varying = [j for j in range(17) if read_openface(data / "default.openface.csv").au_r[:, j].std() > 0.1]
        good = [AU_R[j] for j in varying if pub["r"][j] >= 0.5]
        must = all(pub["r"][AU_R.index(a)] >= 0.5 for a in MUST)
        rot_ok = all(r >= 0.95 and abs(b) <= 2.0 for r, b in pub["rot"])
        print(f"\ntarget default.wmv vs the published CSV (static): AU r >= 0.5 for >= 12 of the "
              f"{len(varying)} AUs that vary: {len(good)} of {len(varying)}: {ok(len(good) >= 12)}; incl. "
              f"AU{', AU'.join(MUST)}: {ok(must)}; rotations r >= 0.95, |bias| <= 2 deg: {ok(rot_ok)}")
    if build_medians:
        med = float(np.median(build_medians))
        print(f"target median per-AU r >= 0.9 against the build's CSVs: per clip "
              f"{', '.join(f'{m:.3f}' for m in build_medians)}; median {med:.3f}: {ok(med >= 0.9)}")
    res = cache.get((str(data / "default.wmv"), "OpenFace models, static"))
    if res is not None:
        models = openface_models.load(au_dir, "static")
        fit_ms, feat_ms, pred_ms = au_step_timing(data / "default.wmv", res.track.lmk_2d,
                                                  res.track.success.astype(bool), models)
        au_ms = feat_ms + pred_ms
        print(f"ms per frame at 640x480 on one core: PDM fit {fit_ms:.2f} (pose and shape), AU step "
              f"{au_ms:.2f} (alignment + FHOG + geometry {feat_ms:.2f}, linear models and "
              f"post-processing {pred_ms:.2f}); target AU step <= 3 ms: {ok(au_ms <= 3.0)}; "
              f"with the PDM fit {fit_ms + au_ms:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"))
    parser.add_argument("--openface-bin", default="", help="a built FeatureExtraction, for --extra-clips")
    parser.add_argument("--extra-clips", nargs="*", default=[], help="clips without a shipped reference")
    parser.add_argument("--only-openface", action="store_true", help="only the OpenFace-models section")
    args = parser.parse_args()
    data = Path(args.shared) / "data" / "real-faces"
    if not data.is_dir():
        print(f"{data}: shared reference clips not found", file=sys.stderr)
        return 2
    cv2.setNumThreads(1)
    settings = TrackerSettings(openface_models="none")     # the geometric tracker's own figures
    # load the models before timing
    track_video(data / "single_face.mp4", 30.0, settings)
    if not args.only_openface:
        default_clip(data, settings)
        wolfgang(data, settings)
        single(data, settings)
    au_dir = Path(args.shared) / "third_party" / "openface"
    if openface_models.au_predictors_dir(au_dir) is not None:
        openface_models_section(data, openface_models.locate(str(au_dir)),
                                [Path(c) for c in args.extra_clips], args.openface_bin)
    else:
        print(f"\n{au_dir}: no OpenFace models, the OpenFace-models section is skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
