"""ResNet-18 crop embeddings with a tiny local checkpoint built here, and the stage end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from features.core.config import dump_params
from features.core.problems import read_problems
from features.core.store import FeatureRecord, StoreError, list_ids, read_record, write_feature_file
from features.learnt.checkpoints import CheckpointError
from features.learnt.resnet import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    clip_vectors,
    embed_images,
    image_normalisation,
    load_resnet,
    preprocess,
)

REPO = Path(__file__).resolve().parents[2]
DIMS = 32


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A ResNetForImageClassification checkpoint (like microsoft/resnet-18) + its image processor."""
    from transformers import ConvNextImageProcessor, ResNetConfig, ResNetForImageClassification

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("resnet") / "tiny-resnet"
    cfg = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 16, DIMS], depths=[1, 1, 1, 1],
                       layer_type="basic", num_labels=10)
    ResNetForImageClassification(cfg).save_pretrained(folder)
    ConvNextImageProcessor(crop_pct=0.875, size={"shortest_edge": 224}, image_mean=IMAGENET_MEAN,
                           image_std=IMAGENET_STD).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def model(tiny_checkpoint):
    return load_resnet(tiny_checkpoint, "cpu")


def images(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def test_normalisation_matches_the_image_processor(tiny_checkpoint):
    from transformers import AutoImageProcessor

    mean, std, rescale, fallback = image_normalisation(tiny_checkpoint)
    assert not fallback and np.allclose(mean, IMAGENET_MEAN) and np.allclose(std, IMAGENET_STD)
    x = images(3, 224, 224)
    proc = AutoImageProcessor.from_pretrained(tiny_checkpoint, local_files_only=True)
    want = proc(list(x), do_resize=False, do_center_crop=False, return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(preprocess(x, mean, std, rescale), want.float(), atol=1e-5, rtol=1e-5)


def test_crops_are_resized_whole_to_224():
    mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    mouth = np.zeros((2, 110, 180, 3), np.uint8)
    mouth[..., 0], mouth[:, :, 90:, 1] = 200, 255      # red everywhere, green on the right half
    x = preprocess(mouth, mean, std)
    assert x.shape == (2, 3, 224, 224)
    np.testing.assert_allclose(x[:, 0].numpy(), (200 / 255 - mean[0]) / std[0], rtol=1e-5)
    # no centre crop: the left and right edges of the patch survive the resize
    g = x[0, 1].numpy() * std[1] + mean[1]
    assert np.allclose(g[:, :100], 0, atol=1e-6) and np.allclose(g[:, 124:], 1, atol=1e-6)


def test_loads_the_checkpoint_weights(tiny_checkpoint, model):
    from transformers import ResNetForImageClassification

    saved = ResNetForImageClassification.from_pretrained(tiny_checkpoint)
    torch.testing.assert_close(model.embedder.embedder.convolution.weight,
                               saved.resnet.embedder.embedder.convolution.weight)


def test_pooled_vectors_and_eye_modes(model):
    mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    face = images(5, 224, 224)
    vec = clip_vectors(model, face, mean, std, batch_size=2)
    assert vec.shape == (5, DIMS) and vec.dtype == np.float32
    with torch.inference_mode():
        ref = model(pixel_values=preprocess(face, mean, std)).pooler_output.flatten(1).numpy()
    np.testing.assert_allclose(vec, ref, atol=1e-5)
    eyes = np.stack([images(4, 128, 128, 1), images(4, 128, 128, 2)], axis=1)   # (4, 2, 128, 128, 3)
    left, right = (embed_images(model, eyes[:, i], mean, std) for i in range(2))
    avg = clip_vectors(model, eyes, mean, std, eyes="average")
    np.testing.assert_allclose(avg, (left + right) / 2, atol=1e-5)
    cat = clip_vectors(model, eyes, mean, std, eyes="concat")
    np.testing.assert_allclose(cat, np.concatenate([left, right], axis=1), atol=1e-5)
    assert clip_vectors(model, eyes[:, 0], mean, std).shape == (4, DIMS)     # one patch per frame
    with pytest.raises(ValueError, match="eyes must be one of"):
        clip_vectors(model, eyes, mean, std, eyes="max")


# --- the stage, end to end ------------------------------------------------------------------


def make_project(root: Path, checkpoint: str, eyes: str = "average") -> dict[str, np.ndarray]:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["compute"]["jobs"] = 1
    params["features"]["resnet"].update(checkpoint=checkpoint, eyes=eyes, batch_size=8)
    (root / "params.yaml").write_text(dump_params(params))
    ids = ["01-01-03-01-01-01-03", "01-01-04-02-01-01-03"]
    shapes = {"face": (6, 224, 224, 3), "eyes": (6, 2, 128, 128, 3), "mouth": (6, 110, 180, 3)}
    valid = np.array([0, 1, 1, 1, 1, 0], bool)
    data = {}
    for part, shape in shapes.items():
        recs = []
        for i, vid in enumerate(ids):
            arr = np.random.default_rng(i).integers(0, 256, shape, dtype=np.uint8)
            data[f"{part}/{vid}"] = arr
            recs.append(FeatureRecord(vid, arr, valid, np.arange(40, 46), f"video{i}"))
        recs.append(FeatureRecord("01-01-05-01-01-01-03", np.zeros((6, 8), np.float32)))  # not crops
        write_feature_file(root / "data" / "features" / f"crops_{part}" / "Actor_03.h5",
                           f"crops_{part}", recs, actor=3)
    return data


@pytest.mark.parametrize("eyes,eye_dims", [("average", DIMS), ("concat", 2 * DIMS)])
def test_stage_end_to_end(tmp_path, monkeypatch, tiny_checkpoint, model, eyes, eye_dims):
    from stages.resnet import main

    crops = make_project(tmp_path, str(tiny_checkpoint), eyes)
    monkeypatch.chdir(tmp_path)
    mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
    for part, dims in (("face", DIMS), ("eyes", eye_dims), ("mouth", DIMS)):
        if eyes == "concat" and part != "eyes":
            continue
        feature = f"resnet_{part}"
        main([feature, "03"])
        h5 = Path(f"data/features/{feature}/Actor_03.h5")
        assert list_ids(h5) == ["01-01-03-01-01-01-03", "01-01-04-02-01-01-03"]
        rec = read_record(h5, "01-01-04-02-01-01-03")
        assert rec.data.shape == (6, dims) and rec.data.dtype == np.float16
        assert rec.valid.tolist() == [False, True, True, True, True, False]
        assert rec.frame_indices.tolist() == list(range(40, 46)) and rec.source == "video1"
        want = clip_vectors(model, crops[f"{part}/01-01-04-02-01-01-03"], mean, std, eyes=eyes)
        np.testing.assert_allclose(rec.data.astype(np.float32), want, rtol=1e-2, atol=1e-2)
        rows = read_problems(f"reports/problems/{feature}/Actor_03.csv")
        assert [r["video_id"] for r in rows] == ["01-01-05-01-01-01-03"]
        assert rows[0]["action"] == "skipped" and "expected uint8" in rows[0]["problem"]


def test_stage_stops_before_any_work_without_weights(tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    from stages.resnet import main

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    make_project(tmp_path, "microsoft/resnet-18")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError) as err:
        main(["resnet_face", "03"])
    assert "'microsoft/resnet-18'" in str(err.value)
    assert "dvc pull data/features/resnet_face" in str(err.value)
    assert not Path("data/features/resnet_face").exists() and not Path("reports").exists()


def test_stage_names_a_missing_crops_file(tmp_path, monkeypatch, tiny_checkpoint):
    from stages.resnet import main

    make_project(tmp_path, str(tiny_checkpoint))
    monkeypatch.chdir(tmp_path)
    Path("data/features/crops_mouth/Actor_03.h5").unlink()
    with pytest.raises(StoreError, match=r"crops_mouth/Actor_03\.h5: crops file not found"):
        main(["resnet_mouth", "03"])
