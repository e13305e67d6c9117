"""CPU time (process time, 1 thread) of ResNet-18 fine-tuning and of the per-fold features, projected to a fold.

Runs :func:`models.finetune.fit_finetune` for one short epoch (``--clips`` training clips of 20
JPEG-encoded crops, Table C.1 batch of 8 clips) with a ResNet-18 of the real architecture
(randomly initialised: no pretrained weights here; the cost does not depend on the weights) and
a TIM-Net head (64 filters, 5 scales), then the frozen extractor on one clip's 88 frames. Projects:

* per epoch and per 60-epoch fold for the default demo (384 clips: ~304 training clips a fold)
  and full RAVDESS (1440 video-speech clips: ~1140 training clips a fold);
* the per-fold features stage (every clip's 88 frames through the fold's extractor).

    OMP_NUM_THREADS=1 python bench/bench_finetune.py --part face --clips 8 --threads 1

The GPU figure is not measured here (no GPU on this machine).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from features.learnt.resnet import IMAGENET_MEAN, IMAGENET_STD, clip_vectors  # noqa: E402
from features.visual.crops import decode_crops, encode_crops  # noqa: E402
from models.finetune import Normalisation, build_finetune_net, fit_finetune  # noqa: E402
from models.hparams import resolve_experiment  # noqa: E402

SHAPES = {"face": (224, 224, 3), "mouth": (110, 180, 3), "eyes": (2, 128, 128, 3)}
FOLDS = {"default demo": 384 * 19 / 24, "full RAVDESS": 1440 * 19 / 24}
ALL_CLIPS = {"default demo": 384, "full RAVDESS": 1440}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=sorted(SHAPES), default="face")
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from transformers import ResNetConfig, ResNetModel

    torch.manual_seed(0)
    resnet = ResNetModel(ResNetConfig(embedding_size=64, hidden_sizes=[64, 128, 256, 512],
                                      depths=[2, 2, 2, 2], layer_type="basic"))
    exp = resolve_experiment({"modalities": [f"resnet_{args.part}"], "epochs": 1, "layers": 3})
    net = build_finetune_net(resnet, exp, args.part)
    rng = np.random.default_rng(0)
    clips = [encode_crops(rng.integers(0, 256, (20, *SHAPES[args.part]), dtype=np.uint8), "jpeg", 90)
             for _ in range(args.clips)]
    labels = np.arange(args.clips) % 8
    norm = Normalisation(np.array(IMAGENET_MEAN), np.array(IMAGENET_STD))
    # CPU time of this process (the machine is shared: wall time counts the other processes);
    # with one thread it is the wall time on an idle core
    c0 = time.process_time()
    result = fit_finetune(net, exp, clips, labels, norm, torch.device("cpu"), log=lambda m: None)
    cpu_train = time.process_time() - c0
    per_clip = cpu_train / args.clips
    crops88 = rng.integers(0, 256, (88, *SHAPES[args.part]), dtype=np.uint8)
    c0 = time.process_time()
    clip_vectors(net.resnet.eval(), decode_crops(encode_crops(crops88, "jpeg", 90)),
                 norm.mean, norm.std, batch_size=32)
    feat_clip = time.process_time() - c0
    print(f"ResNet-18 ({args.part}, random init, real architecture) + TIM-Net "
          f"{exp.trunks[f'resnet_{args.part}']['filters']} filters / "
          f"{exp.trunks[f'resnet_{args.part}']['scales']} scales; CPU, {args.threads} thread(s); "
          f"batch {exp.batch_size} clips x 20 frames")
    print(f"training: {cpu_train:.1f} CPU s ({result.history[0]['seconds']:.1f} s wall on the shared "
          f"machine) for {args.clips} clips = {per_clip:.2f} CPU s per training clip per epoch")
    print(f"per-fold features: {feat_clip:.2f} CPU s per clip (88 frames)")
    for name, n_train in FOLDS.items():
        epoch = per_clip * n_train
        print(f"{name}: ~{n_train:.0f} training clips a fold -> {epoch / 60:.1f} min per epoch, "
              f"{epoch * 60 / 3600:.1f} h per fold (60 epochs); per-fold features "
              f"{feat_clip * ALL_CLIPS[name] / 60:.1f} min per fold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
