"""Report stage: headline metrics.json, detail scores, DVC plot data and templates, the comparison."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from features.core.config import dump_params
from models.reporting import (
    LATE_FUSION,
    LUNA_JIMENEZ,
    f1_records,
    modality_kind,
    paper_accuracy,
    paper_binary_f1,
    paper_number,
    training_records,
)

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
    assert paper_number(["lms", "kpd_face"], "multiclass", None) == 76.82
    assert paper_number(["kpd_face"], "binary", "happy") == 89.0
    assert paper_number(["gaze"], "multiclass", None) is None


def test_paper_numbers_live_in_one_place():
    """stages/ and the other models/ modules take the papers' numbers from models/reporting.py."""
    assert LUNA_JIMENEZ[LATE_FUSION] == 86.70
    for path in list((REPO / "stages").glob("*.py")) + list((REPO / "models").glob("*.py")):
        if path.name == "reporting.py":
            continue
        text = path.read_text()
        for number in ("86.70", "86.7", "76.82", "81.82", "62.13", "65.6", "67.13"):
            assert number not in text, f"{path.name} hard-codes the paper number {number}"


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


def _history(fold: int, epochs: int = 4) -> pd.DataFrame:
    return pd.DataFrame({"epoch": range(1, epochs + 1),
                         "train_loss": [2.0 - 0.3 * e - 0.01 * fold for e in range(epochs)],
                         "train_acc": [0.2 + 0.1 * e for e in range(epochs)],
                         "seconds": [1.234 + e for e in range(epochs)]})


def test_report_stage_writes_every_file(tmp_path, monkeypatch):
    from stages import report
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["train"].update(modalities=["lms", "kpd_face"], task="multiclass", folds=[0, 1, 2])
    params["dataset"]["root"] = "data/demo/corpus"
    (tmp_path / "params.yaml").write_text(dump_params(params))
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
        _history(k).to_csv(f"reports/train/fold_{k}_history.csv", index=False)
    assert report.main([]) == 0

    accs = [float(np.mean(preds[k]["label"] == preds[k]["predicted"])) for k in (0, 1, 2)]
    metrics = json.loads(Path("reports/metrics.json").read_text())
    assert set(metrics) == {"acc", "acc_ci", "uar", "uar_ci", "macro_f1", "macro_f1_ci", "paper"}
    assert metrics["acc"] == pytest.approx(100 * np.mean(accs), abs=0.005)
    assert metrics["paper"] == 76.82 and metrics["acc_ci"] > 0
    scores = json.loads(Path("reports/scores.json").read_text())
    assert scores["accuracy"]["fold_1"] == pytest.approx(accs[1])
    assert scores["accuracy"]["ci95_low"] < scores["accuracy"]["mean"] < scores["accuracy"]["ci95_high"]
    assert set(scores["f1"]) == set(NAMES) and scores["n_test_clips"] == 96

    records = json.loads(Path("reports/plots/confusion.json").read_text())
    assert len(records) == 96 and set(records[0]) == {"actual", "predicted"}
    assert sum(r["actual"] == r["predicted"] for r in records) == sum(
        int((df["label"] == df["predicted"]).sum()) for df in preds.values())
    f1 = json.loads(Path("reports/plots/f1.json").read_text())
    ours = {r["emotion"]: r["f1"] for r in f1 if r["source"] == "this run"}
    assert ours == {n: pytest.approx(100 * v, abs=0.005) for n, v in scores["f1"].items()}
    paper = {r["emotion"]: r["f1"] for r in f1 if r["source"].startswith("paper kpd_face")}
    assert paper["happy"] == 89.0 and len(paper) == 8
    assert {r["source"] for r in f1} == {"this run", "paper lms (binary, Table 6.1)",
                                         "paper kpd_face (binary, Table 6.1)"}
    curves = json.loads(Path("reports/plots/training.json").read_text())
    assert len(curves) == 12 and {r["fold"] for r in curves} == {"fold 0", "fold 1", "fold 2"}
    assert curves[0] == {"epoch": 1, "fold": "fold 0", "loss": 2.0, "accuracy": 20.0}
    assert not list(Path("reports/plots").glob("*.png"))     # DVC renders the plots

    md = Path("reports/comparison.md").read_text()
    assert "76.82" in md                                   # paper, LMS + face KPD
    assert "| human raters, audio-video (same input) | 80 |" in md
    assert "81.82" in md and "62.13" in md and "86.70" in md
    assert "synthetic demo corpus" in md and "train_loss" in md
    assert "12.5" not in md                                # no wall times: reproducible

    # the same inputs give the same bytes (the committed baseline is compared with a re-run)
    before = {p: p.read_bytes() for p in Path("reports").rglob("*") if p.is_file()}
    assert report.main([]) == 0
    assert {p: p.read_bytes() for p in Path("reports").rglob("*") if p.is_file()} == before

    # predictions made for another experiment are refused
    params["train"].update(task="binary", target="angry")
    Path("params.yaml").write_text(dump_params(params))
    with pytest.raises(ValueError, match="do not match"):
        report.main([])


def test_training_records_include_validation_when_selected():
    h = _history(3).assign(val_loss=[1.5, 1.4, 1.45, 1.5], val_acc=[0.3, 0.4, 0.35, 0.3])
    recs = training_records({3: h})
    assert {r["fold"] for r in recs} == {"fold 3", "fold 3 (val)"} and len(recs) == 8
    assert all("seconds" not in r for r in recs)


def test_f1_records_for_a_binary_run():
    recs = f1_records({"not_angry": 0.9, "angry": 0.6}, ["au"])
    assert {(r["emotion"], r["source"]) for r in recs} == {
        ("not_angry", "this run"), ("angry", "this run"), ("angry", "paper au (binary, Table 6.1)")}


@pytest.mark.parametrize("template, x, y, data", [
    ("f1_vs_paper", "emotion", "f1",
     lambda: f1_records({n: 0.5 for n in NAMES}, ["lms", "kpd_face"])),
    ("training_curves", "epoch", "loss", lambda: training_records({0: _history(0), 1: _history(1)})),
])
def test_custom_plot_templates_fill(template, x, y, data):
    """The Vega-Lite templates in .dvc/plots/ take DVC's anchors and the records' fields."""
    from dvc_render import VegaRenderer
    points = [{**r, "rev": "workspace"} for r in data()]
    spec = VegaRenderer(points, "reports/plots/x.json", template=template,
                        template_dir=str(REPO / ".dvc" / "plots"), x=x, y=y,
                        title="t").get_filled_template()
    text = json.dumps(spec)
    assert "<DVC_METRIC" not in text and spec["data"]["values"] == points
    assert spec["$schema"].endswith("vega-lite/v5.json")
