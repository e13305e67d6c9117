"""Wall time of one training fold on synthetic features (CPU), per input shape.

    python bench/bench_train.py [--epochs 30] [--filters 32] [--scales 5] [--layers 3]
                                [--modalities lms kpd_face lms+kpd_face] [--amplitude 0.35]

Writes synthetic lms-shaped (88, 24) and kpd_face-shaped (88, 780) features for the demo layout
(24 actors x 16 clips) into a temporary folder, then trains fold 0 of each requested modality set
with the params.yaml ``train`` section overridden by the flags, printing seconds and accuracy.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.core.config import load_params  # noqa: E402
from models.data import fold_split  # noqa: E402
from models.folds import predictions_frame, run_fold  # noqa: E402
from models.hparams import resolve_experiment  # noqa: E402
from models.metrics import fold_scores  # noqa: E402
from tests.helpers.synthetic_features import synthetic_manifest, write_synthetic_features  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--filters", type=int)
    ap.add_argument("--scales", type=int)
    ap.add_argument("--layers", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--threads", type=int, help="torch CPU threads (0 = all cores)")
    ap.add_argument("--amplitude", type=float, default=0.35)
    ap.add_argument("--modalities", nargs="+", default=["lms", "kpd_face", "lms+kpd_face"])
    args = ap.parse_args()
    train = dict(load_params()["train"])
    for key in ("epochs", "filters", "scales", "layers", "lr", "threads"):
        if getattr(args, key) is not None:
            train[key] = getattr(args, key)
    manifest = synthetic_manifest(list(range(1, 25)), 16)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_synthetic_features(root, manifest, {"lms": (88, 24), "kpd_face": (88, 780)},
                                 amplitude=args.amplitude)
        tr, te = fold_split(manifest, args.fold)
        for mods in args.modalities:
            exp = resolve_experiment({**train, "modalities": mods.split("+")})
            t0, c0 = time.perf_counter(), time.process_time()
            run = run_fold(exp, tr, te, root, log=lambda s: None)
            sec, cpu = time.perf_counter() - t0, time.process_time() - c0
            preds = predictions_frame(exp, run.test_rows, run.posteriors)
            acc = fold_scores(preds["label"], preds["predicted"], exp.n_classes)["accuracy"]
            trunk = exp.trunks[exp.modalities[0]]
            print(f"{mods:14s} epochs={exp.epochs} filters={trunk['filters']} "
                  f"scales={trunk['scales']} layers={trunk['layers']} lr={exp.lr:g}: "
                  f"{sec:6.1f} s/fold wall, {cpu:6.1f} s CPU, accuracy {acc:.3f} "
                  f"(train {len(tr)}, test {len(te)}, threads {exp.threads or 'all'})",
                  flush=True)


if __name__ == "__main__":
    main()
