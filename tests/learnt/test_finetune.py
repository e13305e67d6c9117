"""ResNet fine-tuning per fold and its per-fold features (issue 14), with a tiny ResNet saved here.

A small project in a temporary folder: 4 actors (folds 0, 1 and 4 of the paper's split) x 16
clips, JPEG-encoded crops whose colour depends on the emotion (so the tiny network can learn),
a tiny randomly initialised ``ResNetForImageClassification`` checkpoint (no pretrained weights
can be downloaded here), and the stages run in-process.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from features.core.config import dump_params
from features.core.store import FeatureRecord, StoreError, read_file_attrs, read_record, write_feature_file
from features.learnt.resnet import IMAGENET_MEAN, IMAGENET_STD, clip_vectors, load_resnet
from features.visual.crops import decode_crops, encode_crops
from tests.helpers.synthetic_features import synthetic_manifest, write_synthetic_features

REPO = Path(__file__).resolve().parents[2]
ACTORS = [1, 2, 3, 4]          # paper folds: 1 -> 4, 2 -> 0, 3 -> 1, 4 -> 4
DIMS = 16


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    from transformers import ConvNextImageProcessor, ResNetConfig, ResNetForImageClassification

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("resnet") / "tiny-resnet"
    cfg = ResNetConfig(embedding_size=8, hidden_sizes=[8, 8, 16, DIMS], depths=[1, 1, 1, 1],
                       layer_type="basic", num_labels=10)
    ResNetForImageClassification(cfg).save_pretrained(folder)
    ConvNextImageProcessor(image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD).save_pretrained(folder)
    return folder


def clip_crops(label: int, actor: int, frames: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """uint8 RGB crops ``(frames, *shape)``: an emotion colour, an actor tint, noise."""
    rng = np.random.default_rng(seed)
    base = np.array([30 * label, 255 - 30 * label, 120 + 10 * actor], float)
    img = base + rng.normal(0, 12, (frames, *shape))
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_checkpoint) -> Path:
    root = tmp_path_factory.mktemp("finetune_project")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["compute"]["jobs"] = 1
    params["features"]["resnet"].update(checkpoint=str(tiny_checkpoint), size=32, batch_size=64,
                                        dtype="float32")
    params["finetune"].update(epochs=3, lr=2e-3, filters=8, scales=2, layers=1, threads=1)
    params["train"].update(epochs=3, lr=0.01, filters=8, scales=2, layers=1, threads=1,
                           mlp_hidden=[16, 16], folds=[0, 1], modalities=["resnet_face_ft", "lms"])
    (root / "params.yaml").write_text(dump_params(params))
    manifest = synthetic_manifest(ACTORS, 16)
    (root / "data").mkdir()
    manifest.to_parquet(root / "data/manifest.parquet", index=False)
    write_synthetic_features(root / "data/features", manifest, {"lms": (88, 24)})
    shapes = {"face": (48, 48, 3), "eyes": (2, 24, 24, 3)}
    for part, shape in shapes.items():
        for name, frames in ((f"crops_{part}", 12), (f"crops_spaced_{part}", 20)):
            for actor, rows in manifest.groupby("actor"):
                recs = [FeatureRecord(vid, encode_crops(clip_crops(lab, actor, frames, shape, i), "jpeg", 90),
                                      np.ones(frames, bool), np.arange(frames) * 3, f"video:{vid}")
                        for i, (vid, lab) in enumerate(zip(rows["video_id"], rows["label"]))]
                write_feature_file(root / "data/features" / name / f"Actor_{actor:02d}.h5", name,
                                   recs, {"crops": {"codec": "jpeg"}}, actor=int(actor))
    return root


@pytest.fixture(scope="module")
def finetuned(project):
    """Fine-tune the face ResNet on folds 0 and 1 and compute both folds' features."""
    import os

    from stages.finetune import main

    cwd = os.getcwd()
    os.chdir(project)
    try:
        for fold in (0, 1):
            main(["train", "face", str(fold)])
            main(["features", "face", str(fold)])
    finally:
        os.chdir(cwd)
    return project


def test_finetune_writes_weights_predictions_and_scores(finetuned, tiny_checkpoint):
    from transformers import ResNetForImageClassification

    from models.folds import predictions_frame  # noqa: F401  (the format compared below)

    root = finetuned
    ft = root / "data/finetune/face/fold_0"
    assert (ft / "extractor/config.json").is_file() and (ft / "extractor/model.safetensors").is_file()
    assert (ft / "extractor/preprocessor_config.json").is_file()
    tuned = load_resnet(ft / "extractor")
    start = ResNetForImageClassification.from_pretrained(tiny_checkpoint).resnet
    w0 = start.embedder.embedder.convolution.weight
    assert not torch.allclose(tuned.embedder.embedder.convolution.weight, w0)   # it was trained
    # batch_norm: frozen keeps the checkpoint's running statistics
    bn0 = start.embedder.embedder.normalization
    torch.testing.assert_close(tuned.embedder.embedder.normalization.running_mean, bn0.running_mean)
    meta = torch.load(ft / "head.pt", weights_only=True)
    manifest = pd.read_parquet(root / "data/manifest.parquet")
    assert meta["fold"] == 0 and meta["test_actors"] == [2] and meta["train_actors"] == [1, 3, 4]
    assert meta["experiment"]["lr"] == 2e-3 and meta["experiment"]["batch_size"] == 8  # Table C.1 batch
    history = pd.read_csv(root / "reports/finetune/face/fold_0_history.csv")
    assert len(history) == 3 and meta["best_epoch"] == int(history["train_loss"].idxmin()) + 1
    preds = pd.read_parquet(root / "data/finetune/face/predictions/fold_0.parquet")
    train_preds_cols = ["video_id", "actor", "fold", "emotion_label", "label", "predicted"]
    assert list(preds.columns[:6]) == train_preds_cols and preds.shape[1] == 6 + 8
    assert sorted(preds["video_id"]) == sorted(manifest.loc[manifest["actor"] == 2, "video_id"])
    np.testing.assert_allclose(preds.filter(like="p_").sum(axis=1), 1, atol=1e-6)
    import json
    summary = json.loads((root / "reports/finetune/face/fold_0.json").read_text())
    assert summary["n_test"] == 16 and summary["n_train"] == 48 and summary["n_excluded"] == 0
    assert summary["accuracy"] == pytest.approx(float((preds["predicted"] == preds["label"]).mean()))
    assert summary["best_epoch"] == meta["best_epoch"] and summary["test_actors"] == [2]
    assert summary["sources"]["epochs"] == "params"


def test_fold_k_features_come_from_fold_k_weights(finetuned):
    """Provenance and a recomputation: no test clip's vector comes from a model that trained on it."""
    root = finetuned
    manifest = pd.read_parquet(root / "data/manifest.parquet")
    mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    vecs = {}
    for fold in (0, 1):
        test_actors = sorted(set(manifest.loc[manifest["fold"] == fold, "actor"]))
        for actor in ACTORS:
            path = root / f"data/features/resnet_face_ft/fold_{fold}/Actor_{actor:02d}.h5"
            prov = read_file_attrs(path)["params"]["extractor"]
            assert prov["fold"] == fold and prov["test_actors"] == test_actors
            assert not set(prov["train_actors"]) & set(test_actors)
            rec = read_record(path, manifest.loc[manifest["actor"] == actor, "video_id"].iloc[0])
            assert rec.data.shape == (12, DIMS)
            assert rec.source.endswith(f"extractor:finetune/face/fold_{fold}:sha256:{prov['extractor_sha256']}")
        # recompute a test clip of fold K with fold K's fine-tuned weights
        vid = manifest.loc[manifest["actor"] == test_actors[0], "video_id"].iloc[3]
        crops = decode_crops(read_record(root / f"data/features/crops_face/Actor_{test_actors[0]:02d}.h5",
                                         vid).data)
        model = load_resnet(root / f"data/finetune/face/fold_{fold}/extractor")
        want = clip_vectors(model, crops, mean, std, size=32)
        got = read_record(root / f"data/features/resnet_face_ft/fold_{fold}/Actor_{test_actors[0]:02d}.h5", vid)
        np.testing.assert_allclose(got.data, want, rtol=1e-5, atol=1e-5)
        vecs[fold] = got.data
        other = load_resnet(root / f"data/finetune/face/fold_{1 - fold}/extractor")
        assert not np.allclose(clip_vectors(other, crops, mean, std, size=32), want, atol=1e-4)
    # the stored weights hash is the file's
    from features.core.hashing import sha256_file
    prov = read_file_attrs(root / "data/features/resnet_face_ft/fold_0/Actor_01.h5")["params"]["extractor"]
    assert prov["extractor_sha256"] == sha256_file(root / "data/finetune/face/fold_0/extractor/model.safetensors")


def test_multinet_reads_only_its_folds_features(finetuned, monkeypatch):
    from models.data import stored_feature
    from models.folds import load_inputs
    from stages.train import main as train_main

    root = finetuned
    monkeypatch.chdir(root)
    manifest = pd.read_parquet("data/manifest.parquet")
    rows = manifest[manifest["actor"] == 2].reset_index(drop=True)
    assert stored_feature("resnet_face_ft", 0) == "resnet_face_ft/fold_0"
    assert stored_feature("lms", 0) == "lms"
    with pytest.raises(StoreError, match="per test fold"):
        stored_feature("resnet_face_ft")
    for fold in (0, 1):
        xs, _ = load_inputs(["resnet_face_ft"], rows, Path("data/features"), fold=fold)
        want = read_record(Path(f"data/features/resnet_face_ft/fold_{fold}/Actor_02.h5"),
                           rows["video_id"][0]).data
        np.testing.assert_array_equal(xs["resnet_face_ft"][0], want)
    # Multi-Net (resnet_face_ft + lms) through the train stage, fold 0 then fold 1
    for fold in (0, 1):
        train_main([str(fold)])
        preds = pd.read_parquet(f"data/predictions/fold_{fold}.parquet")
        assert set(preds["fold"]) == {fold} and len(preds) == 16
    # a missing fold's features are reported, not silently taken from another fold
    import shutil
    shutil.move("data/features/resnet_face_ft/fold_1", "fold_1_aside")
    try:
        with pytest.raises(SystemExit, match="no usable"):
            train_main(["1"])
    finally:
        shutil.move("fold_1_aside", "data/features/resnet_face_ft/fold_1")


def test_eyes_finetune_averages_both_patches_with_32_filters(project, monkeypatch):
    from stages.finetune import main

    monkeypatch.chdir(project)
    params = yaml.safe_load(Path("params.yaml").read_text())
    params["finetune"].update(filters=None, epochs=1, augmentation="hflip", frozen_stages=2)
    Path("params.yaml").write_text(dump_params(params))
    try:
        main(["train", "eyes", "1"])
    finally:
        params["finetune"].update(filters=8, epochs=3, augmentation="none", frozen_stages=0)
        Path("params.yaml").write_text(dump_params(params))
    meta = torch.load("data/finetune/eyes/fold_1/head.pt", weights_only=True)
    assert meta["experiment"]["trunks"]["resnet_eyes"]["filters"] == 32     # Table C.1, eyes
    assert meta["head_state"]["forward_in.conv.weight"].shape[1] == DIMS   # averaged eyes: dims
    from transformers import ResNetForImageClassification
    tuned = load_resnet("data/finetune/eyes/fold_1/extractor")
    start = ResNetForImageClassification.from_pretrained(
        yaml.safe_load(Path("params.yaml").read_text())["features"]["resnet"]["checkpoint"]).resnet
    # frozen_stages 2: stem and first stage unchanged, later stages trained
    torch.testing.assert_close(tuned.embedder.embedder.convolution.weight,
                               start.embedder.embedder.convolution.weight)
    torch.testing.assert_close(tuned.encoder.stages[0].layers[0].layer[0].convolution.weight,
                               start.encoder.stages[0].layers[0].layer[0].convolution.weight)
    assert not torch.allclose(tuned.encoder.stages[3].layers[0].layer[0].convolution.weight,
                              start.encoder.stages[3].layers[0].layer[0].convolution.weight)


def test_load_stored_crops_reports_missing_clips_and_keeps_order(project, monkeypatch):
    from features.core.problems import ProblemLog
    from models.finetune_fold import load_stored_crops

    monkeypatch.chdir(project)
    manifest = pd.read_parquet("data/manifest.parquet")
    rows = pd.concat([manifest[manifest["actor"] == 2].iloc[:3], manifest[manifest["actor"] == 1].iloc[:2]])
    extra = rows.iloc[:2].copy()
    extra["video_id"] = ["no-such-clip", "no-such-actor"]
    extra["actor"] = [2, 9]
    rows = pd.concat([rows.iloc[:1], extra, rows.iloc[1:]]).reset_index(drop=True)
    problems = ProblemLog("finetune/face")
    kept, clips = load_stored_crops("crops_spaced_face", rows, problems, "fold 0 test")
    want = [v for v in rows["video_id"] if not v.startswith("no-such")]
    assert list(kept["video_id"]) == want and list(kept.index) == list(range(5))   # the rows' order
    for vid, clip in zip(want, clips):
        actor = int(rows.loc[rows["video_id"] == vid, "actor"].iloc[0])
        stored = read_record(Path(f"data/features/crops_spaced_face/Actor_{actor:02d}.h5"), vid).data
        np.testing.assert_array_equal(clip, stored)
    assert sorted(p.video_id for p in problems.items) == ["no-such-actor", "no-such-clip"]
    assert {p.action for p in problems.items} == {"excluded from fold 0 test"}


def test_autocast_settings():
    from models.finetune import autocast_settings

    assert autocast_settings(torch.device("cpu"), "auto") == (None, False)
    assert autocast_settings(torch.device("cpu"), "bf16") == (torch.bfloat16, False)
    with pytest.raises(ValueError, match="needs CUDA"):
        autocast_settings(torch.device("cpu"), "fp16")
    with pytest.raises(ValueError, match="precision must be one of"):
        autocast_settings(torch.device("cpu"), "int8")
