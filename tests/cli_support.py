"""Running the command line in-process for tests: exit code, stdout and stderr, or the parsed --json."""

from __future__ import annotations

import json

from mlm_explorer import cli


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``python -m mlm_explorer ARGV`` in this process: (exit code, stdout, stderr)."""
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def json_cli(capsys, *argv: str) -> dict:
    """The parsed output of ``ARGV --json``; the command must succeed."""
    code, out, err = run_cli(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)
