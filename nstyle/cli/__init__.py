"""The command line (moving into modules: issue 23)."""

from nstyle.cli.batch import (
    EXIT_CODES,
    build_parser,
    exit_for,
    main,
    parse_options,
    shown_default,
)

__all__ = ["EXIT_CODES", "build_parser", "exit_for", "main", "parse_options", "shown_default"]
