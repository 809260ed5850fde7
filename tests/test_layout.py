"""The package's shape: the import floors of DESIGN.md hold, and the check catches a breach."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "artstyle"
LINT = Path(sys.executable).with_name("lint-imports")
MAX_LINES = 900

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed")


def _lint(root: Path) -> subprocess.CompletedProcess:
    """lint-imports with the contracts of ``root``/pyproject.toml over ``root``/src/artstyle."""
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [str(LINT), str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )


def test_the_contracts_hold_on_the_package():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "5 kept, 0 broken" in result.stdout


def _copy(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(
        SRC, tmp_path / "src" / "artstyle", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        # a lower floor importing a higher one
        ("data/scan.py", "import artstyle.train.runs", "Floors"),
        # two floors of one level importing each other
        ("report/read.py", "import artstyle.analysis.cluster", "Floors"),
        # Pillow outside data/images.py
        ("workflows/figures.py", "import PIL.Image", "Pillow only"),
        # matplotlib outside analysis/plots.py
        ("generate/stylize.py", "import matplotlib", "matplotlib only"),
        # torch in the report
        ("report/wording.py", "import torch", "without torch"),
        # a circle between siblings
        ("train/optim.py", "import artstyle.train.loop", "No import circle"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(tmp_path, module, line, contract):
    root = _copy(tmp_path)
    path = root / "src" / "artstyle" / module
    text = path.read_text()
    marker = "from __future__ import annotations\n"
    path.write_text(text.replace(marker, marker + line + "  # noqa\n", 1))
    result = _lint(root)
    assert result.returncode != 0
    broken = [row for row in result.stdout.splitlines() if " BROKEN" in row]
    assert len(broken) >= 1 and any(contract in row for row in broken), result.stdout[-2000:]


def test_no_source_file_is_over_the_line_limit():
    long = {
        str(path.relative_to(SRC)): n
        for path in SRC.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
