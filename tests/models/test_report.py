"""Report stage: metrics.json, DVC confusion records, PNG plots and the comparison with the papers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from models.reporting import modality_kind, paper_accuracy, paper_binary_f1

REPO = Path(__file__).resolve().parents[2]
NAMES = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]


def test_paper_lookup():
    assert paper_accuracy(["lms", "kpd_face"]) == 76.82
    assert paper_accuracy(["kpd_face", "lms"]) == 76.82
    assert paper_accuracy(["lms"]) == 65.6
    assert paper_accuracy(["wav2vec2"]) == 81.63
    assert paper_accuracy(["resnet_mouth", "resnet_eyes", "wav2vec2"]) == 83.51
    assert paper_accuracy(["pose"]) == 33.85
    assert paper_accuracy(["pose", "lms"]) is None
    assert paper_accuracy(["lms", "mfcc"]) is None
    assert paper_binary_f1(["kpd_face"], "happy") == 0.89
    assert paper_binary_f1(["lms", "au"], "happy") is None
    assert modality_kind(["lms"]) == "audio only"
    assert modality_kind(["au", "pose"]) == "video only"
    assert modality_kind(["lms", "au"]) == "audio-video"


def _predictions(fold: int, actors: list[int], accuracy: float, rng) -> pd.DataFrame:
    rows = []
    for a in actors:
        for label in range(8):
            for _ in range(2):
                pred = label if rng.random() < accuracy else int(rng.integers(0, 8))
                p = np.full(8, 0.02)
                p[pred] = 1 - 0.02 * 7
                rows.append({"video_id": f"x{a}-{label}-{_}", "actor": a, "fold": fold,
                             "emotion_label": label, "label": label, "predicted": pred,
                             **{f"p_{n}": p[i] for i, n in enumerate(NAMES)}})
    return pd.DataFrame(rows)


def test_report_stage_writes_every_file(tmp_path, monkeypatch):
    from stages import report
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["train"].update(modalities=["lms", "kpd_face"], task="multiclass", folds=[0, 1, 2])
    params["dataset"]["root"] = "data/demo/corpus"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    preds = {0: _predictions(0, [2, 5], 0.9, rng), 1: _predictions(1, [3, 6], 0.7, rng),
             2: _predictions(2, [10, 11], 0.5, rng)}
    Path("data/predictions").mkdir(parents=True)
    for k, df in preds.items():
        df.to_parquet(f"data/predictions/fold_{k}.parquet", index=False)
    Path("reports/train").mkdir(parents=True)
    for k in preds:
        Path(f"reports/train/fold_{k}.json").write_text(json.dumps({
            "selection": "train_loss", "best_epoch": 30 - k, "epochs": 30, "lr": 0.002,
            "batch_size": 64, "trunks": {"lms": {"filters": 32}}, "sources": {"lr": "paper"},
            "train_seconds": 12.5, "n_excluded": 0}))
    assert report.main([]) == 0

    metrics = json.loads(Path("reports/metrics.json").read_text())
    accs = [float(np.mean(preds[k]["label"] == preds[k]["predicted"])) for k in (0, 1, 2)]
    assert metrics["accuracy"]["fold_1"] == pytest.approx(accs[1])
    assert metrics["accuracy"]["mean"] == pytest.approx(np.mean(accs))
    assert metrics["accuracy"]["ci95_low"] < metrics["accuracy"]["mean"] < metrics["accuracy"]["ci95_high"]
    assert set(metrics["f1"]) == set(NAMES) and metrics["n_test_clips"] == 96

    records = json.loads(Path("reports/plots/confusion.json").read_text())
    assert len(records) == 96 and set(records[0]) == {"actual", "predicted"}
    assert sum(r["actual"] == r["predicted"] for r in records) == sum(
        int((df["label"] == df["predicted"]).sum()) for df in preds.values())
    for png in ("reports/plots/confusion.png", "reports/plots/f1.png"):
        assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    md = Path("reports/comparison.md").read_text()
    assert "76.82" in md                                   # paper, LMS + face KPD
    assert "| human raters, audio-video (same input) | 80 |" in md
    assert "81.82" in md and "62.13" in md and "86.70" in md
    assert "synthetic demo corpus" in md and "train_loss" in md

    # predictions made for another experiment are refused
    params["train"].update(task="binary", target="angry")
    Path("params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ValueError, match="do not match"):
        report.main([])
