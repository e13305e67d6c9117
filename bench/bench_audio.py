"""Throughput of the audio and learnt features: decoding, LMS, MFCC, Wav2Vec2 and ResNet-18 (random weights).

    python bench/bench_audio.py [--clips 24] [--seconds 3.6] [--threads 2] [--batch 4]
                                [--w2v-clips 12] [--model base|large|both] [--device auto]
                                [--only decode lms w2v resnet] [--resnet-clips 2]

Writes ``--clips`` synthetic RAVDESS-like mp4 clips (AAC 48 kHz stereo, 32x24 test video) into a
temporary folder, then times, in this process with ``--threads`` torch threads:

* ``decode``: ffmpeg -> the 140 800 middle mono samples (:func:`features.media.audio.middle_audio`);
* ``lms`` / ``mfcc``: the spectral features of the decoded samples (params.yaml settings), one
  torch thread as in the audio stage (whose parallelism is ``compute.jobs`` processes);
* ``w2v``: Wav2Vec2 transformer output (``features.learnt.wav2vec2.wav2vec2_batch``, the stage's code
  path, batches of ``--batch`` clips) for a model built from the real wav2vec2-base configuration
  (hidden 768, 12 layers, default conv stack) and/or wav2vec2-large (-lv60 layout: hidden 1024,
  24 layers, stable layer norm) with random weights: speed does not depend on the weights;
* ``resnet``: ResNet-18 (the microsoft/resnet-18 layout: basic blocks [2, 2, 2, 2], widths 64..512)
  with random weights on ``--resnet-clips`` clips of 88 random face (224 x 224), mouth
  (110 x 180) and eye-pair (2 x 128 x 128) crops (``features.learnt.resnet.clip_vectors``).

Peak memory is the process's maximum resident set size after each phase (cumulative), and the
CUDA peak allocation when the model runs on a GPU.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from features.audio.spectral import spectral_feature  # noqa: E402
from features.core.config import load_params  # noqa: E402
from features.core.devices import resolve_device, set_threads  # noqa: E402
from features.learnt.wav2vec2 import resample, wav2vec2_batch  # noqa: E402
from features.media.audio import middle_audio, write_audio  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_clips(folder: Path, n: int, seconds: float) -> list[Path]:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * 48000)) / 48000
    paths = []
    for i in range(n):
        f0 = 120 + 20 * i
        x = 0.3 * np.sin(2 * np.pi * (f0 + 50 * t) * t) + 0.01 * rng.standard_normal(t.size)
        paths.append(write_audio(folder / f"clip{i:03d}.mp4", np.stack([x, 0.8 * x], 1),
                                 video_size="32x24"))
    return paths


def w2v_config(size: str):
    from transformers import Wav2Vec2Config

    if size == "base":      # facebook/wav2vec2-base: the Wav2Vec2Config defaults
        return Wav2Vec2Config()
    return Wav2Vec2Config(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                          intermediate_size=4096, feat_extract_norm="layer",
                          do_stable_layer_norm=True, conv_bias=True)


def rate(n: int, seconds: float, cpu_seconds: float | None = None) -> str:
    """Wall-clock throughput, plus CPU seconds per clip (less sensitive to a shared machine)."""
    cpu = "" if cpu_seconds is None else f", {1000 * cpu_seconds / n:7.1f} CPU-ms/clip"
    return f"{n / seconds:8.2f} clips/s ({1000 * seconds / n:7.1f} ms/clip{cpu})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--seconds", type=float, default=3.6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--w2v-clips", type=int, default=12)
    ap.add_argument("--model", choices=["base", "large", "both"], default="base")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--resnet-clips", type=int, default=2)
    ap.add_argument("--only", nargs="+", choices=["decode", "lms", "w2v", "resnet"],
                    default=["decode", "lms", "w2v", "resnet"])
    args = ap.parse_args()
    set_threads(args.threads)
    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    feats = params["features"]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.clips} clips of {args.seconds} s")
    monos: list[np.ndarray] = []
    if {"decode", "lms", "w2v"} & set(args.only):
        with tempfile.TemporaryDirectory() as tmp:
            paths = make_clips(Path(tmp), args.clips, args.seconds)
            t0 = time.perf_counter()              # ffmpeg runs in a subprocess: wall time only
            monos = [middle_audio(p).mono for p in paths]
            dt = time.perf_counter() - t0
        if "decode" in args.only:
            print(f"decode (ffmpeg, 140800 middle samples, mono): {rate(len(paths), dt)}")
    if "lms" in args.only:
        set_threads(1)                  # as the audio stage runs them (one thread per worker)
        for name in ("lms", "mfcc"):
            spectral_feature(name, monos[0], 48000, feats[name])              # warm-up
            t0, c0 = time.perf_counter(), time.process_time()
            shape = None
            for m in monos:
                shape = spectral_feature(name, m, 48000, feats[name]).shape
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(f"{name} {shape}: {rate(len(monos), dt, cpu)}")
        print(f"peak RSS after decode+lms+mfcc: {peak_rss_mb():.0f} MB")
    if "w2v" in args.only:
        from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

        set_threads(args.threads)
        device = resolve_device(args.device)
        fe = Wav2Vec2FeatureExtractor()
        clips16 = [resample(m) for m in monos[:args.w2v_clips]]
        while len(clips16) < args.w2v_clips:
            clips16 += clips16[:args.w2v_clips - len(clips16)]
        for size in (["base", "large"] if args.model == "both" else [args.model]):
            torch.manual_seed(0)
            model = Wav2Vec2Model(w2v_config(size)).eval().to(device)
            n_params = sum(p.numel() for p in model.parameters()) / 1e6
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            wav2vec2_batch(fe, model, clips16[:args.batch])                   # warm-up
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0, c0 = time.perf_counter(), time.process_time()
            for s in range(0, len(clips16), args.batch):
                out = wav2vec2_batch(fe, model, clips16[s:s + args.batch])
            if device.type == "cuda":
                torch.cuda.synchronize()
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            extra = (f", CUDA peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MB"
                     if device.type == "cuda" else "")
            print(f"wav2vec2-{size} ({n_params:.0f} M params, random weights) on {device}, "
                  f"batch {args.batch}, output {tuple(out.shape[1:])}: "
                  f"{rate(len(clips16), dt, cpu)}; "
                  f"peak RSS {peak_rss_mb():.0f} MB{extra}")
            del model
    if "resnet" in args.only:
        bench_resnet(args)


def bench_resnet(args: argparse.Namespace) -> None:
    from transformers import ResNetConfig, ResNetModel

    from features.learnt.resnet import IMAGENET_MEAN, IMAGENET_STD, clip_vectors

    set_threads(args.threads)
    device = resolve_device(args.device)
    torch.manual_seed(0)
    model = ResNetModel(ResNetConfig(embedding_size=64, hidden_sizes=[64, 128, 256, 512],
                                     depths=[2, 2, 2, 2], layer_type="basic")).eval().to(device)
    mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    rng = np.random.default_rng(0)
    for part, shape in (("face", (88, 224, 224, 3)), ("mouth", (88, 110, 180, 3)),
                        ("eyes", (88, 2, 128, 128, 3))):
        crops = rng.integers(0, 256, shape, dtype=np.uint8)
        clip_vectors(model, crops[:4], mean, std)                          # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(args.resnet_clips):
            out = clip_vectors(model, crops, mean, std, batch_size=32)
        if device.type == "cuda":
            torch.cuda.synchronize()
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        images = args.resnet_clips * int(np.prod(shape[:-3]))
        print(f"resnet-18 {part} {shape[1:]} on {device}: {rate(args.resnet_clips, dt, cpu)}, "
              f"{images / dt:.1f} images/s, output {out.shape}; peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
