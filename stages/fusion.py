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

from features.core.cli import run_stage
from features.core.config import load_params
from models.fusion_run import run_fuse, run_member


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
    run_stage(main)
