#!/usr/bin/env python3
"""Write the README's flag table from the command line's parser, so the two cannot drift.

    python docs/make_flag_table.py          # rewrite the table in README.md
    python docs/make_flag_table.py --check  # exit 1 if README.md's table is not the parser's

The table sits between the markers ``<!-- flags -->`` and ``<!-- /flags -->``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nstyle.cli import build_parser, shown_default

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- flags -->", "<!-- /flags -->"


def meaning(action: argparse.Action) -> str:
    """The help text, and the allowed values when there is a fixed set."""
    text = action.help or ""
    if action.choices:
        text += f" (one of: {', '.join(map(str, action.choices))})"
    return text.replace("|", "\\|")


def rows() -> list[tuple[str, str, str]]:
    """(flag, default, meaning) for every flag but --help, in the parser's order."""
    return [
        (action.option_strings[-1], shown_default(action), meaning(action))
        for action in build_parser()._actions
        if action.option_strings[-1] != "--help"
    ]


def table() -> str:
    lines = ["| flag | default | meaning |", "|---|---|---|"]
    lines += [f"| `{flag}` | {default} | {text} |" for flag, default, text in rows()]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args()
    text = README.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{table()}\n{END}{tail}"
    if args.check:
        if new != text:
            print(
                "README.md's flag table differs from the parser: run "
                "python docs/make_flag_table.py",
                file=sys.stderr,
            )
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
