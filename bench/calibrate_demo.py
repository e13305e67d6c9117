"""Calibrate the demo's difficulty: extract the features, train each modality, print accuracies.

    python bench/calibrate_demo.py [--no-extract] [--model timnet|logreg] [--threads 1]
        [--sets lms kpd_face kpd_eyes au pose lms+kpd_face]

1. ``dvc repro audio kpd facs`` (demo -> ingest -> track -> features) with the workspace's
   params.yaml (``demo.difficulty`` is what is being calibrated); ``--no-extract`` skips it.
2. For each feature set (``+`` joins a Multi-Net combination) and every fold of
   ``train.folds``: ``--model timnet`` trains the workspace's ``train`` settings exactly as
   ``stages/train.py`` does (TIM-Net / Multi-Net, same code); ``--model logreg`` is a seconds-fast
   proxy (per-clip mean and sd over frames, standardised, logistic regression).
3. Prints one line per set: mean 5-fold accuracy and per-emotion recall, and a Markdown table.

The pipeline's own numbers come from ``dvc exp run`` (README "Demo results"); this script is the
fast loop while changing the generator.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from features.core.config import get, load_params  # noqa: E402
from features.core.manifest import read_manifest  # noqa: E402
from features.core.paths import FEATURES_DIR  # noqa: E402
from features.core.ravdess import EMOTION_NAMES  # noqa: E402
from models.data import fold_split, load_feature  # noqa: E402
from models.folds import drop_missing, run_fold  # noqa: E402
from models.hparams import resolve_experiment  # noqa: E402

DEFAULT_SETS = ["lms", "kpd_face", "kpd_eyes", "au", "pose", "lms+kpd_face"]


def logreg_fold(mods: list[str], train_rows, test_rows) -> np.ndarray:
    """Predicted labels of a logistic regression on per-clip mean and sd of each feature."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def stats(rows):
        parts = []
        for m in mods:
            x, mask = load_feature(m, rows["video_id"].tolist(), FEATURES_DIR)
            w = mask[..., None].astype(np.float64)
            mean = (x * w).sum(1) / np.maximum(w.sum(1), 1)
            sd = np.sqrt((((x - mean[:, None]) ** 2) * w).sum(1) / np.maximum(w.sum(1), 1))
            parts += [mean, sd]
        return np.concatenate(parts, 1)

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    clf.fit(stats(train_rows), train_rows["label"].to_numpy(int))
    return clf.predict(stats(test_rows))


def evaluate(mods: list[str], params: dict, model: str, threads: int) -> tuple[float, np.ndarray]:
    """Mean accuracy over train.folds and pooled per-emotion recall (8,)."""
    manifest = read_manifest()
    train = {**get(params, "train"), "modalities": mods, "threads": threads}
    exp = resolve_experiment(train)
    accs, hits, counts = [], np.zeros(8), np.zeros(8)
    for k in [int(f) for f in get(params, "train.folds")]:
        tr, te = fold_split(manifest, k)
        tr, _ = drop_missing(tr, mods, FEATURES_DIR)
        te, _ = drop_missing(te, mods, FEATURES_DIR)
        if model == "logreg":
            pred = logreg_fold(mods, tr, te)
        else:
            run = run_fold(exp, tr, te, FEATURES_DIR, log=lambda s: None)
            pred = run.posteriors.argmax(1)
        y = te["label"].to_numpy(int)
        accs.append(float(np.mean(pred == y)))
        for c in range(8):
            hits[c] += np.sum((y == c) & (pred == c))
            counts[c] += np.sum(y == c)
    return float(np.mean(accs)), hits / np.maximum(counts, 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-extract", action="store_true", help="use the features already there")
    ap.add_argument("--model", choices=("timnet", "logreg"), default="timnet")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--sets", nargs="+", default=DEFAULT_SETS)
    args = ap.parse_args(argv)
    if not args.no_extract:
        t0 = time.perf_counter()
        subprocess.run(["dvc", "repro", "audio", "kpd", "facs"], check=True)
        print(f"extraction: {time.perf_counter() - t0:.0f} s", flush=True)
    params = load_params()
    rows = []
    for s in args.sets:
        t0 = time.perf_counter()
        acc, recall = evaluate(s.split("+"), params, args.model, args.threads)
        rows.append((s, acc, recall))
        print(f"{s:>14}: accuracy {100 * acc:5.1f} %  recall "
              + " ".join(f"{n[:4]} {100 * r:3.0f}" for n, r in zip(EMOTION_NAMES, recall))
              + f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"\n| features ({args.model}) | accuracy % | " + " | ".join(EMOTION_NAMES) + " |")
    print("|---|---|" + "---|" * len(EMOTION_NAMES))
    for s, acc, recall in rows:
        print(f"| {s} | {100 * acc:.1f} | " + " | ".join(f"{100 * r:.0f}" for r in recall) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
