"""Stage fusion: late fusion of separately trained members (Luna-Jiménez et al.), off by default.

Two commands (see models/fusion.py for the design and the leakage argument):

* ``python -m stages.fusion member <member> <fold>``: trains member ``<member>`` (a feature, or
  '+'-joined features trained as one Multi-Net) with the ``train`` hyperparameters for test fold
  K and for each inner fold j != K; writes ``data/fusion/members/<member>/fold_K.parquet`` (test
  and out-of-fold posteriors, with the folds each model was trained on).
* ``python -m stages.fusion fuse <method>``: for every fold in ``train.folds`` fits the fusion
  (``logreg``) on the members' out-of-fold posteriors and predicts the test fold; writes
  ``data/fusion/<method>/fold_K.parquet``, ``reports/fusion/<method>/metrics.json`` (fused and
  per-member scores) and ``reports/fusion/<method>/comparison.md``.

params.yaml ``fusion.members`` (list of member names) and ``fusion.methods`` (``[logreg]``)
define the stages; empty lists (the default) define none.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from features.core.atomic import atomic_path
from features.core.config import get, load_params
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    m = sub.add_parser("member")
    m.add_argument("member")
    m.add_argument("fold", type=int)
    f = sub.add_parser("fuse")
    f.add_argument("method", nargs="?", default="logreg")
    args = ap.parse_args(argv)
    params = load_params()
    if args.command == "member":
        run_member(params, args.member, args.fold)
    else:
        run_fuse(params, args.method)
    return 0


if __name__ == "__main__":
    sys.exit(main())
