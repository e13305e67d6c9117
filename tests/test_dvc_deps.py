"""Every stage declares the code it runs: the project modules its script imports (transitively)
are deps of the stage in dvc.yaml, so a code change re-runs exactly the stages it can affect."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("features", "models", "stages")


def module_file(name: str) -> Path | None:
    base = REPO.joinpath(*name.split("."))
    if base.with_suffix(".py").exists():
        return base.with_suffix(".py")
    if (base / "__init__.py").exists():
        return base / "__init__.py"
    return None


def project_imports(path: Path, seen: set[Path] | None = None) -> set[Path]:
    """Project source files imported by ``path``, transitively (itself included)."""
    seen = set() if seen is None else seen
    if path in seen:
        return seen
    seen.add(path)
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            if name.split(".")[0] in PACKAGES:
                f = module_file(name)
                if f is not None:
                    project_imports(f, seen)
    return seen


def test_stage_deps_cover_imported_code():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    missing = {}
    for name, stage in stages.items():
        body = stage.get("do", stage)
        m = re.match(r"python -m (stages\.\w+)", body["cmd"])
        assert m, f"{name}: stage command should be `python -m stages.<name> ...`"
        deps = [d if isinstance(d, str) else next(iter(d)) for d in body.get("deps", [])]
        files = project_imports(module_file(m.group(1)))
        for f in sorted(files):
            rel = f.relative_to(REPO).as_posix()
            if rel.endswith("__init__.py") and rel.count("/") == 1:
                continue                      # empty top-level package markers
            if not any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in deps):
                missing.setdefault(name, []).append(rel)
    assert not missing, f"code imported but not declared as deps: {missing}"


READS = re.compile(r"""get\(params, "([\w.]+)"|params\.get\("(\w+)"|params\["(\w+)"\]""")
# Files whose reads are not stage-specific: params.py validates the whole file on load,
# parallel.py's compute_settings() is counted where a stage calls it.
NOT_SCANNED = {"features/core/config.py", "features/core/parallel.py"}
# stages/fusion.py serves two stages; its `member` command reads only the train section.
NOT_READ = {"fusion_member": {"fusion.members", "fusion.C"}}


def test_stage_params_cover_what_the_code_reads():
    """Every params.yaml key a stage's code reads by a literal name is declared in its params."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    missing = {}
    for name, stage in stages.items():
        body = stage.get("do", stage)
        script = module_file(re.match(r"python -m (stages\.\w+)", body["cmd"]).group(1))
        declared = [p if isinstance(p, str) else next(iter(p)) for p in body.get("params", [])]
        patterns = [re.compile(re.sub(r"\\\$\\\{item\\\.\w+\\\}", "[^.]+", re.escape(p))) for p in declared]
        for f in project_imports(script):
            if f.relative_to(REPO).as_posix() in NOT_SCANNED:
                continue
            text = f.read_text()
            keys = [next(g for g in m.groups() if g) for m in READS.finditer(text)]
            keys += ["compute"] if "compute_settings(params)" in text else []
            for key in keys:
                if key in NOT_READ.get(name, ()):
                    continue
                ok = any(pat.fullmatch(key) or any(pat.fullmatch(".".join(key.split(".")[:i]))
                                                   for i in range(1, key.count(".") + 1))
                         for pat in patterns)
                if not ok:
                    missing.setdefault(name, set()).add(f"{key} ({f.relative_to(REPO)})")
    assert not missing, f"params read but not declared: {missing}"
