"""What every CLI flag parses to, recorded once so that a restructure can prove it changed
nothing: ``python -m tests.flag_values --write`` records tests/data/flag_values.json from the
current tree, and tests/test_flags.py compares the tree with it."""

import argparse
import contextlib
import io
import json
import os
import sys
from pathlib import Path

GOLDEN = Path(__file__).parent / "data" / "flag_values.json"
SAMPLE = {int: ("7", "8"), float: ("0.25", "0.5"), None: ("x.png", "y.png")}  # typical values


def samples(parser: argparse.ArgumentParser) -> list[list[str]]:
    """argv lists: none; each switch alone; each choice; a typical value; two for nargs '+'."""
    argvs: list[list[str]] = [[]]
    for action in parser._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        name = action.option_strings[-1]
        if isinstance(action, argparse._StoreTrueAction):
            argvs.append([name])
        elif action.choices:
            argvs += [[name, str(choice)] for choice in action.choices]
        else:
            first, second = SAMPLE.get(action.type, SAMPLE[None])  # type: ignore[call-overload]
            argvs.append([name, first])
            if action.nargs == "+":
                argvs.append([name, first, second])
    return argvs


def parsed(argv: list[str]) -> dict:
    """What ``parse_options(argv)`` returns, as reprs, or its exit code and error line."""
    from nstyle import cli

    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            args, options, outputs = cli.parse_options(argv)
    except SystemExit as exc:
        return {"exit": exc.code, "stderr": stderr.getvalue()}
    return {
        "args": {name: repr(value) for name, value in sorted(vars(args).items())},
        "options": repr(options),
        "outputs": repr(outputs),
    }


def record() -> dict:
    """The help text and every sample's result, at a fixed terminal width."""
    from nstyle import cli

    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps the help at the terminal's width
    try:
        parser = cli.build_parser()
        return {
            "help": parser.format_help(),
            "samples": [{"argv": argv, **parsed(argv)} for argv in samples(parser)],
        }
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.flag_values --write")
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(record(), indent=1) + "\n")
