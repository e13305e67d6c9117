"""The experiment workflow with DVC: `dvc exp run -S`, a queued grid, `dvc exp show`.

Builds a temporary git + DVC repository holding the project's code, a pipeline made of the
project's own `train` and `report` stage definitions (copied from dvc.yaml), and small synthetic
feature files written with features.core.store, then runs experiments the way the README describes.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import copy_project, dump_yaml, run
from tests.helpers.synthetic_features import synthetic_manifest, write_synthetic_features

pytestmark = pytest.mark.slow


def _experiments(repo: Path) -> dict[str, dict]:
    """name -> {"params": train section, "metrics": reports/metrics.json} from `dvc exp show --json`."""
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    out = {}
    for row in shown:
        for exp in row.get("experiments") or []:
            rev = exp["revs"][0]
            data = rev.get("data") or {}
            out[exp.get("name") or rev["rev"]] = {
                "params": data["params"]["params.yaml"]["data"]["train"],
                "metrics": data["metrics"]["reports/metrics.json"]["data"],
            }
    return out


@pytest.fixture(scope="module")
def exp_repo(tmp_path_factory) -> Path:
    repo = copy_project(tmp_path_factory.mktemp("dvc_exp") / "repo")
    full = yaml.safe_load((repo / "dvc.yaml").read_text())
    pipeline = {"stages": {k: full["stages"][k] for k in ("train", "report")},
                "plots": full["plots"]}
    (repo / "dvc.yaml").write_text(dump_yaml(pipeline))
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"].update(folds=[4], epochs=8, lr=0.01, filters=8, scales=2, layers=1,
                           threads=1, mlp_hidden=[16, 16], modalities=["lms"])
    (repo / "params.yaml").write_text(dump_yaml(params))
    manifest = synthetic_manifest(list(range(1, 9)), 16)        # folds 0, 1, 3, 4 present
    (repo / "data").mkdir()
    manifest.to_parquet(repo / "data/manifest.parquet", index=False)
    write_synthetic_features(repo / "data/features", manifest,
                             {"lms": (88, 24), "kpd_face": (88, 40)}, amplitude=0.8)
    run(["dvc", "add", "data/features", "data/manifest.parquet"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "synthetic features and a train + report pipeline"], repo)
    return repo


def _one_fold_of_32(acc: float) -> bool:
    """A headline accuracy (%, 2 decimals) of one test fold of 32 clips is k / 32 for an integer k."""
    return abs(acc * 32 / 100 - round(acc * 32 / 100)) < 0.01


def test_exp_run_with_set_param_and_exp_show(exp_repo):
    run(["dvc", "exp", "run", "-n", "audio", "-S", "train.modalities=[lms]"], exp_repo)
    run(["dvc", "exp", "run", "-n", "audio-face", "-S", "train.modalities=[lms,kpd_face]"], exp_repo)
    exps = _experiments(exp_repo)
    assert {"audio", "audio-face"} <= set(exps)
    assert exps["audio"]["params"]["modalities"] == ["lms"]
    assert exps["audio-face"]["params"]["modalities"] == ["lms", "kpd_face"]
    a, b = exps["audio"]["metrics"], exps["audio-face"]["metrics"]
    assert set(a) == set(b) == {"acc", "uar", "macro_f1", "paper"}   # headline only; 1 fold: no CI
    assert _one_fold_of_32(a["acc"]) and _one_fold_of_32(b["acc"])
    assert a != b                                   # two different models, two different results
    shown = run(["dvc", "exp", "show", "--only-changed", "--no-pager"], exp_repo,
                env={"COLUMNS": "250"}).stdout
    assert "audio-face" in shown and "macro_f1" in shown
    # the workspace holds the last experiment's reports
    assert (exp_repo / "reports/plots/confusion.json").exists()
    assert "Houmard" in (exp_repo / "reports/comparison.md").read_text()


def test_queued_grid(exp_repo):
    run(["dvc", "exp", "run", "--queue", "-S", "train.modalities=[kpd_face],[lms,kpd_face]",
         "-S", "train.epochs=5"], exp_repo)
    status = run(["dvc", "queue", "status"], exp_repo).stdout
    assert status.count("Queued") == 2, status
    run(["dvc", "queue", "start"], exp_repo)
    deadline = time.time() + 400
    while time.time() < deadline:
        status = run(["dvc", "queue", "status"], exp_repo).stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(3)
    assert status.count("Success") == 2, status
    queued = [e for e in _experiments(exp_repo).values() if e["params"]["epochs"] == 5]
    assert sorted(e["params"]["modalities"] for e in queued) == [["kpd_face"], ["lms", "kpd_face"]]
    assert all(_one_fold_of_32(e["metrics"]["acc"]) for e in queued)


def test_knobs_through_dvc_exp_run(exp_repo):
    """The issue-13 knobs set with -S (nested augment keys included) reach the train stage:
    two seeds per fold with their spread in reports/train/fold_4.json, actor standardisation,
    SpecAugment masks and mixup."""
    run(["dvc", "exp", "run", "-n", "knobs", "-S", "train.seeds=2", "-S", "train.standardise=actor",
         "-S", "train.augment.time_masks=2", "-S", "train.augment.freq_masks=1",
         "-S", "train.augment.mixup=0.2", "-S", "train.jobs=2", "-S", "train.threads=0"], exp_repo)
    exps = _experiments(exp_repo)
    p = exps["knobs"]["params"]
    assert p["seeds"] == 2 and p["standardise"] == "actor" and p["augment"]["mixup"] == 0.2
    info = json.loads((exp_repo / "reports/train/fold_4.json").read_text())
    assert info["standardise"] == "actor" and info["augment"]["time_masks"] == 2
    seeds = info["seeds"]
    assert seeds["n"] == 2 and len(seeds["accuracy"]["per_seed"]) == 2
    assert seeds["accuracy"]["min"] <= info["accuracy"] + 1 and seeds["accuracy"]["std"] >= 0
    assert (exp_repo / "data/models/fold_4/model_seed1.pt").exists()
    log = (exp_repo / "reports/train/fold_4.log").read_text()
    threads = max(1, len(os.sched_getaffinity(0)) // 2)                  # cores // train.jobs
    assert "seeds [0, 1]: accuracy" in log and f"{threads} CPU threads" in log
    assert _one_fold_of_32(exps["knobs"]["metrics"]["acc"])
