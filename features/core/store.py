"""The one HDF5 writer and reader for features: ``data/features/<feature>/Actor_XX.h5``.

Layout of a file: one dataset per video id at the root, ``(frames, ...)`` float32/float16 or
``(frames, H, W, 3)`` uint8 for images (per-clip features are ``(dims,)``). Attributes of each
dataset: ``valid`` (bool per frame), ``frame_indices``, ``source`` (fingerprint of the input the
value was computed from). Attributes of the file: ``feature``, ``params`` (JSON, sorted keys),
``actor``, ``format_version``.

Bytes are stable for the same inputs (so ``dvc push``/``pull`` and the run-cache agree): no
timestamps (``track_times=False``), fixed gzip level (4; 1 for uint8 images, which
compress little and dominate the write time) and chunk shapes, datasets written in
sorted id order, no wall-clock attributes. Files are written to a temporary name and renamed, so
a killed stage never leaves a partial file under the final name.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from features.core.atomic import atomic_path
from features.core.paths import FEATURES_DIR, feature_file
from features.core.ravdess import parse_name

FORMAT_VERSION = 1


class StoreError(RuntimeError):
    """A feature file or entry that is missing or unreadable (message names file and id)."""


@dataclasses.dataclass
class FeatureRecord:
    """One video's value for one feature."""

    video_id: str
    data: np.ndarray                      # (frames, ...) or (dims,) for per-clip features
    valid: np.ndarray | None = None       # (frames,) bool; None = all valid / per-clip
    frame_indices: np.ndarray | None = None  # (frames,) source frame numbers
    source: str = ""                      # fingerprint of the input (CSV / video hash)


def _chunks(shape: tuple[int, ...]) -> tuple[int, ...] | None:
    if len(shape) >= 3:          # images: one frame per chunk
        return (1,) + tuple(shape[1:])
    return None if not shape or int(np.prod(shape)) == 0 else tuple(shape)


def write_feature_file(path: str | Path, feature: str, records: Iterable[FeatureRecord],
                       params: dict[str, Any] | None = None, actor: int | None = None) -> Path:
    """Write all records of one actor atomically; returns the final path."""
    path = Path(path)
    recs = sorted(records, key=lambda r: r.video_id)
    ids = [r.video_id for r in recs]
    if len(set(ids)) != len(ids):
        raise StoreError(f"{path}: duplicate video ids in records")
    with atomic_path(path, suffix=".h5") as tmp:
        with h5py.File(tmp, "w", track_order=False) as h5:
            h5.attrs["feature"] = feature
            h5.attrs["params"] = json.dumps(params or {}, sort_keys=True, default=str)
            h5.attrs["format_version"] = FORMAT_VERSION
            if actor is not None:
                h5.attrs["actor"] = int(actor)
            for rec in recs:
                data = np.ascontiguousarray(rec.data)
                ds = h5.create_dataset(
                    rec.video_id, data=data, chunks=_chunks(data.shape),
                    compression="gzip" if data.size else None,
                    compression_opts=(1 if data.dtype == np.uint8 else 4) if data.size else None,
                    shuffle=bool(data.size), track_times=False)
                n = data.shape[0] if data.ndim >= 2 else 1
                valid = np.ones(n, bool) if rec.valid is None else np.asarray(rec.valid, bool)
                ds.attrs["valid"] = valid.astype(np.uint8)
                if rec.frame_indices is not None:
                    ds.attrs["frame_indices"] = np.asarray(rec.frame_indices, np.int32)
                ds.attrs["source"] = rec.source
    return path


def _open(path: Path) -> h5py.File:
    if not path.exists():
        raise StoreError(f"{path}: feature file not found (run `dvc repro` for this feature)")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise StoreError(f"{path}: unreadable HDF5 file ({exc})") from exc


def read_file_attrs(path: str | Path) -> dict[str, Any]:
    """File-level attributes (feature, params as dict, actor, format_version)."""
    with _open(Path(path)) as h5:
        attrs = dict(h5.attrs)
    attrs["params"] = json.loads(attrs.get("params", "{}"))
    return attrs


def list_ids(path: str | Path) -> list[str]:
    with _open(Path(path)) as h5:
        return sorted(h5.keys())


def read_record(path: str | Path, video_id: str) -> FeatureRecord:
    """One video's record from one file."""
    path = Path(path)
    with _open(path) as h5:
        if video_id not in h5:
            raise StoreError(f"{path}: no entry for video {video_id}")
        ds = h5[video_id]
        data = ds[()]
        return FeatureRecord(
            video_id, data, ds.attrs["valid"].astype(bool),
            ds.attrs["frame_indices"] if "frame_indices" in ds.attrs else None,
            str(ds.attrs.get("source", "")))


def read_features(feature: str, video_ids: list[str], root: str | Path = FEATURES_DIR
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Stack ``feature`` for ``video_ids`` (in that order): ``(n, frames, ...)`` and mask ``(n, frames)``.

    Opens only the actors' files the ids belong to and reads only those ids' datasets.
    """
    by_actor: dict[int, list[int]] = {}
    for pos, vid in enumerate(video_ids):
        by_actor.setdefault(parse_name(vid).actor, []).append(pos)
    datas: list[np.ndarray | None] = [None] * len(video_ids)
    masks: list[np.ndarray | None] = [None] * len(video_ids)
    for actor, positions in sorted(by_actor.items()):
        path = feature_file(feature, actor, Path(root))
        with _open(path) as h5:
            for pos in positions:
                vid = video_ids[pos]
                if vid not in h5:
                    raise StoreError(f"{path}: no entry for video {vid} (feature {feature})")
                ds = h5[vid]
                datas[pos] = ds[()]
                masks[pos] = ds.attrs["valid"].astype(bool)
    if not datas:
        return np.zeros((0,)), np.zeros((0,), bool)
    shapes = {d.shape for d in datas}
    if len(shapes) != 1:
        raise StoreError(f"feature {feature}: entries have different shapes {sorted(shapes)}")
    return np.stack(datas), np.stack(masks)
