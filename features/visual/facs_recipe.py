"""Per-clip recipe of the facs stage (:func:`features.core.runner.run_actor`): action units
``au`` (frames, 35), head pose ``pose`` (frames, 6), gaze per frame ``gaze`` (frames, 4) and per
clip ``gaze_stats`` (72,) from one clip's OpenFace track (parsed once for all four,
:mod:`features.tracks.clip`). Untracked frames are linearly interpolated (AU presences rounded
back to 0/1) and marked invalid in the stored mask. Maths in :mod:`features.visual.au_pose` and
:mod:`features.visual.gaze`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from features.core.config import get
from features.core.runner import Feature, Note, Output, Source
from features.tracks.clip import (
    FrameSettings,
    TrackInputs,
    frame_settings,
    openface_source,
    select_frames,
)
from features.tracks.frames import gaze_valid, interpolate
from features.tracks.openface import AU_R, FEATURE_NEEDS
from features.visual.au_pose import AU_NAMES, POSE_NAMES, au_features, pose_features
from features.visual.gaze import (
    GAZE_FRAME_NAMES,
    GAZE_STAT_NAMES,
    gaze_frames,
    gaze_stats,
)

FACS = ("au", "pose", "gaze", "gaze_stats")
FACS_NEEDS = {"au": FEATURE_NEEDS["au"], "pose": FEATURE_NEEDS["pose"], "gaze": ["gaze"],
              "gaze_stats": FEATURE_NEEDS["gaze"]}
FACS_NAMES = {"au": AU_NAMES, "pose": POSE_NAMES, "gaze": GAZE_FRAME_NAMES,
              "gaze_stats": GAZE_STAT_NAMES}
AU45 = AU_R.index("45")


def facs_compute(inputs: TrackInputs, config: tuple[str, FrameSettings, dict[str, float]]
                 ) -> tuple[Output, list[Note]]:
    """``au`` (frames, 35), ``pose`` (frames, 6), ``gaze`` (frames, 4) or ``gaze_stats`` (72,)."""
    feature, frames, gaze = config
    track = inputs.track
    track.require(*FACS_NEEDS[feature], feature=feature)
    sel, notes = select_frames(inputs, frames)
    idx = sel.indices
    if feature == "au":
        au_c = np.round(interpolate(track.au_c, track, idx))
        data = au_features(interpolate(track.au_r, track, idx), au_c)
    elif feature == "pose":
        data = pose_features(interpolate(track.pose_T, track, idx),
                             interpolate(track.pose_R, track, idx), sel.valid)
    elif feature == "gaze":
        data = gaze_frames(interpolate(track.gaze_angle, track, idx, gaze_valid(track)))
    else:
        data = gaze_stats(interpolate(track.gaze_angle, track, idx, gaze_valid(track)),
                          interpolate(track.au_r[:, AU45], track, idx), sel.valid, sel.padded,
                          inputs.clip.fps, float(gaze["blink_threshold"]),
                          float(gaze["fixation_threshold"]))
    valid = None if feature == "gaze_stats" else sel.valid
    return Output(data, valid, idx), notes


def facs_features(params: dict[str, Any], names: list[str]) -> list[Feature]:
    frames = frame_settings(params)
    gaze = {"blink_threshold": get(params, "gaze.blink_threshold"),
            "fixation_threshold": get(params, "gaze.fixation_threshold")}
    out = []
    for name in names:
        file_params = {"frames": params.get("frames", {}), "names": list(FACS_NAMES[name])}
        if name.startswith("gaze"):
            file_params["gaze"] = params.get("gaze", {})
        out.append(Feature(name, facs_compute, (name, frames, gaze), file_params))
    return out


def facs_source(actor: int, names: list[str]) -> Source:
    return openface_source(actor, {n: FACS_NEEDS[n] for n in names})
