"""The layer contracts in pyproject.toml's [tool.importlinter] hold, and they catch an upward
import: a copy of the packages with ``core`` importing ``ingress`` breaks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "cli",
    "ingress",
    "tasks",
    "consumers",
    "storage",
    "channels",
    "processors",
    "protos",
    "services",
    "core",
)
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
    )


def test_every_layer_imports_only_those_below_it() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _copy_tree(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tmp_path


def test_an_upward_import_breaks_the_layers(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    (root / "core" / "upward.py").write_text("import ingress.app\n")
    result = _lint_imports(root)
    assert result.returncode != 0
    assert "core.upward -> ingress.app" in result.stdout


def test_storage_importing_a_channel_breaks_the_contracts(tmp_path: Path) -> None:
    root = _copy_tree(tmp_path)
    (root / "storage" / "sideways.py").write_text("import channels.whatsapp\n")
    result = _lint_imports(root)
    assert result.returncode != 0
    assert "storage.sideways -> channels.whatsapp" in result.stdout
