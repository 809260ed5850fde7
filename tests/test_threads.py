"""CPU threads and the allocator: what a training process asks of the C library."""

from __future__ import annotations

import ctypes.util
import os

import pytest

from artstyle import threads


def _no_malloc_variables(monkeypatch) -> None:
    for key in [key for key in os.environ if key.startswith("MALLOC_")]:
        monkeypatch.delenv(key)


def test_keep_freed_memory_sets_glibcs_thresholds_once(monkeypatch) -> None:
    calls: list[tuple[int, int]] = []

    class FakeLibc:
        def gnu_get_libc_version(self) -> bytes:
            return b"2.36"

        def mallopt(self, key: int, value: int) -> int:
            calls.append((key, value))
            return 1

    fake = FakeLibc()
    fake.mallopt = _with_argtypes(fake.mallopt)
    monkeypatch.setattr(threads, "_allocator_tuned", False)
    monkeypatch.setattr(ctypes, "CDLL", lambda name: fake)
    _no_malloc_variables(monkeypatch)
    assert threads.keep_freed_memory() is True
    assert dict(calls) == {-3: 32 * 1024**2, -1: 1024**3, -2: 64 * 1024**2}
    assert threads.keep_freed_memory() is True and len(calls) == 3  # once per process


def test_keep_freed_memory_leaves_a_users_malloc_settings_alone(monkeypatch) -> None:
    monkeypatch.setattr(threads, "_allocator_tuned", False)
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    monkeypatch.setattr(ctypes, "CDLL", lambda name: pytest.fail("the C library was opened"))
    assert threads.keep_freed_memory() is False


def test_keep_freed_memory_is_a_no_op_without_glibc(monkeypatch) -> None:
    class OtherLibc:  # no gnu_get_libc_version: macOS's or musl's C library
        def mallopt(self, key: int, value: int) -> int:
            raise AssertionError("mallopt called on a C library that is not glibc")

    monkeypatch.setattr(threads, "_allocator_tuned", False)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libc.dylib")
    monkeypatch.setattr(ctypes, "CDLL", lambda name: OtherLibc())
    _no_malloc_variables(monkeypatch)
    assert threads.keep_freed_memory() is False


def _with_argtypes(function):
    """A plain function that accepts the ``argtypes`` attribute ctypes functions carry."""

    def call(*args):
        return function(*args)

    return call
