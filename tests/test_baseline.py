"""The committed baseline (``dvc.lock`` and the git-tracked ``reports/`` of the default demo run)
belongs to this code and these params.

``dvc status`` compares the lock's recorded hashes with the working tree: in a clone without the
data every data dependency and output is missing, which is expected, but a changed stage script,
package folder or parameter means the committed metrics were produced by other code. Refresh
with ``dvc repro && git add dvc.lock reports/`` (docs/experiments.md).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run

REPO = Path(__file__).resolve().parents[1]


def stale_deps(status: dict) -> dict[str, dict[str, object]]:
    """``{stage: {dep: change}}`` for code and params changes in ``dvc status --json`` output
    (data dependencies, paths under ``data/``, are left out: a clone has none)."""
    stale: dict[str, dict[str, object]] = {}
    for stage, entries in status.items():
        for entry in entries:
            if isinstance(entry, str):                 # "changed command", "always changed"
                stale.setdefault(stage, {})[entry] = True
                continue
            for path, change in entry.get("changed deps", {}).items():
                if path == "params.yaml" or not path.startswith("data/"):
                    stale.setdefault(stage, {})[path] = change
    return stale


def test_stale_deps_reads_dvc_status():
    status = {"ingest": [{"changed deps": {"data/demo/corpus": "deleted",
                                           "features/core": "modified"}},
                         {"changed outs": {"data/manifest.parquet": "not in cache"}}],
              "train@0": [{"changed deps": {"params.yaml": {"train.epochs": "modified"}}}],
              "demo@corpus": [{"changed outs": {"data/demo": "not in cache"}}]}
    assert stale_deps(status) == {"ingest": {"features/core": "modified"},
                                  "train@0": {"params.yaml": {"train.epochs": "modified"}}}


def test_committed_baseline_matches_code_and_params():
    assert (REPO / "dvc.lock").exists(), "dvc.lock is not committed"
    metrics = json.loads((REPO / "reports/metrics.json").read_text())
    assert {"acc", "uar", "macro_f1"} <= set(metrics)
    status = json.loads(run(["dvc", "status", "--json"], REPO).stdout)
    stale = stale_deps(status)
    assert not stale, (f"the committed baseline is stale (code or params changed since the "
                       f"run that wrote dvc.lock): {stale}; refresh with `dvc repro && git add "
                       f"dvc.lock reports/`")
