"""The embedded tracker run from several threads at once (predict's workers, live mode): every
thread gets its own dlib detector, predictor and recognition network, and each thread's track is
identical to a single-threaded run. Shared dlib objects used to corrupt the heap (``free():
invalid pointer``) in two runs of three. Real clips from ``../shared`` (skipped when absent)."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import pytest

from features.media.video import iter_frames, probe_media
from features.tracker.embedded import TrackerSettings, track_frames
from features.tracker.models import per_thread
from features.tracks.openface import write_openface

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
REAL = SHARED / "data" / "real-faces"
OPENFACE = SHARED / "third_party" / "openface"
CLIPS = ["single_face.mp4", "WolfgangLanger_Pexels.mp4", "default.wmv", "single_face.mp4"]
FRAMES = 60        # per clip: enough to detect, track, re-detect and score confidence
ROUNDS = 3
needs_shared = pytest.mark.skipif(not (REAL / "default.wmv").exists(),
                                  reason=f"shared real-face clips not found at {REAL} "
                                         "(../shared is absent outside the development machine)")


def _csv(name: str, out: Path, models: str) -> str:
    path = REAL / name
    settings = TrackerSettings(openface_models=models)
    res = track_frames(itertools.islice(iter_frames(path), FRAMES), probe_media(path).fps, settings, str(path))
    write_openface(out, res.track)
    return out.read_text()


def test_per_thread_cache_gives_each_thread_its_own_object():
    made = []
    get = per_thread(lambda: made.append(object()) or made[-1])
    seen = {}

    def worker(k):
        seen[k] = (get(), get())

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 3 and all(a is b for a, b in seen.values())
    assert len({id(a) for a, _ in seen.values()}) == 3


@needs_shared
@pytest.mark.parametrize("models", ["none", str(OPENFACE)], ids=["geometric-aus", "openface-models"])
def test_four_threads_track_real_clips_like_one(tmp_path, models):
    """Four threads track three real clips (one twice) at once, ROUNDS times; every CSV is
    byte-identical to the single-threaded one (with and without OpenFace's AU models)."""
    single = {name: _csv(name, tmp_path / f"single-{k}.csv", models) for k, name in enumerate(CLIPS[:3])}
    for round_ in range(ROUNDS):
        results: dict[int, str] = {}
        errors: list[BaseException] = []

        def worker(k: int, round_: int = round_, results: dict = results, errors: list = errors) -> None:
            try:
                results[k] = _csv(CLIPS[k], tmp_path / f"r{round_}-t{k}.csv", models)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        for k, name in enumerate(CLIPS):
            assert results[k] == single[name], f"round {round_}, thread {k} ({name}) differs"
