"""A layout a reader can take in (issue 23): no module over 400 lines and no function over
60, except where ALLOWED says why."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULE_LINES, FUNCTION_LINES = 400, 60
# "path:function" -> why it is longer; empty: none is.
ALLOWED: dict[str, str] = {}
SOURCES = sorted((ROOT / "nstyle").rglob("*.py"))


def name(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", SOURCES, ids=name)
def test_no_module_is_over_400_lines(path):
    lines = path.read_text().count("\n")
    assert lines <= MODULE_LINES or name(path) in ALLOWED, f"{name(path)}: {lines} lines"


@pytest.mark.parametrize("path", SOURCES, ids=name)
def test_no_function_is_over_60_lines(path):
    long = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            size = node.end_lineno - node.lineno + 1
            if size > FUNCTION_LINES and f"{name(path)}:{node.name}" not in ALLOWED:
                long.append(f"{node.name} ({size} lines)")
    assert not long, f"{name(path)}: {', '.join(long)}"
