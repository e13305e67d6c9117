"""Pretrained weights for the learnt features (Wav2Vec2, ResNet-18), offline only.

Nothing is ever downloaded: importing this module sets ``HF_HUB_OFFLINE=1`` (unless the caller
set it) and every load passes ``local_files_only=True``. A checkpoint is either a local directory
(what ``save_pretrained`` / ``hf download --local-dir`` writes) or a hub id that is already in
the local Hugging Face cache. :func:`resolve_checkpoint` finds it or fails at once, before any
work, with a message naming the checkpoint and the ways to provide it.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json")


class CheckpointError(RuntimeError):
    """Pretrained weights that are not available on this machine (the message says how to get them)."""


def _how_to(checkpoint: str, params_key: str, feature: str, switch: str) -> str:
    name = checkpoint.rstrip("/").split("/")[-1] or "model"
    return (
        "No weights can be downloaded here (offline: HF_HUB_OFFLINE=1, local_files_only=True). "
        "Provide them in one of these ways:\n"
        f"  1. a local directory: on a machine with hub access run `hf download {checkpoint} "
        f"--local-dir checkpoints/{name}` (older huggingface_hub: `huggingface-cli download "
        f"...`), or from_pretrained('{checkpoint}') once with HF_HUB_OFFLINE unset and "
        f"save_pretrained(dir) for the model and its feature extractor / image processor; copy "
        f"the folder here and set {params_key}: checkpoints/{name} in params.yaml;\n"
        f"  2. the Hugging Face cache: `hf download {checkpoint}` where the hub is reachable, then "
        f"copy that machine's hub cache (~/.cache/huggingface/hub, or $HF_HOME/hub) here;\n"
        f"  3. `dvc pull data/features/{feature}` from a team remote that already holds the "
        f"computed features;\n"
        f"  or switch the stage off with {switch} in params.yaml.")


def resolve_checkpoint(checkpoint: str, params_key: str, feature: str, switch: str) -> Path:
    """The local directory holding ``checkpoint``'s config and weights; :class:`CheckpointError` if absent.

    ``checkpoint`` is a directory or a hub id (looked up in the local cache only).
    ``params_key``, ``feature`` and ``switch`` only shape the error message (which params key
    names the checkpoint, which feature folder ``dvc pull`` would fetch, how to switch it off).
    """
    how = _how_to(checkpoint, params_key, feature, switch)
    path = Path(checkpoint).expanduser()
    if path.is_dir():
        folder = path
    elif path.exists() or checkpoint.startswith((".", "/", "~")) or checkpoint.count("/") > 1:
        raise CheckpointError(f"{feature}: checkpoint directory {checkpoint!r} ({params_key}) "
                              f"does not exist or is not a directory.\n{how}")
    else:
        from huggingface_hub import snapshot_download

        try:
            folder = Path(snapshot_download(checkpoint, local_files_only=True))
        except Exception as exc:  # LocalEntryNotFoundError, invalid id, offline mode errors
            raise CheckpointError(
                f"{feature}: checkpoint {checkpoint!r} ({params_key}) is neither a local "
                f"directory nor in the local Hugging Face cache ({type(exc).__name__}).\n{how}"
            ) from exc
    if not (folder / "config.json").is_file():
        raise CheckpointError(f"{feature}: checkpoint {checkpoint!r} ({params_key}): {folder} "
                              f"has no config.json.\n{how}")
    if not any((folder / f).is_file() for f in WEIGHT_FILES):
        raise CheckpointError(f"{feature}: checkpoint {checkpoint!r} ({params_key}): {folder} "
                              f"has no weights (none of {', '.join(WEIGHT_FILES)}).\n{how}")
    return folder
