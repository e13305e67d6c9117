"""Benchmark of live mode for the efficient feature set: embedded tracker + face KPD + LMS + Multi-Net.

For each resolution a demo recording (real portrait, synthetic speech; several demo clips of one
actor joined into one ~13 s video with audio) is scored by ``features.predict.live.run_live``
exactly as ``python -m stages.predict --live FILE`` does, with five fold models of the paper's
LMS + KPD Multi-Net (the ``train`` params with null hyperparameters -> Table C.1 values; random
weights unless ``--models`` points at trained ones: speed does not depend on the weights).

* **throughput**: the file read as fast as it is processed (``pace=False``): frames / wall
  seconds spent decoding, tracking and scoring, on one core (the process, and the ffmpeg audio
  reader it starts, are pinned to one CPU with ``sched_setaffinity``; torch and OpenCV use one
  thread); and frames per CPU second (this process + the ffmpeg child), which other processes
  sharing the core do not inflate;
* **latency**: the file played at its own frame rate (``pace=True``, as from a camera): per
  window, wall time from the arrival of its last input (video frame or audio chunk) to its
  probabilities; median and 95th percentile. The first window also waits for the one-off
  first-seconds neutral reference (reported separately).

    python bench/bench_live.py                         # 640x360 and 1280x720
    python bench/bench_live.py --sizes 640x360 --folds 1   # one fold model (predict.fold: K)
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "threads;1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.core.config import load_params  # noqa: E402
from features.demo.corpus import clip_specs, render_clip  # noqa: E402
from features.media.video import ffmpeg_exe  # noqa: E402
from features.predict.live import run_live  # noqa: E402
from features.predict.recording import feature_spec  # noqa: E402
from features.tracker.embedded import TrackerSettings  # noqa: E402
from features.visual.kpd import face_landmarks, kpd_dims  # noqa: E402
from models.hparams import resolve_experiment  # noqa: E402
from models.predict import load_fold_model  # noqa: E402
from models.training import build_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def random_fold_models(out: Path, params: dict, folds: int = 5) -> list[Path]:
    """Five checkpoints of the paper's LMS + face KPD Multi-Net with random weights."""
    train = dict(params["train"], modalities=["lms", "kpd_face"], lr=None, batch_size=None,
                 epochs=None, filters=None, scales=None)
    exp = resolve_experiment(train)
    marks = face_landmarks(params["kpd"].get("face_landmarks", "default"))
    dims = {"lms": int(params["features"]["lms"]["n_mels"]),
            "kpd_face": kpd_dims("face", params["kpd"]["normalisation"], marks)}
    features = {
        "lms": {"features": {"lms": params["features"]["lms"], "audio": params["features"]["audio"]}},
        "kpd_face": {"kpd": params["kpd"], "frames": params["frames"], "landmarks": list(marks),
                     "dims": dims["kpd_face"]},
    }
    paths = []
    for k in range(folds):
        torch.manual_seed(k)
        model = build_model(exp, dims).eval()
        ckpt = {"format": "hmd-emotion/multinet-v1", "state_dict": model.state_dict(),
                "experiment": exp.to_dict(), "in_dims": dims,
                "standardisers": {m: {"mean": torch.zeros(d), "std": torch.ones(d)}
                                  for m, d in dims.items()},
                "features": features, "fold": k}
        path = out / f"fold_{k}" / "model.pt"
        path.parent.mkdir(parents=True)
        torch.save(ckpt, path)
        paths.append(path)
    return paths


def demo_recording(out: Path, width: int, height: int, clips: int) -> Path:
    """``clips`` demo clips of actor 01 joined into one video with audio."""
    corpus = out / f"corpus_{width}x{height}"
    specs = clip_specs("default", [1])[:clips]
    paths = [render_clip(spec, corpus, out / f"truth_{width}x{height}", width=width,
                         height=height) for spec in specs]
    listing = out / f"list_{width}.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in paths))
    video = out / f"live_{width}x{height}.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i",
                    str(listing), "-c", "copy", str(video)], check=True)
    return video


def measure(video: Path, models: list, params: dict, hop: int) -> dict:
    first = models[0]
    spec = feature_spec(first.modalities, first.features)
    tracker = TrackerSettings.from_params(params["track"])
    common = dict(models=models, spec=spec, tracker=tracker, hop=hop, neutral="first_seconds",
                  neutral_seconds=2.0, calibration=None, echo=None)
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    fast = run_live(str(video), pace=False, **common)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)   # ffmpeg audio
    live = run_live(str(video), pace=True, **common)
    lat = np.array([ln.latency_ms for ln in live.lines])
    cpu_ms = [ln.score_cpu_ms for ln in fast.lines]
    rest = lat[1:] if len(lat) > 1 else lat
    return {
        "size": f"{fast.width}x{fast.height}", "frames": fast.frames, "fps_source": fast.fps,
        "windows": len(live.lines),
        "throughput_fps_one_core": round(fast.frames / fast.process_seconds, 1),
        "throughput_fps_per_cpu_second": round(fast.frames / (fast.cpu_seconds + child_cpu), 1),
        "realtime_processing_fps": round(live.frames / live.process_seconds, 1),
        "latency_ms_median": round(float(np.median(lat)), 1),
        "latency_ms_p95": round(float(np.percentile(lat, 95)), 1),
        "latency_ms_max": round(float(lat.max()), 1),
        "latency_ms_p95_without_first_window": round(float(np.percentile(rest, 95)), 1),
        "first_seconds_reference_s": round(live.calibration_seconds, 3),
        "window_scoring_ms_median": round(float(np.median([ln.score_ms for ln in fast.lines])), 1),
        "window_scoring_cpu_ms_median": round(float(np.median(cpu_ms)), 1),
        "window_scoring_cpu_ms_p95": round(float(np.percentile(cpu_ms, 95)), 1),
        "load_average_1min": round(os.getloadavg()[0], 1),
        "tracked_mean": round(float(np.mean([ln.tracked for ln in live.lines])), 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["640x360", "1280x720"])
    ap.add_argument("--clips", type=int, default=4, help="demo clips joined per recording")
    ap.add_argument("--hop", type=int, default=15, help="model frames between windows")
    ap.add_argument("--folds", type=int, default=5, help="fold models averaged (5; 1 = predict.fold K)")
    ap.add_argument("--models", help="folder of fold_K/model.pt (default: random paper-size models)")
    ap.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: the first allowed)")
    args = ap.parse_args(argv)
    cpus = sorted(os.sched_getaffinity(0))
    cpu = cpus[0] if args.cpu is None else args.cpu
    os.sched_setaffinity(0, {cpu})
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    params = load_params(REPO / "params.yaml")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_live-") as tmp:
        tmp = Path(tmp)
        paths = sorted(Path(args.models).glob("fold_*/model.pt")) if args.models else \
            random_fold_models(tmp / "models", params, args.folds)
        models = [load_fold_model(p) for p in paths]
        for size in args.sizes:
            w, h = (int(v) for v in size.split("x"))
            video = demo_recording(tmp, w, h, args.clips)
            res = measure(video, models, params, args.hop)
            res["cpu"] = cpu
            res["models"] = f"{len(models)} x {'+'.join(models[0].modalities)}"
            print(json.dumps(res), flush=True)
            results.append(res)
    print()
    print("| size | frames | windows | frames/s (1 core, wall) | frames per CPU s | "
          "window scoring CPU ms (median / p95) | latency median ms | latency p95 ms | "
          "p95 without 1st window | first-seconds reference s | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['size']} | {r['frames']} | {r['windows']} | {r['throughput_fps_one_core']} | "
              f"{r['throughput_fps_per_cpu_second']} | {r['window_scoring_cpu_ms_median']} / "
              f"{r['window_scoring_cpu_ms_p95']} | "
              f"{r['latency_ms_median']} | {r['latency_ms_p95']} | "
              f"{r['latency_ms_p95_without_first_window']} | {r['first_seconds_reference_s']} | "
              f"{r['load_average_1min']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
