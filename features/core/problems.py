"""Problems reports: one CSV per stage under reports/problems/, one row per skipped or flagged item.

Nothing is dropped silently: whatever a stage skips, pads or falls back on is written here with
the file it concerns and the reason.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
from pathlib import Path

from features.core.atomic import atomic_path

log = logging.getLogger(__name__)

COLUMNS = ["stage", "path", "video_id", "problem", "action"]


@dataclasses.dataclass(frozen=True)
class Problem:
    stage: str
    path: str
    video_id: str
    problem: str
    action: str  # "skipped", "padded", "interpolated", "fallback: ...", "failed"


class StageFailure(RuntimeError):
    """Raised (with the file and the problem in the message) when on_error is 'fail'."""


class ProblemLog:
    """Collect problems for one stage; ``fail=True`` turns the first problem into an error."""

    def __init__(self, stage: str, fail: bool = False):
        self.stage = stage
        self.fail = fail
        self.items: list[Problem] = []

    def add(self, path: str | Path, problem: str, action: str = "skipped",
            video_id: str = "", fatal_ok: bool = True) -> None:
        """Record a problem; raise StageFailure instead when the stage runs with on_error: fail.

        ``fatal_ok=False`` marks notes (e.g. padding) that never stop the stage.
        """
        item = Problem(self.stage, str(path), video_id, problem, action)
        if self.fail and fatal_ok:
            raise StageFailure(f"{path}: {problem}")
        log.warning("%s: %s (%s)", path, problem, action)
        self.items.append(item)

    def extend(self, items: list[Problem]) -> None:
        for item in items:
            log.warning("%s: %s (%s)", item.path, item.problem, item.action)
        self.items.extend(items)

    def write(self, path: str | Path) -> Path:
        """Write the report atomically (header only when there is no problem), sorted for stable bytes."""
        rows = sorted(dataclasses.astuple(p) for p in self.items)
        with atomic_path(path, suffix=".csv") as tmp:
            with tmp.open("w", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(COLUMNS)
                writer.writerows(rows)
        return Path(path)


def read_problems(path: str | Path) -> list[dict[str, str]]:
    with Path(path).open(newline="") as fh:
        return list(csv.DictReader(fh))


def collect(jobs: list[dict], results: list[tuple], problems: ProblemLog, path_key: str) -> list:
    """Records of per-clip ``(record | None, notes)`` results; every note goes to ``problems``.

    ``notes`` are ``(problem, action, video_id, fatal)``; ``job[path_key]`` names the file.
    """
    records = []
    for job, (rec, notes) in zip(jobs, results):
        for problem, action, vid, fatal in notes:
            problems.add(job[path_key], problem, action, vid, fatal_ok=fatal)
        if rec is not None:
            records.append(rec)
    return records
