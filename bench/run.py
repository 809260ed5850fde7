"""The benchmark program: run the named sections, print a table, write docs/benchmarks.md.

    python bench/run.py --out docs/benchmarks.md            # every section but ON_REQUEST (make bench)
    python bench/run.py --only cache --quick                 # one section, smaller sizes
    python bench/run.py --only real --only real-balance --out docs/benchmarks.md  # real paintings

To add a section, write ``section(*, quick: bool) -> list[dict]`` in
``bench/bench_<topic>.py`` (rows from ``common.row``) and list it in
``SECTIONS`` below. With ``--only``, the other sections already in the
output file are kept as they were.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import re
import shlex
import sys
import time
import traceback
from pathlib import Path
from typing import Any

# name -> module in bench/ holding ``section(*, quick)``; printed and written in this order
SECTIONS: dict[str, str] = {
    "cache": "bench_cache",
    "train": "bench_train",
    "eval": "bench_eval",
    "memory": "bench_memory",
    "cluster": "bench_cluster",
    "contention": "bench_contention",
    "lora": "bench_lora",
    "gpu": "bench_gpu",
    "real": "bench_real",
    "real-balance": "bench_real_balance",
    "explore": "bench_explore",
}
# sections that train for most of an hour on real paintings: run only when named with --only
ON_REQUEST = frozenset({"real", "real-balance", "explore"})

_BLOCK = re.compile(r"<!-- section:(?P<name>[\w-]+) -->\n.*?<!-- /section:(?P=name) -->\n", re.S)


def run_sections(names: list[str], *, quick: bool) -> dict[str, dict[str, Any]]:
    """Run each section; a section that crashes becomes one failed row, the others still run."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        try:
            module = importlib.import_module(SECTIONS[name])
            about = _summary(module.__doc__)
            rows = module.section(quick=quick)
            error = None
            if rows is None:  # nothing to measure here (e.g. no GPU): keep the recorded block
                continue
        except Exception as exc:  # a broken section must not hide the others' numbers
            traceback.print_exc()
            rows = [
                {
                    "name": "section crashed",
                    "value": float("nan"),
                    "unit": "",
                    "target": None,
                    "ok": False,
                    "note": repr(exc),
                }
            ]
            error = repr(exc)
            about = ""
        results[name] = {
            "machine": _machine_line(),
            "rows": rows,
            "seconds": time.perf_counter() - started,
            "error": error,
            "about": about,
        }
        for item in rows:
            print("   " + _text_row(item), flush=True)
    return results


def _summary(docstring: str | None) -> str:
    """The first paragraph of a section module's docstring: what the section measures."""
    if not docstring:
        return ""
    return " ".join(docstring.strip().split("\n\n")[0].split())


def _machine_line() -> str:
    info = machine()
    where = f"{info['cpu']}, {info['cores']} cores"
    if info["gpu"] != "none":
        where += f", {info['gpu']}"
    return f"{where}; torch {info['torch']}"


def machine() -> dict[str, str]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "torch threads": str(torch.get_num_threads()),
        "gpu": gpu,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


def _format_value(value: float) -> str:
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _ok_text(ok: bool | None) -> str:
    return "" if ok is None else ("yes" if ok else "NO")


def _text_row(item: dict[str, Any]) -> str:
    target = f" (target {item['target']}: {_ok_text(item['ok'])})" if item.get("target") else ""
    note = f"  [{item['note']}]" if item.get("note") else ""
    return f"{item['name']}: {_format_value(item['value'])} {item['unit']}{target}{note}"


def section_markdown(name: str, result: dict[str, Any], command: str, when: str) -> str:
    lines = [
        f"<!-- section:{name} -->",
        f"## {name}",
        "",
        *([result["about"], ""] if result.get("about") else []),
        f"`{command}` ({when}, section took {result['seconds']:.0f} s)",
        "",
        f"Machine: {result.get('machine', 'see the top of this file')}",
        "",
        "| measurement | value | unit | target | met |",
        "|---|---:|---|---|---|",
    ]
    for item in result["rows"]:
        label = item["name"] + (f" ({item['note']})" if item.get("note") else "")
        label = label.replace("|", "/")
        lines.append(
            f"| {label} | {_format_value(item['value'])} | {item['unit']} | {item.get('target') or ''} | {_ok_text(item['ok'])} |"
        )
    lines.append(f"<!-- /section:{name} -->")
    return "\n".join(lines) + "\n"


def write_markdown(path: Path, results: dict[str, dict[str, Any]], command: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from artstyle.io import write_text

    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    blocks = {
        name: section_markdown(name, result, command, when) for name, result in results.items()
    }
    if path.exists():  # keep sections this run did not touch
        for match in _BLOCK.finditer(path.read_text(encoding="utf-8")):
            blocks.setdefault(match.group("name"), match.group(0))
    ordered = [blocks[name] for name in SECTIONS if name in blocks]
    ordered += [block for name, block in blocks.items() if name not in SECTIONS]
    header = [
        "# Benchmarks",
        "",
        "Written by `python bench/run.py --out docs/benchmarks.md` (`make bench`); each section",
        "records the exact command that produced it and the machine it ran on, and a run of one",
        "section (`--only NAME`) leaves the others as they were. Both sides of every ratio are",
        "measured in the same run, one after the other, so the ratios hold even when the machine",
        "is busy; each timing is the best of a few repeats. The `gpu` section runs only where",
        "CUDA is available and is otherwise kept from its last run.",
        "",
    ]
    write_text(path, "\n".join(header) + "\n" + "\n".join(ordered))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run artstyle's benchmarks.")
    parser.add_argument(
        "--out", type=Path, help="Markdown file to write (e.g. docs/benchmarks.md)."
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(SECTIONS),
        help="Run only this section (repeatable).",
    )
    parser.add_argument(
        "--quick", action="store_true", help="Smaller sizes and fewer repeats (a smoke run)."
    )
    args = parser.parse_args(argv)
    names = [
        name for name in SECTIONS if (name in args.only if args.only else name not in ON_REQUEST)
    ]
    results = run_sections(names, quick=args.quick)
    command = "python bench/run.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    print()
    for name, result in results.items():
        missed = [item["name"] for item in result["rows"] if item["ok"] is False]
        status = "all targets met" if not missed else f"missed: {', '.join(missed)}"
        print(f"{name}: {status}")
    if args.out:
        write_markdown(args.out, results, command.strip())
        print(f"wrote {args.out}")
    return 1 if any(result["error"] for result in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
