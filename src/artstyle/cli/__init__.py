"""The ``artstyle`` command line: parse, call one workflow, print.

    artstyle --help
    artstyle data stats DATA

Every command turns bad input (:class:`~artstyle.errors.ArtstyleError`) into
one line on stderr and exit code 2; anything else is an internal error
(exit code 1). Library imports happen inside the commands so that
``artstyle --help`` stays fast.
"""

# ruff: noqa: I001  (the import order below is the order --help lists the commands in)
from __future__ import annotations

# each module registers its commands on the app; this order is --help's order
from artstyle.cli import data, report, evaluate, train, lora, analysis, stylize, demo  # noqa: F401
from artstyle.cli.app import app, parse_overrides, print_json
from artstyle.cli.main import _entry, main

__all__ = ["_entry", "app", "main", "parse_overrides", "print_json"]
