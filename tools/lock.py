"""The exact lock of every installed package, and the checks that keep it honest.

    python tools/lock.py write --out requirements/cpu.lock   # from the running venv (make lock)
    python tools/lock.py sync                                # make install: drop what the lock lacks
    python tools/lock.py check                               # make test runs this after installing
    python tools/lock.py check --exact                       # also: pip freeze equals the lock

The lock is a `pip freeze --all` of a clean venv made from pyproject.toml (see
`make lock`): it records what the tests really ran against, transitive packages,
pip and setuptools included. `check` fails, naming the package, when
pyproject.toml and the lock disagree: a declared package the lock lacks, a
locked version outside its declared range, a locked package nothing declared
needs, or (with the installed metadata) a needed package the lock lacks.
Every failure ends with what to do: run `make lock`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "cpu.lock"
PYPROJECT = ROOT / "pyproject.toml"
# Installed by the Makefile for its own sake (the build backend and the installer), not by a
# dependency of the project.
TOOLING = {"pip", "setuptools"}
FIX = "run `make lock` (it re-resolves pyproject.toml and runs the tests)"


class LockError(Exception):
    """The lock and pyproject.toml (or the installed packages) disagree."""


@dataclass(frozen=True)
class Lock:
    versions: dict[str, str]  # canonical name -> exact version
    extras: tuple[str, ...]  # the project's extras the lock was made with

    def version(self, name: str) -> str | None:
        return self.versions.get(canonicalize_name(name))


def read_lock(path: Path = LOCK) -> Lock:
    """Parse `name==version` lines; the header's `# extras: a,b` names the locked extras."""
    if not path.is_file():
        raise LockError(f"{path} does not exist: {FIX}")
    versions: dict[str, str] = {}
    extras: tuple[str, ...] = ()
    for n, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if line.startswith("# extras:"):
            extras = tuple(e.strip() for e in line.split(":", 1)[1].split(",") if e.strip())
            continue
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        if not sep or not version or any(c in version for c in " ;<>=!~"):
            raise LockError(f"{path}:{n}: {line!r} is not an exact `name==version` pin: {FIX}")
        key = canonicalize_name(name)
        if key in versions:
            raise LockError(f"{path}:{n}: {name} is pinned twice: {FIX}")
        versions[key] = version
    return Lock(versions, extras)


def declared(pyproject: Path = PYPROJECT, extras: tuple[str, ...] = ()) -> list[Requirement]:
    """The project's own requirements: the base list plus the named extras."""
    project = tomllib.loads(pyproject.read_text())["project"]
    optional = project.get("optional-dependencies", {})
    missing = [e for e in extras if e not in optional]
    if missing:
        raise LockError(
            f"the lock was made with extra {missing[0]!r}, which {pyproject.name} no longer has: {FIX}"
        )
    lines = list(project.get("dependencies", []))
    for extra in extras:
        lines += optional[extra]
    return [Requirement(line) for line in lines]


def check_declared(lock: Lock, requirements: list[Requirement]) -> None:
    """Every declared package is locked, at a version its declared range allows."""
    for req in requirements:
        if req.marker is not None and not req.marker.evaluate():
            continue
        version = lock.version(req.name)
        if version is None:
            raise LockError(
                f"pyproject.toml needs {req} but requirements/cpu.lock has no {req.name}: {FIX}"
            )
        if not req.specifier.contains(Version(version), prereleases=True):
            raise LockError(
                f"requirements/cpu.lock pins {req.name}=={version}, outside pyproject.toml's "
                f"range {req.specifier}: {FIX}"
            )


def needed(requirements: list[Requirement], dist=metadata.distribution) -> dict[str, str]:
    """Every installed package the requirements reach, transitively: name -> who needs it.

    Reads the installed metadata (so run it in the locked venv), following extras
    (`fsspec[http]`) and environment markers the way pip does.
    """
    reached: dict[str, str] = {}
    todo = [(req, "pyproject.toml") for req in requirements]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        req, parent = todo.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        reached.setdefault(key[0], parent)
        try:
            requires = dist(req.name).requires or []
        except metadata.PackageNotFoundError as exc:
            raise LockError(f"{req.name} (needed by {parent}) is not installed: {FIX}") from exc
        for line in requires:
            child = Requirement(line)
            if child.marker is None or any(
                child.marker.evaluate({"extra": extra}) for extra in (req.extras or {""})
            ):
                todo.append((child, req.name))
    return reached


def check_closure(lock: Lock, requirements: list[Requirement], dist=metadata.distribution) -> None:
    """The lock holds exactly what the declared packages need, no more and no less."""
    reached = needed(requirements, dist)
    for name, parent in sorted(reached.items()):
        if name not in lock.versions:
            raise LockError(
                f"{name} is needed by {parent} but requirements/cpu.lock lacks it: {FIX}"
            )
    for name in sorted(set(lock.versions) - set(reached) - TOOLING):
        raise LockError(
            f"requirements/cpu.lock pins {name}, which nothing in pyproject.toml needs: {FIX}"
        )


def frozen(python: str = sys.executable) -> dict[str, str]:
    """`pip freeze --all` of an interpreter's environment, without the project itself."""
    out = subprocess.run(
        [python, "-m", "pip", "freeze", "--all", "--exclude-editable"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    pins = {}
    for line in out.splitlines():
        name, sep, version = line.partition("==")
        if sep:
            pins[canonicalize_name(name)] = version
    return pins


def check_installed(lock: Lock, installed: dict[str, str]) -> None:
    """The environment is the lock, to the version: nothing missing, extra or different."""
    for name in sorted(set(lock.versions) | set(installed)):
        want, have = lock.versions.get(name), installed.get(name)
        if want == have:
            continue
        if have is None:
            what = f"{name}=={want} is locked but not installed"
        elif want is None:
            what = f"{name}=={have} is installed but not in the lock"
        else:
            what = f"{name} is installed at {have}, the lock says {want}"
        raise LockError(f"{what}: {FIX}, or `make clean install` for a fresh .venv")


def sync(lock: Lock, python: str = sys.executable) -> None:
    """Uninstall what the lock no longer holds, so a venv made from an older lock matches it."""
    extra = sorted(set(frozen(python)) - set(lock.versions))
    if extra:
        print(f"lock: removing {', '.join(extra)} (not in the lock)", file=sys.stderr)
        subprocess.run([python, "-m", "pip", "uninstall", "-q", "-y", *extra], check=True)


def write(out: Path, extras: tuple[str, ...], python: str = sys.executable) -> None:
    pins = frozen(python)
    names = {canonicalize_name(n): n for n in pins}
    header = [
        "# Exact versions of every package `make install` puts in .venv (CPU torch, Linux x86-64,",
        f"# Python {sys.version_info.major}.{sys.version_info.minor}), transitive ones, pip and "
        "setuptools included.",
        "# Made by `make lock` (a pip freeze of a clean venv built from pyproject.toml); do not edit.",
        f"# extras: {','.join(extras)}",
    ]
    body = [f"{names[n]}=={pins[n]}" for n in sorted(pins)]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text("\n".join(header + body) + "\n")
    tmp.replace(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write", help="freeze this interpreter's packages into the lock")
    w.add_argument("--out", type=Path, default=LOCK)
    w.add_argument("--extras", default="dev,lora")
    s = sub.add_parser("sync", help="uninstall packages the lock does not hold")
    s.add_argument("--lock", type=Path, default=LOCK)
    c = sub.add_parser("check", help="pyproject.toml, the lock and the venv agree")
    c.add_argument("--lock", type=Path, default=LOCK)
    c.add_argument("--exact", action="store_true", help="pip freeze must equal the lock")
    args = parser.parse_args(argv)
    try:
        if args.command == "write":
            write(args.out, tuple(e for e in args.extras.split(",") if e))
            return 0
        lock = read_lock(args.lock)
        if args.command == "sync":
            sync(lock)
            return 0
        requirements = declared(PYPROJECT, lock.extras)
        check_declared(lock, requirements)
        if args.exact:
            check_closure(lock, requirements)
            check_installed(lock, frozen())
    except LockError as exc:
        print(f"lock: {exc}", file=sys.stderr)
        return 2
    print(f"lock: {len(lock.versions)} packages agree with pyproject.toml", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
