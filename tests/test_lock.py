"""The lock (requirements/cpu.lock) agrees with pyproject.toml and with the installed venv."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("lock_tool", ROOT / "tools" / "lock.py")
lock_tool = importlib.util.module_from_spec(_spec)
sys.modules["lock_tool"] = lock_tool  # dataclasses look their module up by name
_spec.loader.exec_module(lock_tool)

IN_PROJECT_VENV = Path(sys.prefix).resolve() == (ROOT / ".venv").resolve()


def _fake_dist(graph: dict[str, list[str]]):
    class Dist:
        def __init__(self, name):
            if name not in graph:
                raise metadata.PackageNotFoundError(name)
            self.requires = graph[name]

    return Dist


def _write_lock(path: Path, pins: dict[str, str], extras: str = "dev") -> Path:
    lines = [f"# extras: {extras}"] + [f"{n}=={v}" for n, v in pins.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_repository_lock_covers_every_declared_package_in_range():
    lock = lock_tool.read_lock()
    assert lock.extras == ("dev", "lora")
    requirements = lock_tool.declared(lock_tool.PYPROJECT, lock.extras)
    names = {r.name for r in requirements}
    assert {"torch", "transformers", "peft", "pytest"} <= names
    lock_tool.check_declared(lock, requirements)
    # The known break stays capped: a peft below 0.22 needs a transformers below 5.24.
    assert lock.version("peft").startswith("0.21")
    transformers = next(r for r in requirements if r.name == "transformers")
    assert not transformers.specifier.contains("5.24.0")


def test_deleting_a_declared_package_from_the_lock_says_run_make_lock(tmp_path):
    text = lock_tool.LOCK.read_text()
    without = "\n".join(line for line in text.splitlines() if not line.startswith("rich=="))
    (tmp_path / "cpu.lock").write_text(without + "\n")
    lock = lock_tool.read_lock(tmp_path / "cpu.lock")
    with pytest.raises(lock_tool.LockError, match=r"needs rich.*has no rich.*make lock"):
        lock_tool.check_declared(lock, lock_tool.declared(lock_tool.PYPROJECT, lock.extras))


def test_a_new_dependency_in_pyproject_without_locking_says_run_make_lock(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    text = lock_tool.PYPROJECT.read_text()
    pyproject.write_text(
        text.replace('    "pyarrow>=14",\n', '    "pyarrow>=14",\n    "plotly>=5.0",\n')
    )
    lock = lock_tool.read_lock()
    with pytest.raises(lock_tool.LockError, match=r"plotly.*make lock"):
        lock_tool.check_declared(lock, lock_tool.declared(pyproject, lock.extras))


def test_a_locked_version_outside_the_declared_range_is_refused(tmp_path):
    lock = lock_tool.read_lock(_write_lock(tmp_path / "l", {"numpy": "1.26.4"}))
    with pytest.raises(lock_tool.LockError, match=r"numpy==1.26.4, outside .*>=2.0.*make lock"):
        lock_tool.check_declared(lock, [Requirement("numpy>=2.0")])


def test_lock_lines_must_be_exact_pins(tmp_path):
    path = tmp_path / "l"
    path.write_text("numpy>=2\n")
    with pytest.raises(lock_tool.LockError, match=r"l:1: 'numpy>=2' is not an exact"):
        lock_tool.read_lock(path)
    path.write_text("numpy==2.0\nNumPy==2.1\n")
    with pytest.raises(lock_tool.LockError, match="pinned twice"):
        lock_tool.read_lock(path)


def test_closure_follows_extras_and_markers_and_names_the_gap(tmp_path):
    graph = {
        "a": ["b>=1", 'c; extra == "http"', 'd; python_version < "3.0"'],
        "b": [],
        "c": ["e"],
        "e": [],
    }
    dist = _fake_dist(graph)
    # a[http] reaches c and so e; d's marker is false here.
    reached = lock_tool.needed([Requirement("a[http]")], dist)
    assert set(reached) == {"a", "b", "c", "e"}
    assert reached["e"] == "c"
    assert set(lock_tool.needed([Requirement("a")], dist)) == {"a", "b"}

    full = {"a": "1", "b": "1", "c": "1", "e": "1", "pip": "26", "setuptools": "80"}
    lock_tool.check_closure(
        lock_tool.read_lock(_write_lock(tmp_path / "ok", full)), [Requirement("a[http]")], dist
    )

    missing = {k: v for k, v in full.items() if k != "e"}
    with pytest.raises(lock_tool.LockError, match=r"e is needed by c but .* lacks it.*make lock"):
        lock_tool.check_closure(
            lock_tool.read_lock(_write_lock(tmp_path / "m", missing)),
            [Requirement("a[http]")],
            dist,
        )
    with pytest.raises(lock_tool.LockError, match=r"pins c, which nothing .* needs.*make lock"):
        lock_tool.check_closure(
            lock_tool.read_lock(_write_lock(tmp_path / "x", full)), [Requirement("a")], dist
        )


def test_installed_versions_must_equal_the_lock(tmp_path):
    lock = lock_tool.read_lock(_write_lock(tmp_path / "l", {"a": "1.0", "b": "2.0"}))
    lock_tool.check_installed(lock, {"a": "1.0", "b": "2.0"})
    cases = [
        ({"a": "1.0"}, r"b==2.0 is locked but not installed"),
        ({"a": "1.0", "b": "2.0", "z": "9"}, r"z==9 is installed but not in the lock"),
        ({"a": "1.1", "b": "2.0"}, r"a is installed at 1.1, the lock says 1.0"),
    ]
    for installed, message in cases:
        with pytest.raises(lock_tool.LockError, match=message + r".*make lock"):
            lock_tool.check_installed(lock, installed)


@pytest.mark.skipif(not IN_PROJECT_VENV, reason="only inside the project's .venv (make test)")
def test_project_venv_is_exactly_the_lock():
    lock = lock_tool.read_lock()
    requirements = lock_tool.declared(lock_tool.PYPROJECT, lock.extras)
    lock_tool.check_closure(lock, requirements)
    lock_tool.check_installed(lock, lock_tool.frozen())
    assert lock_tool.frozen()["torch"] == lock.version("torch")


def test_check_command_exits_2_with_one_line_naming_make_lock(tmp_path):
    bad = _write_lock(tmp_path / "cpu.lock", {"numpy": "2.4.6"}, extras="dev,lora")
    run = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "lock.py"), "check", "--lock", str(bad)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "make lock" in run.stderr
