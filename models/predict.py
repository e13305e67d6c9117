"""Trained fold models applied to new inputs: loading, compatibility checks, posterior averaging.

A fold checkpoint (``data/models/fold_K/model.pt``, :func:`models.folds.checkpoint`) holds the
model, the experiment, the training standardisers and (since issue 15) the params each input
feature was computed with (``features``: the feature files' ``params`` attribute). Older
checkpoints without that record fall back to the attributes of the project's own feature files
(``data/features/<feature>/Actor_XX.h5``, :func:`features.core.store.read_file_attrs`); when
neither exists the model cannot be applied and the error says so.

Posteriors of several fold models are averaged with equal weights (each fold standardises the
raw features with its own training statistics first), the usual ensemble of cross-validation
models; ``fold: K`` uses one model.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from features.core.config import get
from features.core.paths import FEATURES_DIR, MODELS_DIR
from features.core.problems import ProblemLog
from features.core.store import StoreError, read_file_attrs
from features.predict.recording import FeatureSpec, Recording, Reference, window_inputs
from models.data import Standardiser
from models.folds import load_checkpoint
from models.hparams import Experiment
from models.multinet import MultiNet
from models.training import predict_proba

CHECKPOINT_FORMAT = "hmd-emotion/multinet-v1"
# Features predict can compute from a recording, and what each needs from it.
VIDEO_FEATURES = ("kpd_face", "kpd_eyes")
AUDIO_FEATURES = ("lms", "mfcc")
SUPPORTED = VIDEO_FEATURES + AUDIO_FEATURES


class CheckpointError(ValueError):
    """A checkpoint that cannot be used for prediction (the message names the file and why)."""


@dataclasses.dataclass
class FoldModel:
    """One trained fold model and everything needed to feed it new inputs."""

    fold: str                              # "0".."4" (from the folder name) or the file stem
    path: Path
    model: MultiNet
    exp: Experiment
    standardisers: dict[str, Standardiser]
    features: dict[str, dict[str, Any]]    # modality -> params its training features used
    feature_source: str                    # "checkpoint" | "feature files"

    @property
    def modalities(self) -> list[str]:
        return list(self.exp.modalities)


def _feature_params_from_files(modality: str, root: Path) -> dict[str, Any] | None:
    for path in sorted((Path(root) / modality).glob("Actor_*.h5")):
        try:
            return read_file_attrs(path).get("params", {})
        except StoreError:
            continue
    return None


def load_fold_model(path: str | Path, features_root: Path = FEATURES_DIR) -> FoldModel:
    """Load ``model.pt`` for prediction; :class:`CheckpointError` naming the file when it is
    missing, of another format or version, or lacks the record of its feature settings."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found (run `dvc repro train` first)")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip or unsupported-type errors all mean "not ours"
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({exc})") from exc
    fmt = raw.get("format") if isinstance(raw, dict) else None
    if fmt != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {fmt!r}; this version reads "
                              f"{CHECKPOINT_FORMAT!r} (retrain with `dvc repro train`)")
    try:
        model, exp, stds = load_checkpoint(path)
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: checkpoint incompatible with this version of the code "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0]}); retrain "
                              f"with `dvc repro train`") from exc
    recorded = raw.get("features") or {}
    features, source = {}, "checkpoint"
    for m in exp.modalities:
        if m in recorded:
            features[m] = dict(recorded[m])
            continue
        found = _feature_params_from_files(m, features_root)
        if found is None:
            raise CheckpointError(f"{path}: the checkpoint does not record the settings of feature "
                                  f"{m} and {Path(features_root) / m} has no feature file to read "
                                  f"them from; retrain with this version")
        features[m], source = found, "feature files"
    fold = path.parent.name.removeprefix("fold_") if path.parent.name.startswith("fold_") \
        else path.stem
    return FoldModel(fold, path, model, exp, stds, features, source)


def load_models(params: dict[str, Any], problems: ProblemLog) -> list[FoldModel]:
    """The fold models of ``predict.models`` (``predict.fold``: all or K) for the predict stage.

    An unusable checkpoint is reported in ``problems`` and the other folds are used; the stage
    stops (``SystemExit`` with the reason) only when none is usable, when they disagree in
    modalities, classes or feature settings, or when they use features predict cannot compute.
    """
    fold = str(get(params, "predict.fold", "all"))
    root = Path(get(params, "predict.models", str(MODELS_DIR)))
    paths = sorted(root.glob("fold_*/model.pt")) if fold == "all" else \
        [root / f"fold_{int(fold)}" / "model.pt"]
    if not paths:
        raise SystemExit(f"stages.predict: {root}: no fold_K/model.pt (run `dvc repro train`)")
    models = []
    for path in paths:
        try:
            models.append(load_fold_model(path))
        except CheckpointError as exc:
            problems.add(path, str(exc), "model not used", fatal_ok=False)
    if not models:
        raise SystemExit("stages.predict: no usable model:\n  " +
                         "\n  ".join(p.problem for p in problems.items))
    first = models[0]
    for m in models[1:]:
        if (m.modalities, m.exp.class_names, m.features) != \
                (first.modalities, first.exp.class_names, first.features):
            raise SystemExit(f"stages.predict: {m.path} and {first.path} were trained on "
                             f"different features, classes or settings; set predict.fold")
    bad = unsupported_features(first.modalities)
    if bad:
        raise SystemExit(f"stages.predict: the models ({first.path}, ...) use {', '.join(bad)}, "
                         f"which predict cannot compute from a recording (it computes kpd_face, "
                         f"kpd_eyes, lms, mfcc); train on those features to predict")
    return models


def unsupported_features(modalities: list[str]) -> list[str]:
    """Modalities predict cannot compute from a recording (e.g. wav2vec2, resnet_*, au)."""
    return [m for m in modalities if m not in SUPPORTED]


class Ensemble:
    """The fold models averaged: posteriors ``(n, C)`` = mean over models of each one's softmax.

    When the models share one architecture (the five folds of one run always do), their
    parameters are stacked on a leading axis once and the network runs as one
    ``torch.func.vmap`` call over them: the same arithmetic as looping over the models, but each
    of TIM-Net's many small operations is dispatched once instead of once per model. A window is
    one clip at batch 1, where the cost is the per-operation overhead, so five folds cost about
    half the CPU of the loop (``bench/bench_live.py``). Models that differ in architecture
    (``predict.fold`` picks one; mixed checkpoints) are looped.
    """

    def __init__(self, models: list[FoldModel]):
        if not models:
            raise ValueError("Ensemble needs at least one fold model")
        self.models = models
        first = models[0].model
        self.stacked = len(models) > 1 and all(
            type(fm.model) is type(first) and repr(fm.model) == repr(first)
            and fm.modalities == models[0].modalities for fm in models[1:])
        if self.stacked:
            import copy

            from torch.func import stack_module_state

            nets = [fm.model.eval() for fm in models]
            self.params, self.buffers = stack_module_state(nets)
            self.base = copy.deepcopy(first).to("meta").eval()

    def _stacked_logits(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        from torch.func import functional_call, vmap

        def one(params, buffers, inputs):
            return functional_call(self.base, (params, buffers), (inputs,))

        return vmap(one)(self.params, self.buffers, x)               # (models, n, C)

    @torch.inference_mode()
    def posteriors(self, raw: dict[str, np.ndarray], masks: dict[str, np.ndarray],
                   batch: int = 256) -> np.ndarray:
        """Mean posteriors ``(n, C)`` of raw features ``{m: (n, frames, dims)}`` with valid
        masks ``{m: (n, frames)}``; each model standardises with its own statistics."""
        if not self.stacked:
            out = None
            for fm in self.models:
                x = {m: fm.standardisers[m].transform(raw[m], masks[m]) for m in fm.modalities}
                p = predict_proba(fm.model, x, device=torch.device("cpu"))
                out = p if out is None else out + p
            return out / len(self.models)
        mods = self.models[0].modalities
        x = {m: torch.from_numpy(np.stack([fm.standardisers[m].transform(raw[m], masks[m])
                                           for fm in self.models])) for m in mods}
        n = x[mods[0]].shape[1]
        parts = [torch.softmax(self._stacked_logits({m: v[:, i:i + batch] for m, v in x.items()}),
                               dim=2).double().sum(dim=0) for i in range(0, n, batch)]
        if not parts:
            return np.zeros((0, 0))
        return torch.cat(parts).numpy() / len(self.models)


def average_posteriors(models: list[FoldModel], raw: dict[str, np.ndarray],
                       masks: dict[str, np.ndarray]) -> np.ndarray:
    """Mean over ``models`` of the posteriors ``(n, C)`` (see :class:`Ensemble`; build one
    :class:`Ensemble` when scoring many windows with the same models)."""
    return Ensemble(models).posteriors(raw, masks)


# ---------------------------------------------------------------------------------------------
# One recording end to end: windows -> features -> averaged posteriors -> table rows.

@dataclasses.dataclass(frozen=True)
class PredictConfig:
    """The ``predict`` params that shape the scoring of one recording."""

    window: int = 0                 # model frames per sliding window (0 = training count)
    hop: int = 15                   # model frames between window starts
    clip_score: str = "mean"        # mean (of the windows) | middle (training's selection)
    neutral: str = "clip"           # clip | first_seconds | calibration
    neutral_seconds: float = 2.0


CLIP_SCORES = ("mean", "middle")


def score_recording(rec: Recording, spec: FeatureSpec, models: list[FoldModel],
                    cfg: PredictConfig, ref: Reference) -> pd.DataFrame:
    """Rows of one recording: ``kind`` ``clip`` (one row) then ``window`` rows, with
    ``start_s``, ``end_s``, ``padded``, ``tracked``, ``p_<class>`` and ``top``."""
    from features.predict.windows import middle_window, plan_windows

    names = list(models[0].exp.class_names)
    windows = plan_windows(rec.total, cfg.window or spec.count, cfg.hop)
    if cfg.clip_score not in CLIP_SCORES:
        raise ValueError(f"predict.clip_score must be one of {CLIP_SCORES}, got {cfg.clip_score!r}")
    extra = [middle_window(rec.total, spec.count)] if cfg.clip_score == "middle" else []
    ensemble = Ensemble(models)
    rows = []
    for w in windows + extra:
        xs, masks, tracked = window_inputs(rec, spec, w, ref)
        p = ensemble.posteriors({m: x[None] for m, x in xs.items()},
                                {m: v[None] for m, v in masks.items()})[0]
        start, end = w.seconds(spec.model_fps, rec.total)
        rows.append({"kind": w.kind, "window": w.index, "start_s": round(start, 4),
                     "end_s": round(end, 4), "padded": bool(w.padded.any()),
                     "tracked": round(tracked, 4), **{f"p_{c}": float(v) for c, v in zip(names, p)}})
    win = pd.DataFrame([r for r in rows if r["kind"] == "window"])
    if cfg.clip_score == "middle":
        clip = dict(rows[-1])
    else:
        clip = {"start_s": 0.0, "end_s": round(rec.total / spec.model_fps, 4),
                "padded": bool(win["padded"].any()), "tracked": round(float(win["tracked"].mean()), 4),
                **{f"p_{c}": float(win[f"p_{c}"].mean()) for c in names}}
    clip.update(kind="clip", window=-1)
    out = pd.DataFrame([clip] + win.to_dict("records"))
    probs = out[[f"p_{c}" for c in names]].to_numpy()
    out["top"] = [names[i] for i in probs.argmax(axis=1)]
    out["neutral"] = ref.source
    return out[["kind", "window", "start_s", "end_s", "padded", "tracked",
                *[f"p_{c}" for c in names], "top", "neutral"]]
