"""The fine-tuning stages through DVC on the tiny demo (slow): demo -> crops -> finetune ->
per-fold features -> Multi-Net, and what a fine-tuning parameter change re-runs.

The ResNet is a tiny randomly initialised checkpoint saved by the test (no pretrained weights
can be downloaded here); crops are resized to 32 px for it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from features.core.store import read_file_attrs
from tests.conftest import copy_project, dump_yaml, run, set_params

pytestmark = pytest.mark.slow


def _stages(out: str) -> set[str]:
    """Stage names DVC reports as running in `dvc repro` (or `--dry`) output."""
    return {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    from transformers import ConvNextImageProcessor, ResNetConfig, ResNetForImageClassification

    tmp = tmp_path_factory.mktemp("finetune_dvc")
    torch.manual_seed(0)
    ckpt = tmp / "tiny-resnet"
    ResNetForImageClassification(ResNetConfig(embedding_size=8, hidden_sizes=[8, 8, 16, 16],
                                              depths=[1, 1, 1, 1], layer_type="basic")).save_pretrained(ckpt)
    ConvNextImageProcessor().save_pretrained(ckpt)
    repo = copy_project(tmp / "repo")
    # the stages this test needs (the other feature stages would only cost time)
    full = yaml.safe_load((repo / "dvc.yaml").read_text())
    keep = ("demo", "ingest", "track", "crops", "audio", "finetune", "finetune_features", "train",
            "report")
    top = {k: full[k] for k in ("metrics", "plots") if k in full}   # metrics: in the report stage
    (repo / "dvc.yaml").write_text(dump_yaml({"stages": {k: full["stages"][k] for k in keep}, **top}))
    set_params(repo, {
        "demo.size": "tiny", "demo.width": 320, "demo.height": 180,
        "dataset.actors": ["01", "02", "03"], "enabled.crops": ["crops"],
        "enabled.finetune": ["face"], "compute.jobs": 1,
        "features.resnet.checkpoint": str(ckpt), "features.resnet.size": 32,
        "features.resnet.dtype": "float32",
        "finetune.epochs": 2, "finetune.filters": 8, "finetune.scales": 2, "finetune.threads": 1,
        "train.folds": [0], "train.modalities": ["resnet_face_ft", "lms"], "train.epochs": 2,
        "train.filters": 8, "train.scales": 2, "train.threads": 1, "train.batch_size": 4,
    })
    out = run(["dvc", "repro"], repo).stdout
    assert {"finetune@face-0", "finetune_features@face-0", "train@0"} <= _stages(out)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "repro"], repo)
    return repo


def test_finetune_and_multinet_on_the_tiny_demo(repo):
    manifest = pd.read_parquet(repo / "data/manifest.parquet")
    preds = pd.read_parquet(repo / "data/finetune/face/predictions/fold_0.parquet")
    assert set(preds["actor"]) == {2} and len(preds) == (manifest["actor"] == 2).sum()
    summary = json.loads((repo / "reports/finetune/face/fold_0.json").read_text())
    assert summary["epochs_run"] == 2 and summary["train_actors"] == [1, 3]
    attrs = read_file_attrs(repo / "data/features/resnet_face_ft/fold_0/Actor_02.h5")
    assert attrs["params"]["extractor"]["fold"] == 0
    assert attrs["params"]["extractor"]["test_actors"] == [2]
    train = json.loads((repo / "reports/train/fold_0.json").read_text())
    assert train["modalities"] == ["resnet_face_ft", "lms"] and train["test_actors"] == [2]
    assert (repo / "reports/metrics.json").exists()


def test_a_finetune_param_reruns_exactly_finetune_features_and_training(repo):
    assert _stages(run(["dvc", "repro", "--dry"], repo).stdout) == set()
    set_params(repo, {"finetune.lr": 0.001})
    status = run(["dvc", "status", "--json"], repo).stdout
    changed = set(json.loads(status))
    assert changed == {"finetune@face-0", "finetune_features@face-0"}, changed
    out = run(["dvc", "repro"], repo).stdout
    assert _stages(out) == {"finetune@face-0", "finetune_features@face-0", "train@0", "report"}, out
    # a crops parameter, by contrast, starts from the crops
    set_params(repo, {"crops.quality": 80})
    changed = set(json.loads(run(["dvc", "status", "--json"], repo).stdout))
    assert {"crops@01-crops", "crops@02-crops", "crops@03-crops"} <= changed, changed
    assert not any(s.startswith(("finetune", "train", "audio", "track")) for s in changed), changed
