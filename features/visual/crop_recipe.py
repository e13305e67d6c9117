"""Per-clip recipe of the crops stage for :func:`features.core.runner.run_actor`: eye, mouth and
face patches of the selected frames of one clip, cut from one decode of its video, landmarks
from its OpenFace track (parsed once, :func:`features.tracks.clip.load_track`); patch maths
in :mod:`features.visual.crops`.

Two frame sets are cut in the same decode pass: the ``frames.count`` (88) middle frames
(``crops_<part>``, read by the ResNet features) and ``crops.spaced_count`` (20) equally spaced
frames of the whole clip (``crops_spaced_<part>``, the thesis' fine-tuning input,
:func:`features.tracks.frames.spaced_frames`). Every crop is stored compressed per
``crops.codec`` / ``crops.quality`` (:func:`features.visual.crops.encode_crops`; read back with
:func:`features.visual.crops.decode_crops`).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from features.core.config import get
from features.core.runner import Feature, Note, Output, Source
from features.media.video import VideoError, iter_frames
from features.tracks.clip import (
    TRACK_ERRORS,
    FrameSettings,
    TrackInputs,
    frame_settings,
    openface_source,
    select_frames,
)
from features.tracks.frames import interpolate, select_tracked
from features.tracks.openface import FEATURE_NEEDS
from features.visual.crops import encode_crops, eye_patches, face_image, mouth_patch

CROPS = ("crops_eyes", "crops_mouth", "crops_face")
SPACED = {name: name.replace("crops_", "crops_spaced_") for name in CROPS}  # 20 spaced frames


def crop_clip(video: str | Path, eye_lmk_2d: np.ndarray, lmk_2d: np.ndarray, indices: np.ndarray,
              cfg: dict[str, Any]) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, int]]:
    """Cut the three crops of the frames ``indices (count,)`` of ``video`` (decoded once, only
    those frames; RGB).

    ``eye_lmk_2d (count, 56, 2)`` and ``lmk_2d (count, 68, 2)`` px are the landmarks of those
    frames. Returns ``({crop name: array}, decoded (count,) bool, {crop name: frames whose
    patch left the frame})``.
    """
    count = len(indices)
    eh, ew = (int(v) for v in cfg["eye_size"])
    mh, mw = (int(v) for v in cfg["mouth_size"])
    side, pad = int(cfg["face_size"]), cfg["padding"]
    out = {"crops_eyes": np.zeros((count, 2, eh, ew, 3), np.uint8),
           "crops_mouth": np.zeros((count, mh, mw, 3), np.uint8),
           "crops_face": np.zeros((count, side, side, 3), np.uint8)}
    outside = {name: 0 for name in CROPS}
    decoded = np.zeros(count, bool)
    where: dict[int, list[int]] = defaultdict(list)
    for pos, idx in enumerate(indices):
        where[int(idx)].append(pos)
    for idx, frame in iter_frames(video, sorted(where)):
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        for pos in where[idx]:
            decoded[pos] = True
            out["crops_eyes"][pos], ok_e = eye_patches(rgb, eye_lmk_2d[pos], (eh, ew), pad)
            out["crops_mouth"][pos], ok_m = mouth_patch(rgb, lmk_2d[pos], (mh, mw), pad)
            out["crops_face"][pos], ok_f = face_image(rgb, side, cfg["face_mode"], lmk_2d[pos],
                                                      float(cfg["face_margin"]), pad)
            outside["crops_eyes"] += not ok_e
            outside["crops_mouth"] += not ok_m
            outside["crops_face"] += not ok_f
    return out, decoded, outside


def crops_compute(inputs: TrackInputs, cfg: tuple[dict[str, Any], FrameSettings]
                  ) -> tuple[dict[str, Output], list[Note]]:
    """The six crops of one clip (88 middle + 20 spaced frames x eyes, mouth, face), encoded,
    and their valid masks.

    Eyes and mouth (and the face in ``tracked`` mode) need a real, tracked, decoded frame; the
    centre face crop needs a real, decoded frame. A selected frame the video cannot decode
    (truncated file) stays black and invalid, and is reported.
    """
    crop_cfg, frames = cfg
    track, clip = inputs.track, inputs.clip
    track.require(*FEATURE_NEEDS["crops"], feature="crops")
    sel, notes = select_frames(inputs, frames)
    spaced = select_tracked(track, clip.frames, int(crop_cfg["spaced_count"]), "spaced")
    both = np.concatenate([sel.indices, spaced.indices])   # one decode pass for both
    eye = interpolate(track.eye_lmk_2d, track, both)
    lmk = interpolate(track.lmk_2d, track, both)
    crops, decoded, outside = crop_clip(clip.media, eye, lmk, both, crop_cfg)
    if not decoded.all():
        notes.append((f"{clip.media}: {int((~decoded).sum())} selected frame(s) do not decode "
                      f"(truncated video?)", "padded: black, marked invalid", True))
    for name, n in outside.items():
        if n:
            notes.append((f"{name}: {n} of {len(decoded)} patches leave the frame",
                          f"padded: {crop_cfg['padding']}", False))
    source = f"video:{clip.fingerprint};{inputs.source}"
    out: dict[str, Output] = {}
    m = len(sel.indices)
    for s_, part, names in ((sel, slice(0, m), CROPS), (spaced, slice(m, None), SPACED.values())):
        real = ~s_.padded & decoded[part]
        face_ok = s_.tracked if crop_cfg["face_mode"] == "tracked" else True
        valid = {"crops_eyes": real & s_.tracked, "crops_mouth": real & s_.tracked,
                 "crops_face": real & face_ok}
        for crop, name in zip(CROPS, names):
            data = encode_crops(crops[crop][part], crop_cfg["codec"], int(crop_cfg["quality"]))
            out[name] = Output(data, valid[crop], s_.indices, source)
    return out, notes


def crops_feature(params: dict[str, Any]) -> Feature:
    cfg = {"eye_size": get(params, "crops.eye_size"), "mouth_size": get(params, "crops.mouth_size"),
           "face_size": get(params, "crops.face_size"), "face_mode": get(params, "crops.face_mode"),
           "face_margin": get(params, "crops.face_margin", 1.4),
           "padding": get(params, "crops.padding", "zeros"),
           "codec": get(params, "crops.codec", "jpeg"), "quality": int(get(params, "crops.quality", 90)),
           "spaced_count": int(get(params, "crops.spaced_count", 20))}
    file_params = {"crops": params.get("crops", {}), "frames": params.get("frames", {}),
                   "colour": "RGB"}
    return Feature("crops", crops_compute, (cfg, frame_settings(params)), file_params,
                   outputs=(*CROPS, *SPACED.values()))


def crops_source(actor: int) -> Source:
    source = openface_source(actor, {"crops": FEATURE_NEEDS["crops"]})
    return dataclasses.replace(source, errors=TRACK_ERRORS + (VideoError,))
