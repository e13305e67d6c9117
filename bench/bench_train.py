"""Per-epoch training time of one fold, before (a git revision's code) and after (this tree).

    python bench/bench_train.py [--before ef8048b] [--epochs 3] [--threads 2] [--repeat 2]
                                [--clips 60|16] [--paper | --filters 64 --scales 7 --layers 3]

Writes synthetic lms-shaped (88, 24) features for the full RAVDESS layout (24 actors x 60 clips,
fold 0 trains on 1140 clips, like real data) into a temporary folder, then trains fold 0 of
TIM-Net on LMS with the same settings twice per repeat: once with the code of ``--before``
(extracted with ``git archive`` into a temporary folder and run in a subprocess, so nothing of
this tree is imported) and once with this tree's code. Prints, per run, the mean seconds per
epoch (wall and process CPU, first epoch excluded as warm-up when there are more), the test
accuracy and the final training loss, then the speed-up. ``--paper`` uses the paper's LMS
settings (Table C.1: lr 1e-3, batch 64, 7 scales, 64 filters, L = 3) with ``--epochs`` epochs
(the paper trains 100; per-epoch time does not depend on the count). The two codes draw
different random numbers for dropout, so accuracies agree statistically, not bit for bit (the
fused layers are checked equal to the reference modules in tests/models/test_timnet.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

MEASURE = r"""
import json, sys, time
import numpy as np
import torch
root, settings = sys.argv[1], json.loads(sys.argv[2])
from models.data import fold_split
from models.folds import predictions_frame, run_fold
from models.hparams import resolve_experiment
from models.metrics import fold_scores
from tests.helpers.synthetic_features import synthetic_manifest
manifest = synthetic_manifest(list(range(1, 25)), int(sys.argv[3]))
tr, te = fold_split(manifest, 0)
exp = resolve_experiment(settings)
c0 = time.process_time()
run = run_fold(exp, tr, te, root, log=lambda s: None)
cpu = time.process_time() - c0
preds = predictions_frame(exp, run.test_rows, run.posteriors)
acc = fold_scores(preds["label"], preds["predicted"], exp.n_classes)["accuracy"]
hist = run.result.history
secs = [h["seconds"] for h in hist]
timed = secs[1:] if len(secs) > 1 else secs
print("RESULT " + json.dumps({"epoch_wall": float(np.mean(timed)), "epochs": len(secs),
      "fold_cpu": cpu, "accuracy": acc, "train_loss": hist[-1]["train_loss"],
      "threads": torch.get_num_threads(), "n_train": len(tr), "n_test": len(te)}))
"""


def measure(code_root: Path, features: Path, settings: dict, clips: int) -> dict:
    """Run one fold with the code under ``code_root`` in a fresh interpreter; its RESULT dict."""
    env = {**os.environ, "PYTHONPATH": str(code_root),
           "OMP_NUM_THREADS": str(settings.get("threads") or 2)}
    out = subprocess.run([sys.executable, "-c", MEASURE, str(features), json.dumps(settings),
                          str(clips)],
                         cwd=code_root, env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"bench run in {code_root} failed:\n{out.stderr[-3000:]}")
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="ef8048b", help="git revision of the 'before' code")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2, help="before/after pairs (noise check)")
    ap.add_argument("--paper", action="store_true", help="Table C.1 LMS settings")
    ap.add_argument("--filters", type=int, default=64)
    ap.add_argument("--scales", type=int, default=7)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--amplitude", type=float, default=0.35)
    ap.add_argument("--clips", type=int, default=60, choices=(16, 60),
                    help="clips per actor: 60 = the real corpus (fold 0 trains on 1140 clips), "
                         "16 = a quicker run (304 training clips; per-batch cost unchanged)")
    args = ap.parse_args()
    settings = {"modalities": ["lms"], "epochs": args.epochs, "threads": args.threads,
                "bn_momentum": 0.01, "bn_eps": 1e-3, "label_smoothing": 0.1, "seed": 0,
                "selection": "train_loss", "device": "cpu", "kernel_size": 2, "dropout": 0.1}
    if args.paper:
        settings.update({"lr": None, "batch_size": None, "filters": None, "scales": None,
                         "layers": 3})
    else:
        settings.update({"lr": args.lr, "batch_size": args.batch_size, "filters": args.filters,
                         "scales": args.scales, "layers": args.layers})
    sys.path.insert(0, str(REPO))
    from tests.helpers.synthetic_features import synthetic_manifest, write_synthetic_features

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        before = tmp / "before"
        before.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.before],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
        features = tmp / "features"
        write_synthetic_features(features, synthetic_manifest(list(range(1, 25)), args.clips),
                                 {"lms": (88, 24)}, amplitude=args.amplitude)
        print(f"settings: {json.dumps(settings)}; before = {args.before}, after = working tree",
              flush=True)
        rows = []
        for r in range(args.repeat):
            for name, root in (("before", before), ("after", REPO)):
                res = measure(root, features, settings, args.clips)
                rows.append((name, res))
                print(f"run {r + 1} {name:6s}: {res['epoch_wall']:7.2f} s/epoch wall "
                      f"(mean of {max(1, res['epochs'] - 1)}), fold CPU {res['fold_cpu']:7.1f} s, "
                      f"accuracy {res['accuracy']:.3f}, final train loss "
                      f"{res['train_loss']:.4f}, threads {res['threads']}, "
                      f"train {res['n_train']} / test {res['n_test']}", flush=True)
        for r in range(args.repeat):
            b, a = rows[2 * r][1], rows[2 * r + 1][1]
            print(f"run {r + 1}: speed-up {b['epoch_wall'] / a['epoch_wall']:.2f}x per epoch "
                  f"(wall), {b['fold_cpu'] / a['fold_cpu']:.2f}x fold CPU; accuracy "
                  f"{b['accuracy']:.3f} -> {a['accuracy']:.3f}")


if __name__ == "__main__":
    main()
