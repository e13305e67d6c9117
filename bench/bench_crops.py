"""Compact crops: size per clip, encode/decode time and ResNet feature similarity per codec.

Cuts the three crops (eyes 2 x 128 x 128, mouth 110 x 180, face 224 x 224) of the 88 middle frames
of a real face clip (``../shared/data/real-faces/WolfgangLanger_Pexels.mp4``, 640 x 360, a woman
crying then laughing; dlib's 68 landmarks per frame place the eye and mouth patches, the eye
patches centred on landmarks 36-41 / 42-47), then for each codec setting
(:func:`features.visual.crops.encode_crops`):

* the bytes per clip in an actor HDF5 file written by :mod:`features.core.store` (the real
  stored size, gzip included) for the 88 middle frames, and with the 20 spaced fine-tuning
  frames added; the projection to full RAVDESS (1440 video-speech clips);
* encode and decode CPU time per clip (one thread, process time: the machine is shared);
* the cosine similarity between ResNet-18 pooled vectors (512) of the decoded and of the raw
  crops, on every 4th frame. The ResNet-18 has the real architecture (basic blocks, depths
  2-2-2-2, widths 64-512) but **randomly initialised** weights (seed 0): ImageNet weights cannot
  be downloaded here. A random network is at least as sensitive to pixel noise as a trained one
  is to small perturbations in general, but the figure is not the ImageNet model's.

    OMP_NUM_THREADS=1 python bench/bench_crops.py [--video PATH] [--frames 88]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from features.core.store import FeatureRecord, write_feature_file  # noqa: E402
from features.learnt.resnet import IMAGENET_MEAN, IMAGENET_STD, clip_vectors  # noqa: E402
from features.media.video import iter_frames, open_video  # noqa: E402
from features.tracker.detect import detect_face  # noqa: E402
from features.tracker.landmarks import fit_landmarks  # noqa: E402
from features.tracks.frames import middle_frames, spaced_frames  # noqa: E402
from features.visual.crops import decode_crops, encode_crops, eye_patches, face_image, mouth_patch  # noqa: E402

VIDEO = REPO.parent / "shared" / "data" / "real-faces" / "WolfgangLanger_Pexels.mp4"
SETTINGS = [("raw", 0), ("png", 0), ("webp", 101), ("webp", 90), ("jpeg", 95), ("jpeg", 90),
            ("jpeg", 85), ("jpeg", 75)]
RAVDESS_CLIPS = 1440          # 24 actors x 60 video-speech clips


def landmarks(frames: list[np.ndarray]) -> list[np.ndarray]:
    """dlib 68 landmarks ``(68, 2)`` px per frame (the last detection is reused when none is found)."""
    out, last = [], None
    for frame in frames:
        det = detect_face(frame, 0.5)
        if det is not None:
            last = det
        if last is None:
            raise RuntimeError("no face found in the first frames")
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        out.append(fit_landmarks(gray, last.box, (0, 0)))
    return out


def cut(frames: list[np.ndarray], lmks: list[np.ndarray]) -> dict[str, np.ndarray]:
    crops: dict[str, list[np.ndarray]] = {"crops_eyes": [], "crops_mouth": [], "crops_face": []}
    for frame, lmk in zip(frames, lmks):
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        eye = np.concatenate([np.resize(lmk[36:42], (28, 2)), np.resize(lmk[42:48], (28, 2))])
        crops["crops_eyes"].append(eye_patches(rgb, eye)[0])
        crops["crops_mouth"].append(mouth_patch(rgb, lmk)[0])
        crops["crops_face"].append(face_image(rgb)[0])
    return {k: np.stack(v) for k, v in crops.items()}


def stored_bytes(crops: dict[str, np.ndarray], codec: str, quality: int, tmp: Path) -> int:
    total = 0
    for name, arr in crops.items():
        rec = FeatureRecord("01-01-03-01-01-01-03", encode_crops(arr, codec, quality),
                            np.ones(len(arr), bool), np.arange(len(arr)), "bench")
        path = write_feature_file(tmp / f"{name}_{codec}{quality}.h5", name, [rec], {}, actor=3)
        total += path.stat().st_size
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(VIDEO))
    ap.add_argument("--frames", type=int, default=88)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    video = Path(args.video)
    if not video.exists():
        print(f"skip: {video} not found (needs ../shared/data/real-faces)")
        return 0
    cap = open_video(video)
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    mid, _ = middle_frames(n, args.frames)
    spaced, _ = spaced_frames(n, 20)
    wanted = sorted(set(mid.tolist()) | set(spaced.tolist()))
    frames = dict(iter_frames(video, wanted))
    t0 = time.perf_counter()
    lmk = dict(zip(wanted, landmarks([frames[i] for i in wanted])))
    print(f"{video.name}: {n} frames, {frames[wanted[0]].shape[1]}x{frames[wanted[0]].shape[0]}; "
          f"landmarks for {len(wanted)} frames in {time.perf_counter() - t0:.1f} s")
    crops = cut([frames[i] for i in mid], [lmk[i] for i in mid])
    crops20 = cut([frames[i] for i in spaced], [lmk[i] for i in spaced])

    from transformers import ResNetConfig, ResNetModel

    torch.manual_seed(0)
    cfg = ResNetConfig(embedding_size=64, hidden_sizes=[64, 128, 256, 512], depths=[2, 2, 2, 2],
                       layer_type="basic")
    model = ResNetModel(cfg).eval()
    mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    every = slice(None, None, 4)
    ref = {k: clip_vectors(model, v[every], mean, std) for k, v in crops.items()}
    raw_mb = sum(v.nbytes for v in crops.values()) / 1e6
    print(f"raw uint8 crops of one clip ({args.frames} frames): {raw_mb:.1f} MB "
          f"(eyes {crops['crops_eyes'].nbytes / 1e6:.1f}, mouth {crops['crops_mouth'].nbytes / 1e6:.1f}, "
          f"face {crops['crops_face'].nbytes / 1e6:.1f})")
    print("ResNet-18: real architecture, RANDOMLY INITIALISED (seed 0); cosine on every 4th frame")
    head = (f"{'codec':<9} {'MB/clip 88':>10} {'+20 spaced':>10} {'RAVDESS GB':>10} "
            f"{'enc CPU ms':>11} {'dec CPU ms':>11} {'cos mean':>8} {'cos min':>8} "
            f"{'1-cos max eyes/mouth/face':>26} {'PSNR dB':>7}")
    print(head)
    with tempfile.TemporaryDirectory() as tmp:
        for codec, quality in SETTINGS:
            t_enc = t_dec = np.inf
            for _ in range(3):          # best of 3 CPU times (the machine is shared)
                te = time.process_time()
                enc = {k: encode_crops(v, codec, quality) for k, v in crops.items()}
                t_enc = min(t_enc, time.process_time() - te)
                td = time.process_time()
                dec = {k: decode_crops(v) for k, v in enc.items()}
                t_dec = min(t_dec, time.process_time() - td)
                if t_enc > 3:
                    break
            size = stored_bytes(crops, codec, quality, Path(tmp)) / 1e6
            size20 = size + stored_bytes(crops20, codec, quality, Path(tmp)) / 1e6
            cos_min, cos_all = [], []
            mse = np.mean([np.mean((dec[k].astype(np.float64) - crops[k]) ** 2) for k in crops])
            for k in crops:
                got = clip_vectors(model, dec[k][every], mean, std)
                cos = (got * ref[k]).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(ref[k], axis=1))
                cos_min.append(cos.min())
                cos_all.append(cos)
            psnr = float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)
            name = f"{codec}{'' if codec in ('raw', 'png') else f' {quality}'}"
            mins = "/".join(f"{1 - c:.0e}" for c in cos_min)
            print(f"{name:<9} {size:>10.2f} {size20:>10.2f} {size20 * RAVDESS_CLIPS / 1e3:>10.1f} "
                  f"{t_enc * 1e3:>11.0f} {t_dec * 1e3:>11.0f} {np.concatenate(cos_all).mean():>8.5f} "
                  f"{min(cos_min):>8.5f} {mins:>26} {psnr:>7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
