"""CPU threads: how many the program computes with, and how they wait for work.

OpenMP threads that spin while they wait fight for a core that another program
holds. On a 2-core machine with one core kept busy, a training epoch with two
spinning threads ran 11x slower than on the quiet machine; with threads that sleep
when idle (``OMP_WAIT_POLICY=PASSIVE``) it loses about what a core is worth
(docs/benchmarks.md, ``python bench/run.py --only contention``). So the program
asks for passive threads before torch starts its pool (``import artstyle`` does it,
unless the variable is set already), and picks their number from the cores this
process may use, never from the load: one seed gives the same numbers on the same
machine however busy it is.

    artstyle train classifier --data DATA --out RUN --threads 1   # override the choice
"""

from __future__ import annotations

import os

WAIT_POLICY = "PASSIVE"


def prefer_passive_threads() -> None:
    """Idle OpenMP threads sleep instead of spinning; read once, when torch loads its OpenMP."""
    os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity on this platform
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """The program's choice: ``OMP_NUM_THREADS`` when the user (or a test runner) set it, else
    every core this process may use."""
    given = os.environ.get("OMP_NUM_THREADS", "").strip()
    if given.isdigit() and int(given) > 0:
        return int(given)
    return available_cores()


def use_threads(n: int) -> int:
    """Compute with ``n`` intra-op threads from now on (torch's pool); returns ``n``."""
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def describe() -> str:
    """``2 threads (OMP_WAIT_POLICY=PASSIVE)``: what a run of this process would use."""
    policy = os.environ.get("OMP_WAIT_POLICY", "default")
    n = default_threads()
    return (
        f"{n} thread{'s' if n != 1 else ''} of {available_cores()} cores (OMP_WAIT_POLICY={policy})"
    )
