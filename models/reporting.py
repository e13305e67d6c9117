"""Report content: the papers' numbers (the one place they live), plot data and tables.

What the report stage writes (:func:`report_files`; DVC renders the plots with the templates in
``.dvc/plots/``, see dvc.yaml's top-level ``plots:``):

* ``reports/metrics.json``: the headline only (``models.metrics.headline``), what ``dvc exp
  show`` compares;
* ``reports/scores.json``: every fold, CI bounds, per-class F1, counts (not a DVC metric);
* ``reports/plots/confusion.json``: one ``{actual, predicted}`` record per test clip (DVC's
  ``confusion`` template);
* ``reports/plots/f1.json``: F1 % per emotion of this run beside the paper's binary F1 table
  (template ``f1_vs_paper``);
* ``reports/plots/training.json``: training loss and accuracy per epoch and fold (template
  ``training_curves``);
* ``reports/comparison.md``: this run beside the papers and the human raters.

Paper numbers (SPEC.md; Houmard thesis Tables 6.1-6.3; Luna-Jiménez et al. 2022):

* multi-class 5-fold accuracy per feature combination (Table 6.2, video x audio);
* binary macro-F1 per emotion for unimodal TIM-Net (Table 6.1; the binary audio runs used
  Wav2Vec2-Base);
* human raters 62 % (audio only), 72 % (video only), 80 % (audio-video);
* Luna-Jiménez et al. on the same folds: fine-tuned xlsr-Wav2Vec2 81.82 %, AU bi-LSTM 62.13 %,
  late fusion 86.70 %.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from models.metrics import confusion_records, fold_scores, headline, summarise

AUDIO = {"lms", "mfcc", "wav2vec2"}

# video part -> {audio part -> accuracy %}; "" = none.  (Table 6.2)
_TABLE_6_2: dict[tuple[str, ...], dict[str, float]] = {
    (): {"lms": 65.6, "wav2vec2": 81.63},
    ("resnet_eyes",): {"": 53.18, "lms": 53.18, "wav2vec2": 82.48},
    ("kpd_eyes",): {"": 52.35, "lms": 70.30, "wav2vec2": 81.42},
    ("resnet_mouth",): {"": 61.58, "lms": 59.97, "wav2vec2": 82.04},
    ("resnet_eyes", "resnet_mouth"): {"": 63.48, "lms": 60.98, "wav2vec2": 83.51},
    ("resnet_face",): {"": 71.20, "lms": 69.58, "wav2vec2": 83.57},
    ("kpd_face",): {"": 67.13, "lms": 76.82, "wav2vec2": 81.63},
    ("au",): {"": 58.63, "lms": 70.93, "wav2vec2": 81.65},
    ("pose",): {"": 33.85},
}
EMOTION_ORDER = ["angry", "calm", "disgust", "fearful", "happy", "neutral", "sad", "surprised"]
# Table 6.1: binary macro-F1, columns in EMOTION_ORDER.
_TABLE_6_1: dict[str, list[float]] = {
    "lms": [0.83, 0.83, 0.85, 0.76, 0.79, 0.70, 0.68, 0.81],
    "wav2vec2": [0.91, 0.88, 0.93, 0.87, 0.85, 0.82, 0.75, 0.88],   # Wav2Vec2-Base
    "resnet_face": [0.81, 0.82, 0.84, 0.76, 0.90, 0.75, 0.75, 0.70],
    "kpd_face": [0.78, 0.82, 0.85, 0.73, 0.89, 0.79, 0.76, 0.67],
    "au": [0.77, 0.78, 0.79, 0.67, 0.87, 0.63, 0.62, 0.63],
    "resnet_eyes": [0.68, 0.72, 0.77, 0.75, 0.75, 0.68, 0.69, 0.65],
    "kpd_eyes": [0.69, 0.69, 0.69, 0.73, 0.73, 0.73, 0.69, 0.59],
    "resnet_mouth": [0.80, 0.77, 0.80, 0.67, 0.88, 0.77, 0.63, 0.68],
    "pose": [0.65, 0.65, 0.56, 0.54, 0.55, 0.55, 0.53, 0.53],
}
HUMAN = {"audio only": 62.0, "video only": 72.0, "audio-video": 80.0}
LATE_FUSION = "late fusion of both (logistic regression)"
LUNA_JIMENEZ = {"fine-tuned xlsr-Wav2Vec2 (audio)": 81.82, "AU bi-LSTM (video)": 62.13,
                LATE_FUSION: 86.70}


def modality_kind(modalities: list[str]) -> str:
    """'audio only', 'video only' or 'audio-video' (human-rater condition of the same input)."""
    audio = any(m in AUDIO for m in modalities)
    video = any(m not in AUDIO for m in modalities)
    return "audio-video" if audio and video else ("audio only" if audio else "video only")


def paper_accuracy(modalities: list[str]) -> float | None:
    """Houmard et al.'s 5-fold accuracy (%) for the same feature combination, if reported."""
    audio = [m for m in modalities if m in AUDIO]
    video = tuple(sorted(m for m in modalities if m not in AUDIO))
    if len(audio) > 1:
        return None
    return _TABLE_6_2.get(video, {}).get(audio[0] if audio else "")


def paper_binary_f1(modalities: list[str], target: str) -> float | None:
    """Houmard's binary macro-F1 for a single feature and emotion (Table 6.1), if reported."""
    if len(modalities) != 1 or modalities[0] not in _TABLE_6_1:
        return None
    return _TABLE_6_1[modalities[0]][EMOTION_ORDER.index(target)]


def paper_number(modalities: list[str], task: str, target: str | None) -> float | None:
    """The paper's number (%) for the same features and task: 5-fold accuracy (multi-class,
    Table 6.2) or binary macro-F1 for ``target`` (Table 6.1); None if not reported."""
    if task == "multiclass":
        return paper_accuracy(modalities)
    f1 = paper_binary_f1(modalities, target or "")
    return None if f1 is None else 100 * f1


def f1_records(f1: dict[str, float], modalities: list[str]) -> list[dict[str, Any]]:
    """Plot data: this run's F1 % per class, and Houmard's binary F1 % (Table 6.1: one emotion
    vs the rest, TIM-Net on one feature) per emotion for each of ``modalities`` in the table."""
    rows = [{"emotion": c, "source": "this run", "f1": round(100 * v, 2)} for c, v in f1.items()]
    for m in modalities:
        if m in _TABLE_6_1:
            rows += [{"emotion": e, "source": f"paper {m} (binary, Table 6.1)",
                      "f1": round(100 * v, 2)}
                     for e, v in zip(EMOTION_ORDER, _TABLE_6_1[m]) if e in f1]
    return rows


def training_records(histories: dict[int, pd.DataFrame]) -> list[dict[str, Any]]:
    """Plot data: per fold and epoch the training loss and accuracy (%; validation too when the
    run selected on an inner split). Wall times are left out so the data is reproducible."""
    rows = []
    for k, h in sorted(histories.items()):
        for split in ("train", "val"):
            if f"{split}_loss" not in h:
                continue
            label = f"fold {k}" + ("" if split == "train" else " (val)")
            rows += [{"epoch": int(r["epoch"]), "fold": label,
                      "loss": round(float(r[f"{split}_loss"]), 4),
                      "accuracy": round(100 * float(r[f"{split}_acc"]), 2)}
                     for _, r in h.iterrows()]
    return rows


def _json(obj: Any, indent: int | None = 1) -> str:
    return json.dumps(obj, indent=indent) + "\n"


def report_files(preds: dict[int, pd.DataFrame], histories: dict[int, pd.DataFrame],
                 class_names: list[str], modalities: list[str], task: str, target: str | None,
                 dataset_root: str, notes: list[str]) -> tuple[dict[str, str], dict[str, Any]]:
    """Every report file's text, keyed by its path under ``reports/``, and the full summary.

    ``preds``: per test fold the predictions frame (``label``, ``predicted``); ``histories``:
    per fold the training history (``epoch``, ``train_loss``, ``train_acc``, ...).
    """
    per_fold = {k: fold_scores(df["label"].to_numpy(), df["predicted"].to_numpy(), len(class_names))
                for k, df in sorted(preds.items())}
    summary = summarise(per_fold, class_names)
    allp = pd.concat([preds[k] for k in sorted(preds)], ignore_index=True)
    files = {
        "metrics.json": _json(headline(summary, paper_number(modalities, task, target)), 2),
        "scores.json": _json(summary, 2),
        "plots/confusion.json": _json(confusion_records(
            allp["label"].to_numpy(), allp["predicted"].to_numpy(), class_names)),
        "plots/f1.json": _json(f1_records(summary["f1"], modalities)),
        "plots/training.json": _json(training_records(histories)),
        "comparison.md": comparison_markdown(summary, modalities, task, target, dataset_root, notes),
    }
    return files, summary


def run_notes(infos: list[dict[str, Any]]) -> list[str]:
    """Settings lines for comparison.md from the per-fold training reports (``fold_K.json``)."""
    if not infos:
        return []
    first = infos[0]
    sel = sorted({i["selection"] for i in infos})
    notes = [f"checkpoint selection: {', '.join(sel)} (best epochs "
             f"{', '.join(str(i['best_epoch']) for i in infos)} of {first['epochs']})",
             f"lr {first['lr']:g}, batch {first['batch_size']}, epochs {first['epochs']}; trunks "
             + "; ".join(f"{m}: {t}" for m, t in first["trunks"].items()),
             "hyperparameter sources: " + ", ".join(f"{k}: {v}" for k, v in first["sources"].items())]
    excluded = sum(i.get("n_excluded", 0) for i in infos)
    if excluded:
        notes.append(f"{excluded} clip-fold entries excluded for missing features "
                     f"(reports/problems/train/)")
    return notes


def check_predictions(df: pd.DataFrame, class_names: list[str], path: str) -> pd.DataFrame:
    """``df`` if its posterior columns are this experiment's classes, else a clear error."""
    want = [f"p_{c}" for c in class_names]
    have = [c for c in df.columns if c.startswith("p_")]
    if have != want:
        raise ValueError(f"{path}: posterior columns {have} do not match the experiment's "
                         f"classes {want}; re-run the train stage")
    return df


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.2f}"


def comparison_markdown(summary: dict[str, Any], modalities: list[str], task: str,
                        target: str | None, dataset_root: str, notes: list[str]) -> str:
    """reports/comparison.md: this run beside the paper's number and the published baselines."""
    acc, f1 = summary["accuracy"], summary["macro_f1"]
    name = " + ".join(modalities)
    ci = (f" (95 % CI {_pct(acc.get('ci95_low'))}–{_pct(acc.get('ci95_high'))})"
          if acc.get("ci95_low") is not None else "")
    lines = [f"# Results: {name} ({task}{', ' + target if target else ''})", ""]
    if "demo" in dataset_root:
        lines += [f"> Data: `{dataset_root}` is the synthetic demo corpus. Its numbers check that "
                  "the pipeline learns; they are not comparable to the papers' RAVDESS results.", ""]
    lines += ["| system | accuracy % | macro-F1 % | UAR % |", "|---|---|---|---|",
              f"| **this run** ({summary['n_folds']} folds){ci} | {_pct(acc['mean'])} | "
              f"{_pct(f1['mean'])} | {_pct(summary['uar']['mean'])} |"]
    if task == "multiclass":
        paper = paper_accuracy(modalities)
        lines.append(f"| Houmard et al., same features | "
                     f"{'not reported' if paper is None else f'{paper:.2f}'} | – | – |")
        for label, value in HUMAN.items():
            mark = " (same input)" if label == modality_kind(modalities) else ""
            lines.append(f"| human raters, {label}{mark} | {value:.0f} | – | – |")
        for label, value in LUNA_JIMENEZ.items():
            lines.append(f"| Luna-Jiménez et al., {label} | {value:.2f} | – | – |")
    else:
        paper = paper_binary_f1(modalities, target or "")
        lines.append(f"| Houmard et al. TIM-Net, same feature, {target} vs rest | – | "
                     f"{'not reported' if paper is None else f'{100 * paper:.0f}'} | – |")
    lines += ["", "## Per fold", "", "| fold | accuracy % | UAR % | macro-F1 % |", "|---|---|---|---|"]
    folds = sorted(int(k.split("_")[1]) for k in acc if k.startswith("fold_"))
    for k in folds:
        lines.append(f"| {k} | {_pct(acc[f'fold_{k}'])} | {_pct(summary['uar'][f'fold_{k}'])} | "
                     f"{_pct(f1[f'fold_{k}'])} |")
    lines += ["", "## F1 per class (mean over folds)", "", "| class | F1 % |", "|---|---|"]
    lines += [f"| {c} | {_pct(v)} |" for c, v in summary["f1"].items()]
    if notes:
        lines += ["", "## Settings", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"
