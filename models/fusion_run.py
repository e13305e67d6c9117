"""Late fusion runs (the ``fusion_member`` and ``fusion`` stages): train one member for one outer
fold, and fuse every fold's members; the method and leakage argument are in :mod:`models.fusion`.

Outputs: ``data/fusion/members/<member>/fold_K.parquet`` (test and out-of-fold posteriors),
``data/fusion/<method>/fold_K.parquet``, ``reports/fusion/<method>/metrics.json`` (fused and
per-member scores) and ``reports/fusion/<method>/comparison.md``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from features.core.atomic import atomic_path
from features.core.config import get
from features.core.manifest import read_manifest
from features.core.paths import DATA, FEATURES_DIR, REPORTS
from features.core.problems import ProblemLog
from models.fusion import fuse_fold, member_posteriors, parse_member
from models.hparams import resolve_experiment
from models.metrics import fold_scores, summarise
from models.reporting import LATE_FUSION, LUNA_JIMENEZ

FUSION_DIR = DATA / "fusion"
MEMBERS_DIR = FUSION_DIR / "members"
FUSION_REPORTS = REPORTS / "fusion"
METHODS = ("logreg",)


def member_path(member: str, fold: int, root: Path = MEMBERS_DIR) -> Path:
    return root / member / f"fold_{fold}.parquet"


def run_member(params: dict, member: str, fold: int) -> Path:
    """Train one member for one outer fold and write its posteriors."""
    exp = resolve_experiment({**get(params, "train"), "modalities": parse_member(member)})
    manifest = read_manifest()
    df, missing = member_posteriors(exp, manifest, fold, FEATURES_DIR,
                                    log=lambda s: print(f"[{member} fold {fold}] {s}", flush=True))
    problems = ProblemLog("fusion")
    for vid, path, problem in missing:
        problems.add(path, problem, f"excluded from member {member}", video_id=vid,
                     fatal_ok=False)
    problems.write(REPORTS / "problems" / "fusion" / member / f"fold_{fold}.csv")
    out = member_path(member, fold)
    with atomic_path(out, suffix=".parquet") as tmp:
        df.to_parquet(tmp, index=False)
    return out


def run_fuse(params: dict, method: str) -> dict:
    """Fuse every fold; write predictions, metrics and the comparison with each member."""
    if method not in METHODS:
        raise SystemExit(f"fusion.methods: unknown method {method!r} (known: {METHODS})")
    members = [str(m) for m in get(params, "fusion.members")]
    if len(members) < 2:
        raise SystemExit(f"fusion.members needs at least two members; got {members}")
    exp = resolve_experiment(get(params, "train"))
    folds = [int(k) for k in get(params, "train.folds")]
    c = float(get(params, "fusion.C", 1.0))
    fused, member_scores = {}, {m: {} for m in members}
    for k in folds:
        frames = {m: pd.read_parquet(member_path(m, k)) for m in members}
        pred, _ = fuse_fold(frames, k, exp.class_names, c, exp.seed)
        with atomic_path(FUSION_DIR / method / f"fold_{k}.parquet", suffix=".parquet") as tmp:
            pred.to_parquet(tmp, index=False)
        fused[k] = fold_scores(pred["label"], pred["predicted"], exp.n_classes)
        for m, df in frames.items():
            t = df[df["split"] == "test"]
            member_scores[m][k] = fold_scores(t["label"], t["predicted"], exp.n_classes)
    summary = {"fused": summarise(fused, exp.class_names),
               **{m: summarise(s, exp.class_names) for m, s in member_scores.items()}}
    with atomic_path(FUSION_REPORTS / method / "metrics.json", suffix=".json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    lines = ["# Late fusion (logistic regression on member posteriors)", "",
             "Fitted per test fold on inner out-of-fold posteriors of the training actors only.", "",
             "| system | accuracy % | 95 % CI | macro-F1 % |", "|---|---|---|---|"]
    for name, s in summary.items():
        a = s["accuracy"]
        ci = (f"{100 * a['ci95_low']:.2f}–{100 * a['ci95_high']:.2f}" if "ci95_low" in a else "–")
        lines.append(f"| {'late fusion' if name == 'fused' else name} | {100 * a['mean']:.2f} | "
                     f"{ci} | {100 * s['macro_f1']['mean']:.2f} |")
    lines.append(f"| Luna-Jiménez et al. late fusion (xlsr + AU models) | "
                 f"{LUNA_JIMENEZ[LATE_FUSION]:.2f} | – | – |")
    with atomic_path(FUSION_REPORTS / method / "comparison.md", suffix=".md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    print(f"fusion: accuracy {100 * summary['fused']['accuracy']['mean']:.2f} % over {len(folds)} folds")
    return summary
