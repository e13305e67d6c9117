"""Calibrate the demo's difficulty: extract the features, train each modality, print accuracies.

    python bench/calibrate_demo.py [--no-extract] [--model timnet|logreg] [--threads 1]
        [--sets lms kpd_face kpd_eyes au pose lms+kpd_face]
    python bench/calibrate_demo.py --surrogate [--set demo.difficulty.confusion=0.5 ...]

1. ``dvc repro audio kpd facs`` (demo -> ingest -> track -> features) with the workspace's
   params.yaml (``demo.difficulty`` is what is being calibrated); ``--no-extract`` skips it.
2. For each feature set (``+`` joins a Multi-Net combination) and every fold of
   ``train.folds``: ``--model timnet`` trains the workspace's ``train`` settings exactly as
   ``stages/train.py`` does (TIM-Net / Multi-Net, same code); ``--model logreg`` is a seconds-fast
   proxy (per-clip mean and sd over frames, standardised, logistic regression).
3. Prints one line per set: mean 5-fold accuracy and per-emotion recall, and a Markdown table.

``--surrogate`` (minutes instead of the pipeline's tens of minutes on 2 shared cores) skips
rendering, encoding and tracking: it generates each clip's true landmarks and audio with the
same generator and approximates the features from them (LMS: the real spectral code on the
synthesised audio; face KPD: the 40 landmarks' pairwise 2D distances over the actor's neutral
clips; eyes KPD: brow and eye landmarks' distances; AU: the embedded tracker's geometric AU
rules on similarity-aligned landmarks; pose: the head motion's translation, scale and roll),
then scores them with the logistic-regression proxy. Without tracker noise it is optimistic:
use it to see the direction and size of a change, not the final numbers.

The pipeline's own numbers come from ``dvc exp run`` (docs/results.md); this script is the
fast loop while changing the generator.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from features.core.config import get, load_params  # noqa: E402
from features.core.manifest import read_manifest  # noqa: E402
from features.core.paths import FEATURES_DIR  # noqa: E402
from features.core.ravdess import EMOTION_NAMES  # noqa: E402
from models.data import fold_split, load_feature  # noqa: E402
from models.folds import drop_missing, run_fold  # noqa: E402
from models.hparams import resolve_experiment  # noqa: E402

DEFAULT_SETS = ["lms", "kpd_face", "kpd_eyes", "au", "pose", "lms+kpd_face"]
EYE_POINTS = list(range(17, 27)) + list(range(36, 48))
MM_PER_IOD = 63.0          # adult inter-ocular distance (mm), to use the tracker's AU units


def _surrogate_clip(spec, seed: int, width: int, height: int, fps: float, d) -> dict:
    """One clip's approximate features from its true landmarks and audio (see the docstring)."""
    import cv2

    from features.audio.spectral import log_mel
    from features.demo import face as face_mod
    from features.demo.corpus import clip_content
    from features.tracks.frames import middle_frames
    from features.visual.kpd import face_landmarks, pairwise_distances

    cv2.setNumThreads(1)
    c = clip_content(spec, seed, width, height, fps, d)
    n = len(c.motion.offsets)
    truth = np.stack([face_mod.landmarks(c.face, c.motion.offsets[i], c.motion.head[i])
                      for i in range(n)])
    idx, _ = middle_frames(n, 88)
    lmk = truth[idx].astype(np.float64)
    mono = c.speech.audio.mean(1)
    need = 140800
    start = max(0, (len(mono) - need) // 2)
    mono = np.pad(mono[start:start + need], (0, max(0, need - len(mono[start:start + need]))))
    head = c.motion.head[idx]
    pose = np.stack([head[:, 0, 2], head[:, 1, 2], np.log(np.hypot(head[:, 0, 0], head[:, 1, 0])),
                     np.arctan2(head[:, 1, 0], head[:, 0, 0])], 1)
    return {"video_id": spec.video_id, "actor": spec.actor, "label": spec.emotion - 1,
            "lms": log_mel(mono.astype(np.float32)),
            "face_d": pairwise_distances(lmk[:, list(face_landmarks())]),
            "eyes_d": pairwise_distances(lmk[:, EYE_POINTS]),
            "lmk": lmk, "pose": pose - pose.mean(0)}


def _aligned_mm(lmk: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """(frames, 68, 3) landmarks similarity-aligned to ``ref`` (68, 2), in mm, z = 0."""
    import cv2

    out = np.zeros(lmk.shape[:2] + (3,))
    unit = MM_PER_IOD / np.linalg.norm(ref[36:42].mean(0) - ref[42:48].mean(0))
    for i, p in enumerate(lmk):
        m, _ = cv2.estimateAffinePartial2D(p[17:48].astype(np.float32), ref[17:48].astype(np.float32),
                                           method=cv2.LMEDS)
        out[i, :, :2] = (p @ m[:, :2].T + m[:, 2]) * unit
    return out


def surrogate_features(params: dict, jobs: int) -> tuple[dict, pd.DataFrame]:
    """Approximate features ``{name: (n, 88, D)}`` and rows (video_id, actor, label, fold)."""
    from joblib import Parallel, delayed

    from features.demo.corpus import clip_specs
    from features.demo.style import Difficulty
    from features.tracker import aus
    from features.visual.au_pose import au_features

    d = Difficulty.from_params(get(params, "demo.difficulty", {}))
    seed, fps = int(get(params, "demo.seed")), float(get(params, "demo.fps"))
    w, h = int(get(params, "demo.width")), int(get(params, "demo.height"))
    specs = clip_specs(str(get(params, "demo.size")))
    clips = Parallel(n_jobs=jobs, batch_size=8)(
        delayed(_surrogate_clip)(s, seed, w, h, fps, d) for s in specs)
    feats: dict[str, list] = {k: [] for k in ("lms", "kpd_face", "kpd_eyes", "au", "pose")}
    by_actor: dict[int, list] = {}
    for c in clips:
        by_actor.setdefault(c["actor"], []).append(c)
    for cs in by_actor.values():
        neutral = [c for c in cs if c["label"] == 0]
        ref_face = np.mean([c["face_d"].mean(0) for c in neutral], 0)
        ref_eyes = np.mean([c["eyes_d"].mean(0) for c in neutral], 0)
        ref_lmk = np.mean([c["lmk"].mean(0) for c in neutral], 0)
        ok = np.ones(88, bool)
        raw = {c["video_id"]: aus.au_values(aus.smooth3(aus.measurements(_aligned_mm(c["lmk"], ref_lmk))))
               for c in cs}
        neutral_raw = np.concatenate([raw[c["video_id"]] for c in neutral])
        base = aus.baseline(neutral_raw, np.arange(len(neutral_raw)))   # the tracker's rule
        for c in cs:
            c["kpd_face"] = c["face_d"] / ref_face
            c["kpd_eyes"] = c["eyes_d"] / ref_eyes
            au_r, au_c = aus.estimate_aus(raw[c["video_id"]], ok, base)
            c["au"] = au_features(au_r, au_c)
    rows = pd.DataFrame([{k: c[k] for k in ("video_id", "actor", "label")} for c in clips])
    folds = [[int(a) for a in f] for f in get(params, "dataset.folds")]
    rows["fold"] = [next(k for k, f in enumerate(folds) if a in f) for a in rows["actor"]]
    return {k: np.stack([c[k] for c in clips]).astype(np.float32) for k in feats}, rows


def surrogate_scores(feats: dict, rows, sets: list[str]) -> list[tuple[str, float, np.ndarray]]:
    """Logistic-regression proxy (per-clip mean and sd over frames), actor-independent folds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out = []
    y = rows["label"].to_numpy(int)
    for s in sets:
        x = np.concatenate([np.concatenate([feats[m].mean(1), feats[m].std(1)], 1)
                            for m in s.split("+")], 1)
        pred = np.zeros_like(y)
        accs = []
        for k in sorted(rows["fold"].unique()):
            te = (rows["fold"] == k).to_numpy()
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000))
            clf.fit(x[~te], y[~te])
            pred[te] = clf.predict(x[te])
            accs.append(float(np.mean(pred[te] == y[te])))
        recall = np.array([np.mean(pred[y == c] == c) for c in range(8)])
        out.append((s, float(np.mean(accs)), recall))
    return out


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
    ap.add_argument("--surrogate", action="store_true", help="fast approximation (see docstring)")
    ap.add_argument("--jobs", type=int, default=2, help="surrogate: clips in parallel")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="surrogate: override params, e.g. demo.difficulty.confusion=0.5")
    args = ap.parse_args(argv)
    if args.surrogate:
        import yaml

        params = load_params()
        for item in args.set:
            key, value = item.split("=", 1)
            *path, last = key.split(".")
            node = params
            for p in path:
                node = node.setdefault(p, {})
            node[last] = yaml.safe_load(value)
        t0 = time.perf_counter()
        feats, rows = surrogate_features(params, args.jobs)
        print(f"surrogate features: {len(rows)} clips in {time.perf_counter() - t0:.0f} s")
        _table(surrogate_scores(feats, rows, args.sets), "surrogate logreg")
        return 0
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
        print(f"{s} done in {time.perf_counter() - t0:.0f} s", flush=True)
    _table(rows, args.model)
    return 0


def _table(rows: list[tuple[str, float, np.ndarray]], model: str) -> None:
    print(f"\n| features ({model}) | accuracy % | recall % " + " | ".join(EMOTION_NAMES) + " |")
    print("|---|---|" + "---|" * len(EMOTION_NAMES))
    for s, acc, recall in rows:
        print(f"| {s} | {100 * acc:.1f} | " + " | ".join(f"{100 * r:.0f}" for r in recall) + " |",
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
