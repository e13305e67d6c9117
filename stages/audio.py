"""Stage audio: ``python -m stages.audio lms,mfcc <actor>`` (any subset).

Clips of one actor (manifest slice) -> ``data/features/<feature>/Actor_XX.h5`` (LMS ``(88, 24)``
or MFCC ``(88, 39)`` float32 per clip) and ``reports/problems/<feature>/Actor_XX.csv``. Each clip
is decoded once for both; decoding, padding and problems in :mod:`features.audio.recipes`.
"""

from __future__ import annotations

from features.audio.recipes import SPECTRAL, audio_source, spectral_features
from features.core.cli import parse_names_actor, run_stage
from features.core.config import load_params
from features.core.devices import set_threads
from features.core.runner import run_actor


def main(argv: list[str] | None = None) -> int:
    names, actor = parse_names_actor(argv, "python -m stages.audio", __doc__, SPECTRAL)
    params = load_params()
    # One torch thread: a clip's STFT is ~2 ms single-threaded and slower with threads;
    # parallelism comes from compute.jobs workers.
    set_threads(1)
    run_actor("audio", actor, params, audio_source(params), spectral_features(params, names))
    return 0


if __name__ == "__main__":
    run_stage(main)
