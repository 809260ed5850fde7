"""``python -m artstyle.cli``: the same as the ``artstyle`` command."""

from artstyle.cli.main import _entry

_entry()
