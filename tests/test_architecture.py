"""The layers of docs/architecture.md hold, the check that guards them bites, and the map names every package."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": str(LINT_IMPORTS.parent), "PYTHONPATH": str(tree)},
    )


def copy_tree(dest: Path) -> Path:
    for name in ("edge", "drivers", "simulators", "bench"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def test_the_layer_contracts_hold() -> None:
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_an_upward_import_from_the_core_is_caught_and_named(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    hub = tree / "edge" / "core" / "hub.py"
    hub.write_text(
        hub.read_text() + "\n\ndef _depth() -> int:\n    from edge.pipeline.outbox import TAIL_MAX\n\n"
        "    return TAIL_MAX\n"
    )
    run = lint_imports(tree)
    assert run.returncode != 0
    assert "edge.core is the bottom: it imports nothing else of the project BROKEN" in run.stdout
    assert "edge.core.hub -> edge.pipeline.outbox" in run.stdout


def test_an_area_importing_another_area_is_caught(tmp_path: Path) -> None:
    tree = copy_tree(tmp_path)
    door = tree / "edge" / "gate" / "door.py"
    door.write_text(door.read_text() + "\n\nfrom edge.lift.config import LiftConfig  # noqa: E402\n")
    run = lint_imports(tree)
    assert run.returncode != 0
    assert "device areas are siblings: none imports another BROKEN" in run.stdout
    assert "edge.gate.door -> edge.lift.config" in run.stdout


def test_the_map_names_every_package_of_the_runtime() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    packages = sorted(p.parent.relative_to(ROOT) for p in ROOT.glob("edge/*/__init__.py"))
    packages += sorted(p.parent.relative_to(ROOT) for p in ROOT.glob("drivers/*/__init__.py"))
    missing = [str(p) for p in packages if f"`{str(p).replace('/', '.')}`" not in text and f"`{p}/`" not in text]
    assert not missing, f"docs/architecture.md does not name: {missing}"
