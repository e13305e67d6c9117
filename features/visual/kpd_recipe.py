"""Per-clip recipe of the kpd stage (:func:`features.core.runner.run_actor`): key-point distances
of the face (frames, 780) and the eyes (frames, 179) from one clip's OpenFace track (parsed once
for both kinds, :mod:`features.tracks.clip`); maths in :mod:`features.visual.kpd`.

With ``kpd.normalisation: neutral_video`` the distances are divided by those of the most neutral
frame of the actor's neutral reference clip (manifest ``neutral_ref``), taken from that clip's
own parse (:func:`kpd_reference_summary`) once every clip is read (:func:`kpd_neutral_finish`).
``kpd.neutral_fallback`` says what happens when that clip is unusable (no reference in the
manifest, no CSV, no tracked frame): ``same_video`` normalises by the clip's own most neutral
frame and reports it, ``error`` stops the stage.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from features.core.config import get
from features.core.paths import actor_dir, openface_csv
from features.core.runner import Clip, Feature, Note, Output, Source
from features.tracks.clip import (
    TRACK_ERRORS,
    FrameSettings,
    TrackInputs,
    frame_settings,
    load_track,
    openface_source,
    select_frames,
)
from features.tracks.openface import FEATURE_NEEDS
from features.visual.kpd import face_landmarks, kpd_dims, kpd_distances, kpd_finish
from features.visual.kpd_track import track_points, track_reference

KPD_KINDS = ("face", "eyes")


@dataclasses.dataclass(frozen=True)
class KpdSettings:
    kind: str                    # face | eyes
    normalisation: str           # kpd.normalisation
    fallback: str                # kpd.neutral_fallback
    landmarks: tuple[int, ...]   # face landmark list
    frames: FrameSettings


def reference_distances(kind: str, inputs: TrackInputs, landmarks: tuple[int, ...]
                        ) -> tuple[np.ndarray, str]:
    """Distances ``(D,)`` of the clip's most neutral tracked frame and a provenance string
    ``<video id>@frame<N>:<csv sha256>`` (distances before normalisation)."""
    ref, frame = track_reference(kind, inputs.track, landmarks)
    return ref, f"{inputs.path.stem}@frame{frame}:{inputs.sha256}"


def kpd_reference_summary(inputs: TrackInputs, kinds: tuple[str, ...],
                          landmarks: tuple[int, ...]) -> dict[str, Any]:
    """Per kind, the clip's own reference ``(distances, provenance)`` or the error message."""
    out: dict[str, Any] = {}
    for kind in kinds:
        try:
            out[kind] = reference_distances(kind, inputs, landmarks)
        except TRACK_ERRORS as exc:
            out[kind] = str(exc)
    return out


def kpd_compute(inputs: TrackInputs, cfg: KpdSettings) -> tuple[Output, list[Note]]:
    """KPD ``(frames, 780)`` face / ``(frames, 179)`` eyes; under ``neutral_video`` the
    distances are returned unnormalised (``extra``: gaze angles) for :func:`kpd_neutral_finish`."""
    track, kind, norm = inputs.track, cfg.kind, cfg.normalisation
    sel, notes = select_frames(inputs, cfg.frames)
    reference, ref_source = None, ""
    if norm == "same_video":
        reference, ref_source = reference_distances(kind, inputs, cfg.landmarks)
    lmk, eye, gaze = track_points(kind, track, sel.indices)
    dist = kpd_distances(kind, lmk, eye, cfg.landmarks, norm == "graph_path")
    if norm == "neutral_video":
        return Output(dist, sel.valid, sel.indices, inputs.source, extra=gaze), notes
    data = kpd_finish(kind, norm, dist, gaze, reference)
    source = inputs.source + (f";ref:{ref_source}" if ref_source else "")
    return Output(data, sel.valid, sel.indices, source), notes


def kpd_neutral_finish(outputs: dict[str, Output], clips: list[Clip], summaries: dict[str, Any],
                       cfg: KpdSettings, report) -> dict[str, Output]:
    """Divide each clip's distances by its neutral reference clip's (the fallback policy above)."""
    usable: dict[str, tuple[np.ndarray, str]] = {}
    for ref_id in sorted({c.neutral_ref for c in clips}):
        users = [c for c in clips if c.neutral_ref == ref_id]
        path = openface_csv(ref_id, users[0].actor) if ref_id else None
        if path is None or not path.exists():
            problem = f"{path}: OpenFace CSV not found" if path else \
                "the manifest has no neutral reference clip"
        else:
            summary = summaries.get(ref_id)
            if summary is None:  # not a clip of this manifest slice: read it here
                try:
                    ref_clip = Clip(ref_id, users[0].actor, "", 0, 0.0, "", "", 0, None)
                    summary = kpd_reference_summary(load_track(ref_clip), (cfg.kind,),
                                                    cfg.landmarks)
                except TRACK_ERRORS as exc:
                    summary = exc
            value = summary if isinstance(summary, BaseException) else summary[cfg.kind]
            if not isinstance(value, (str, BaseException)):
                usable[ref_id] = value
                continue
            problem = str(value)
        msg = f"neutral reference clip {ref_id or '(none)'} unusable ({problem})"
        if cfg.fallback == "error":
            raise RuntimeError(f"{actor_dir(users[0].actor)}: {msg}; needed by "
                               f"{', '.join(c.video_id for c in users)} (kpd.neutral_fallback: error)")
        for c in users:
            report(path or openface_csv(c.video_id, c.actor), msg, "fallback: same_video",
                   c.video_id, False)
    final: dict[str, Output] = {}
    for clip in clips:
        out = outputs.get(clip.video_id)
        if out is None:
            continue
        ref = usable.get(clip.neutral_ref)
        if ref is None:  # fallback: the clip's own most neutral frame
            ref = summaries[clip.video_id][cfg.kind]
        try:
            if isinstance(ref, str):
                raise ValueError(ref)
            out.data = kpd_finish(cfg.kind, cfg.normalisation, out.data, out.extra, ref[0])
        except ValueError as exc:
            report(openface_csv(clip.video_id, clip.actor), str(exc), "skipped", clip.video_id, True)
            continue
        out.source = f"{out.source};ref:{ref[1]}"
        out.extra = None
        final[clip.video_id] = out
    return final


def kpd_features(params: dict[str, Any], kinds: list[str]) -> list[Feature]:
    norm = get(params, "kpd.normalisation")
    landmarks = face_landmarks(get(params, "kpd.face_landmarks", "default"))
    out = []
    for kind in kinds:
        cfg = KpdSettings(kind, norm, get(params, "kpd.neutral_fallback", "same_video"), landmarks,
                          frame_settings(params))
        file_params = {"kpd": params.get("kpd", {}), "frames": params.get("frames", {}),
                       "landmarks": list(landmarks), "dims": kpd_dims(kind, norm, landmarks)}
        finish = kpd_neutral_finish if norm == "neutral_video" else None
        out.append(Feature(f"kpd_{kind}", kpd_compute, cfg, file_params, finish))
    return out


def kpd_source(actor: int, params: dict[str, Any], kinds: list[str]) -> Source:
    norm = get(params, "kpd.normalisation")
    needs = {f"kpd_{k}": [b for b in FEATURE_NEEDS[f"kpd_{k}"]
                          if norm in ("neutral_video", "same_video") or b not in ("au_r", "au_c")]
             for k in kinds}
    landmarks = face_landmarks(get(params, "kpd.face_landmarks", "default"))
    summary = (functools.partial(kpd_reference_summary, kinds=tuple(kinds), landmarks=landmarks)
               if norm == "neutral_video" else None)
    return openface_source(actor, needs, summary)
