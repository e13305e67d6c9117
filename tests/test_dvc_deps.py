"""Every stage declares the code it runs: the project modules its script imports (transitively)
are deps of the stage in dvc.yaml, so a code change re-runs exactly the stages it can affect."""

from __future__ import annotations

import ast
import json
import re
import subprocess
from pathlib import Path

import pytest
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


def code_deps(deps: list[str]) -> list[str]:
    """The deps that are project code (stage scripts, package folders and modules)."""
    return [d for d in deps if d.split("/")[0] in PACKAGES and not d.startswith("features/assets")]


def test_stage_declares_no_code_it_does_not_import():
    """The reverse check: every declared code dep (script, package folder or module) holds a file
    the stage imports, so a change there cannot re-run a stage it does not affect."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    extra = {}
    for name, stage in stages.items():
        body = stage.get("do", stage)
        deps = [d if isinstance(d, str) else next(iter(d)) for d in body.get("deps", [])]
        assert len(deps) == len(set(deps)), f"{name}: a dep is listed twice: {deps}"
        script = module_file(re.match(r"python -m (stages\.\w+)", body["cmd"]).group(1))
        used = {f.relative_to(REPO).as_posix() for f in project_imports(script)}
        used = {u for u in used if not (u.endswith("__init__.py") and u.count("/") == 1)}
        for dep in code_deps(deps):
            if not any(u == dep or u.startswith(dep.rstrip("/") + "/") for u in used):
                extra.setdefault(name, []).append(dep)
    assert not extra, f"declared as deps but not imported: {extra}"


def test_dvc_yaml_code_deps_are_few():
    """Code deps are the stage script plus package folders: a handful per stage."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    counts = {name: len(code_deps([d for d in st.get("do", st)["deps"] if isinstance(d, str)]))
              for name, st in stages.items()}
    # 16 stages: at most 5 each (script + 3-4 packages), about 4 on average
    assert max(counts.values()) <= 5 and sum(counts.values()) <= 4 * len(counts), counts


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


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture(scope="module")
def committed_repo(tmp_path_factory) -> Path:
    """A copy of the project whose every stage (tiny config: actor 01, fold 0, every optional
    group on) is recorded in dvc.lock as up to date, over placeholder outputs: `dvc commit`
    hashes the deps as they are, so `dvc status` then reports exactly the stages whose declared
    deps change, without running any stage."""
    from tests.conftest import copy_project, run, set_params

    repo = copy_project(tmp_path_factory.mktemp("dvc_deps") / "repo")
    set_params(repo, {"dataset.actors": ["01"], "train.folds": [0], "enabled.crops": ["crops"],
                      "enabled.wav2vec2": ["wav2vec2"], "enabled.resnet": ["resnet_face"],
                      "fusion.members": ["lms", "kpd_face"], "fusion.methods": ["logreg"]})
    if not (repo / ".dvc").exists():
        run(["dvc", "init", "-q"], repo)
    code = (
        "import json\n"
        "from dvc.repo import Repo\n"
        "r = Repo('.')\n"
        "print(json.dumps({s.addressing: {'deps': [d.def_path for d in s.deps],"
        " 'outs': [o.def_path for o in s.outs]} for s in r.index.stages}))\n")
    stages = json.loads(run(["python", "-c", code], repo).stdout)
    for info in stages.values():
        for path in info["deps"] + info["outs"]:
            p = repo / path
            if p.exists():
                continue
            if p.suffix:                       # a file output (h5, csv, json, parquet, ...)
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text("placeholder\n")
            else:                              # a folder output
                p.mkdir(parents=True, exist_ok=True)
                (p / "placeholder").write_text("placeholder\n")
    run(["dvc", "commit", "-f", "-q"], repo)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "lock")
    assert json.loads(run(["dvc", "status", "--json"], repo).stdout) == {}
    return repo


def _changed_stages(repo: Path, module: str) -> set[str]:
    """Stages `dvc status` reports after a comment is appended to ``module`` (then reverted)."""
    from tests.conftest import run

    path = repo / module
    before = path.read_bytes()
    path.write_bytes(before + b"\n# a code change\n")
    try:
        status = json.loads(run(["dvc", "status", "--json"], repo).stdout)
    finally:
        path.write_bytes(before)
    return {name.split("@")[0] for name in status}


def _declaring(package: str) -> set[str]:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    return {name for name, st in stages.items()
            if package in st.get("do", st)["deps"]}


@pytest.mark.slow
def test_code_change_reruns_exactly_the_stages_using_it(committed_repo):
    """A change to a module of features/core re-runs every stage (they all use it); a change to
    features/visual/kpd.py re-runs the stages that import features/visual (kpd, facs, crops,
    resnet: it decodes the stored crops) and no other; a stage script re-runs its own stage."""
    # finetune, finetune_features and predict iterate over lists that are empty by default
    # (enabled.finetune, predict.inputs): DVC defines no stage for them
    off = {"finetune", "finetune_features", "predict"}
    every = {name for name in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]} - off
    assert _changed_stages(committed_repo, "features/core/paths.py") == every
    visual = _changed_stages(committed_repo, "features/visual/kpd.py")
    assert visual == _declaring("features/visual") - off == {"kpd", "facs", "crops", "resnet"}
    assert _changed_stages(committed_repo, "features/audio/spectral.py") == {"audio"}
    assert _changed_stages(committed_repo, "stages/kpd.py") == {"kpd"}
