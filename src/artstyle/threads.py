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


# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
# Keep freed memory for the next step instead of handing it back to the system: a training
# step frees and asks again for the same activation buffers, and with glibc's defaults each
# large one is a fresh mmap whose pages fault in again. Held: freed memory up to the trim
# threshold. mmap only above 32 MiB (glibc's ceiling for the threshold on 64-bit).
_ALLOCATOR = {_M_MMAP_THRESHOLD: 32 * 1024**2, _M_TRIM_THRESHOLD: 1024**3, _M_TOP_PAD: 64 * 1024**2}
_allocator_tuned = False


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to reuse freed buffers rather than return them to the system.

    On a 2-core machine, classifier runs of the same length took 11-14% less CPU time for
    the same scores, their system time down from 7-10% of the run to 2% or less
    (docs/real-paintings.md). A no-op, returning False, where the C
    library is not glibc (macOS, Windows, musl) or a malloc variable in the environment
    already chose; the numbers a run computes do not change.
    """
    global _allocator_tuned
    if _allocator_tuned:
        return True
    if any(key.startswith("MALLOC_") for key in os.environ):
        return False
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        if not hasattr(libc, "gnu_get_libc_version"):  # only glibc has it
            return False
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    _allocator_tuned = all(mallopt(key, value) == 1 for key, value in _ALLOCATOR.items())
    return _allocator_tuned
