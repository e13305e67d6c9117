"""Truncated media: decoded vs declared frames, the tolerance for intact files' header counts."""

from __future__ import annotations

import pytest

from features.media.video import declared_frames, probe_media, truncation, truncation_tolerance
from tests.media.clips import cut_clip, faststart_clip


@pytest.mark.parametrize(("decoded", "declared", "cut"), [
    (141, 472, True),      # the case: the first 500 kB of a 472-frame clip
    (472, 472, False),
    (467, 472, False),     # within 1 % of 472 (5 frames): a header off by a few frames
    (466, 472, True),
    (98, 100, False),      # within the 2-frame floor
    (97, 100, True),
    (0, 0, False),         # the container declares nothing: nothing to compare
    (50, 0, False),
    (110, 100, False),     # more than declared is not truncation
])
def test_truncation_tolerance(decoded, declared, cut):
    msg = truncation(decoded, declared)
    assert (msg is not None) == cut
    if cut:
        assert msg == f"truncated: {decoded} of {declared} frames decode"


def test_tolerance_is_two_frames_or_one_percent():
    assert truncation_tolerance(100) == 2 and truncation_tolerance(472) == 5
    assert truncation_tolerance(0) == 2


def test_probe_of_a_cut_and_an_intact_clip(tmp_path):
    intact = probe_media(faststart_clip(tmp_path / "intact.mp4"))
    assert intact.frames == intact.header_frames == 60 and intact.truncation() is None
    cut_path = cut_clip(tmp_path / "cut.mp4")
    cut = probe_media(cut_path)
    assert cut.header_frames == declared_frames(cut_path) == 60 and 0 < cut.frames < 50
    assert cut.truncation() == f"truncated: {cut.frames} of 60 frames decode"
