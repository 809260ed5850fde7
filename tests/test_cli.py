"""The top of the command line: version, help, and what a bare command does."""

from __future__ import annotations

import re

from artstyle.cli import main


def test_version_names_the_package_torch_and_the_threads(capsys, monkeypatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert main(["--version"]) == 0
    out = capsys.readouterr().out.strip()
    assert re.fullmatch(
        r"artstyle \S+ \(torch \S+, Python [\d.]+; 3 threads of \d+ cores \(OMP_WAIT_POLICY=\w+\)\)",
        out,
    ), out


def test_short_help_flag_and_bare_commands_show_help_without_an_error(capsys) -> None:
    assert main(["-h"]) == 0
    assert "Usage: " in capsys.readouterr().out
    for argv in ([], ["data"], ["train"]):
        assert main(argv) == 0, argv
        captured = capsys.readouterr()
        assert "Usage: " in captured.out and "Commands" in captured.out
        assert "error" not in captured.err, (argv, captured.err)


def test_an_unknown_command_is_still_a_usage_error(capsys) -> None:
    assert main(["nonsense"]) == 2
    assert "No such command 'nonsense'" in capsys.readouterr().err
