"""ONNX export: onnxruntime's posteriors match PyTorch's on the same raw features (1e-4)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from models.export import export_onnx, main
from models.folds import load_checkpoint
from models.hparams import resolve_experiment
from models.training import build_model, predict_proba

DIMS = {"lms": 24, "kpd_face": 40}


def _checkpoint(path, modalities, seed=0):
    """A fold checkpoint of a randomly initialised, briefly 'trained' model (BN stats moved)."""
    torch.manual_seed(seed)
    exp = resolve_experiment({"modalities": modalities, "epochs": 1, "filters": 8, "scales": 3,
                              "mlp_hidden": [16, 8]})
    model = build_model(exp, {m: DIMS[m] for m in modalities})
    model.train()
    with torch.no_grad():                      # move BatchNorm running stats off their init
        for _ in range(3):
            model({m: torch.randn(16, 88, DIMS[m]) * 2 + 1 for m in modalities})
    rng = np.random.default_rng(seed)
    torch.save({
        "format": "hmd-emotion/multinet-v1",
        "state_dict": model.state_dict(),
        "experiment": exp.to_dict(),
        "in_dims": {m: DIMS[m] for m in modalities},
        "standardisers": {m: {"mean": torch.from_numpy(rng.normal(size=DIMS[m]).astype(np.float32)),
                              "std": torch.from_numpy(rng.uniform(0.5, 2, DIMS[m]).astype(np.float32))}
                          for m in modalities},
    }, path)
    return path


@pytest.mark.parametrize("modalities", [["lms"], ["lms", "kpd_face"]])
def test_onnx_matches_pytorch(tmp_path, modalities):
    ckpt = _checkpoint(tmp_path / "model.pt", modalities)
    out = export_onnx(ckpt, tmp_path / "fold.onnx")
    rng = np.random.default_rng(1)
    raw = {m: rng.normal(1.0, 3.0, size=(5, 88, DIMS[m])).astype(np.float32) for m in modalities}
    raw[modalities[0]][0, 3, 2] = np.nan        # a non-finite value is zeroed after standardising

    model, _, stds = load_checkpoint(ckpt)
    expected = predict_proba(model, {m: stds[m].transform(raw[m]) for m in modalities})

    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == modalities
    got = session.run(["probabilities"], raw)[0]
    assert got.shape == (5, 8)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert not np.allclose(got, got[:1])           # different clips, different posteriors
    # any batch size (the batch axis is dynamic)
    one = session.run(["probabilities"], {m: raw[m][2:3] for m in modalities})[0]
    np.testing.assert_allclose(one, expected[2:3], atol=1e-4)

    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(meta["modalities"]) == modalities
    assert json.loads(meta["class_names"])[0] == "neutral"


def test_export_rejects_foreign_checkpoint(tmp_path, capsys):
    bad = tmp_path / "other.pt"
    torch.save({"format": "something-else", "state_dict": {}}, bad)
    with pytest.raises(SystemExit, match="other.pt: not a Multi-Net checkpoint"):
        main([str(bad), "-o", str(tmp_path / "x.onnx")])
    assert not (tmp_path / "x.onnx").exists()
