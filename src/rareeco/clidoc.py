"""Generate the CLI reference (docs/cli.md) from ``--help``: ``python -m rareeco.clidoc > docs/cli.md``.

A test regenerates it and compares, so the reference never drifts from the code.
"""

from __future__ import annotations

import os
from typing import Any

import typer
from typer.testing import CliRunner

from rareeco.cli import app


def _commands(group: Any, prefix: list[str]) -> list[list[str]]:
    out = [prefix]
    for name in sorted(group.commands):
        cmd = group.commands[name]
        if hasattr(cmd, "commands"):
            out += _commands(cmd, [*prefix, name])
        else:
            out.append([*prefix, name])
    return out


def render() -> str:
    os.environ.update({"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"})
    root = typer.main.get_command(app)
    runner = CliRunner()
    parts = ["# rareeco command reference", "",
             "Generated from `--help` by `python -m rareeco.clidoc > docs/cli.md`; a test keeps it current.", ""]
    for path in _commands(root, []):
        res = runner.invoke(app, [*path, "--help"], prog_name="rareeco",
                            env={"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"})
        text = "\n".join(line.rstrip() for line in res.output.strip("\n").splitlines())
        parts += [f"## rareeco {' '.join(path)}".rstrip(), "", "```", text, "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    print(render())
