"""Benchmark of the embedded tracker: accuracy against truth, speed against decoding, memory.

Accuracy (NME / detection rate / jitter, ``tests.helpers.landmark_scores``) on

* the demo corpus (``features.demo.corpus.generate_corpus``, ground truth landmarks), generated
  into a temporary folder at ``--width x --height`` unless ``--corpus``/``--truth`` point at an
  existing one;
* synthetic clips (``tests.helpers.synthetic_faces``: the portrait under a known affine motion, with
  a stretch of frames without a face, so the detection rate and false tracks are exercised).

Speed, single core: OpenCV runs with one thread (``cv2.setNumThreads(1)``, FFmpeg decoding with
``threads;1``) so CPU seconds (user + sys from ``resource.getrusage``) equal core seconds. Reported
per video set: end-to-end embedded tracking (decode + track + CSV write) frames per CPU second,
OpenCV decode-only and ffmpeg decode-only (``ffmpeg -threads 1 -i v -f null -``) of the same
videos in the same run, and tracking / decode ratios; then dlib's landmark predictor alone (CPU
ms per call, one call per frame) and, with OpenCV decoding, the floor of the per-frame cost on
this machine. Peak memory: ``ru_maxrss`` of this process.

    python bench/bench_track.py                       # demo tiny (actors 01-02) + synthetic, 1280x720
    python bench/bench_track.py --width 640 --height 360 --actors 1 2 3 4
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "threads;1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.media.video import ffmpeg_exe, iter_frames  # noqa: E402
from features.tracker.detect import detect_face  # noqa: E402
from features.tracker.embedded import TrackerSettings, track_video  # noqa: E402
from features.tracker.landmarks import fit_landmarks, roi_bounds  # noqa: E402
from features.tracks.openface import write_openface  # noqa: E402
from tests.helpers.landmark_scores import combine_scores, score_landmarks  # noqa: E402
from tests.helpers.synthetic_faces import render_clip  # noqa: E402


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def demo_clips(args, work: Path) -> list[tuple[Path, Path]]:
    """(video, truth .npy) pairs of the demo corpus (generated unless given)."""
    if args.corpus:
        corpus, truth = Path(args.corpus), Path(args.truth)
    else:
        try:
            from features.demo.corpus import generate_corpus
        except ImportError:
            print("demo corpus module not available; synthetic clips only")
            return []
        corpus, truth = work / "demo" / "corpus", work / "demo" / "truth"
        generate_corpus(corpus, truth, size="tiny", seed=7, width=args.width, height=args.height,
                        jobs=args.jobs, actors=args.actors)
    pairs = []
    for v in sorted(corpus.rglob("*.mp4")):
        t = truth / v.parent.name / f"{v.stem}.npy"
        if t.exists():
            pairs.append((v, t))
    return pairs


def synthetic_clips(args, work: Path) -> list[tuple[Path, Path]]:
    pairs = []
    for i in range(args.synthetic):
        v = work / "synthetic" / f"clip{i}.mp4"
        truth = render_clip(v, n_frames=100, width=args.width, height=args.height, seed=i,
                            blank=range(40, 50) if i % 2 == 0 else ())
        np.save(v.with_suffix(".npy"), truth)
        pairs.append((v, v.with_suffix(".npy")))
    return pairs


def run_set(name: str, pairs: list[tuple[Path, Path]], settings: TrackerSettings, work: Path) -> dict:
    """Track, score and time one set of clips; decode-only timings of the same files."""
    scores, frames = [], 0
    out = work / "csv"
    out.mkdir(exist_ok=True)
    c0, w0 = cpu_self(), time.perf_counter()
    for video, truth_path in pairs:
        res = track_video(video, 30.0, settings)
        write_openface(out / f"{video.stem}.csv", res.track)
        scores.append(score_landmarks(res.track.lmk_2d, np.load(truth_path), res.track.success))
        frames += res.track.n
    track_cpu, track_wall = cpu_self() - c0, time.perf_counter() - w0
    c0 = cpu_self()
    decoded = sum(1 for v, _ in pairs for _ in iter_frames(v))
    cv_cpu = cpu_self() - c0
    c0 = cpu_children()
    for v, _ in pairs:
        subprocess.run([ffmpeg_exe(), "-v", "error", "-threads", "1", "-i", str(v), "-f", "null",
                        "-"], check=True)
    ff_cpu = cpu_children() - c0
    total = combine_scores(scores)
    return {
        "set": name, "videos": len(pairs), "frames": frames, **total,
        "track_fps_per_core": frames / track_cpu, "track_fps_wall": frames / track_wall,
        "opencv_decode_fps_per_core": decoded / cv_cpu, "ffmpeg_decode_fps_per_core": frames / ff_cpu,
        "track_vs_opencv_decode": (frames / track_cpu) / (decoded / cv_cpu),
        "track_vs_ffmpeg_decode": (frames / track_cpu) / (frames / ff_cpu),
    }


def predictor_ms(video: Path, calls: int = 200) -> float:
    """CPU ms per call of dlib's 68-point predictor alone (the tracker calls it once per frame)
    on the first detected face of ``video``: with decoding, the floor of the per-frame cost."""
    frame = next(f for _, f in iter_frames(video))
    det = detect_face(frame, 1.0)
    if det is None:
        return float("nan")
    x0, y0, x1, y1 = roi_bounds(det.box, frame.shape)
    gray = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
    fit_landmarks(gray, det.box, (x0, y0))
    c0 = cpu_self()
    for _ in range(calls):
        fit_landmarks(gray, det.box, (x0, y0))
    return (cpu_self() - c0) / calls * 1000.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--synthetic", type=int, default=2, help="synthetic clips (100 frames each)")
    ap.add_argument("--corpus", default="", help="existing demo corpus folder (Actor_XX/*.mp4)")
    ap.add_argument("--truth", default="", help="its truth folder (Actor_XX/<id>.npy)")
    ap.add_argument("--jobs", type=int, default=2, help="workers for generating the demo clips")
    ap.add_argument("--detect-every", type=int, default=10)
    ap.add_argument("--detect-scale", type=float, default=0.5)
    ap.add_argument("--json", default="", help="also write the results here")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    settings = TrackerSettings(detect_every=args.detect_every, detect_scale=args.detect_scale)
    with tempfile.TemporaryDirectory(prefix="bench_track_") as tmp:
        work = Path(tmp)
        sets = [("demo", demo_clips(args, work)), ("synthetic", synthetic_clips(args, work))]
        track_video(sets[-1][1][0][0], 30.0, settings)          # warm-up: load dlib models
        results = [run_set(name, pairs, settings, work) for name, pairs in sets if pairs]
        fit_ms = predictor_ms(next(pairs[0][0] for _, pairs in sets if pairs))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"embedded tracker, {args.width}x{args.height}, detect_every={settings.detect_every}, "
          f"detect_scale={settings.detect_scale}, 1 thread")
    head = (f"{'set':10s} {'videos':>6s} {'frames':>6s} {'NME':>7s} {'NMEp95':>7s} {'det.rate':>8s} "
            f"{'false':>5s} {'jitter':>7s} {'trk fps/core':>12s} {'wall fps':>8s} "
            f"{'cv2 dec':>8s} {'ffmpeg dec':>10s} {'trk/cv2':>7s} {'trk/ff':>7s}")
    print(head)
    for r in results:
        print(f"{r['set']:10s} {r['videos']:6d} {r['frames']:6d} {r['nme']:7.4f} {r['nme_p95']:7.4f} "
              f"{r['detection_rate']:8.4f} {r['false_tracks']:5d} {r['jitter']:7.4f} "
              f"{r['track_fps_per_core']:12.1f} {r['track_fps_wall']:8.1f} "
              f"{r['opencv_decode_fps_per_core']:8.1f} {r['ffmpeg_decode_fps_per_core']:10.1f} "
              f"{r['track_vs_opencv_decode']:7.3f} {r['track_vs_ffmpeg_decode']:7.3f}")
    dec_ms = 1000.0 / results[0]["opencv_decode_fps_per_core"]
    print(f"dlib landmark predictor alone: {fit_ms:.2f} CPU ms per call (one per frame); with "
          f"OpenCV decoding ({dec_ms:.2f} ms per frame, set '{results[0]['set']}') the floor is "
          f"{fit_ms + dec_ms:.2f} ms per frame, i.e. at most {1000.0 / (fit_ms + dec_ms):.0f} "
          f"frames/s per core before detection, pose, eyes and AUs")
    print(f"peak memory (ru_maxrss): {peak_mib:.0f} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "peak_mib": peak_mib,
                                               "predictor_ms": fit_ms,
                                               "width": args.width, "height": args.height},
                                              indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
