"""The package: its command, its pins, and imports that run one way."""

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Each module may import only modules of lower layers (lazy imports inside functions too).
# A subpackage (nstyle.web) is one module here: its files together.
LAYERS = [
    {"errors", "runtime", "spec", "cuda", "temporal", "hosts"},  # leaves: no MXNet at import
    {"config", "files"},  # the options and the files a run touches: no MXNet
    {"images", "weights", "devices", "video"},  # video: PyAV, no MXNet
    {"batch"},  # many inputs, their output names and the manifest (issue 14): no MXNet
    {"model"},
    {"losses"},
    {"tiles"},  # the loss tile by tile (issue 13), on the losses
    {"memory"},  # the memory model and each scale's plan: whole or tiles, which optimiser
    {"optimize"},
    {"api"},
    {"many"},  # many pictures and videos, in this process or on Ray (issue 14), on the api
    {"report"},
    {"cli", "web"},  # the two front ends: the command line and the web app
]
LAYER = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def imports_of(path: Path) -> set[str]:
    """The nstyle modules a file imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "nstyle":
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("nstyle."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("nstyle.")}
    return found


def sources(module: str) -> list[Path]:
    """A module's file, or every file of a subpackage."""
    package = ROOT / "nstyle" / module
    return sorted(package.rglob("*.py")) if package.is_dir() else [package.with_suffix(".py")]


def test_every_module_has_a_layer():
    modules = {p.stem for p in (ROOT / "nstyle").glob("*.py")} - {"__init__"}
    modules |= {p.parent.name for p in (ROOT / "nstyle").glob("*/__init__.py")}
    assert modules == set(LAYER)


@pytest.mark.parametrize("module", sorted(LAYER))
def test_imports_run_one_way(module):
    for path in sources(module):
        for imported in imports_of(path) - {module}:  # within a subpackage: any way
            assert LAYER[imported] < LAYER[module], f"{path.name} of {module} imports {imported}"


def test_options_and_checks_load_no_framework():
    """Reading the options, checking a run's files and images, and parsing the command
    line import neither MXNet nor scikit-image."""
    code = (
        "import sys, nstyle.cli, nstyle.config, nstyle.files, nstyle.images; "
        "nstyle.cli.build_parser(); "
        "print(sorted(m for m in ('mxnet', 'skimage', 'scipy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.strip() == "[]", done.stderr


def test_the_nstyle_command_is_run_py():
    command = Path(sys.executable).parent / "nstyle"
    if not command.exists():
        pytest.skip("the package is not installed in this environment (make test installs it)")
    installed = subprocess.run([command, "--help"], capture_output=True, text=True)
    checkout = subprocess.run(
        [sys.executable, ROOT / "run.py", "--help"], capture_output=True, text=True
    )
    assert installed.returncode == checkout.returncode == 0
    assert installed.stdout.replace("usage: nstyle", "usage: run.py") == checkout.stdout
    bad = subprocess.run([command, "--lr", "0"], capture_output=True, text=True)
    assert (bad.returncode, bad.stderr) == (2, "nstyle: error: --lr must be > 0, got 0.0\n")


def pins(path: Path) -> set[str]:
    """Requirement lines of a requirements file, following -r, comments dropped."""
    found = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            found |= pins(path.parent / line[3:].strip())
        elif line:
            found.add(line)
    return found


def test_pyproject_pins_are_requirements_txt():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(project["dependencies"]) == pins(ROOT / "requirements.txt")
    gpu = pins(ROOT / "requirements-gpu.txt")
    assert set(project["dependencies"]) - {"mxnet==1.9.1"} <= gpu  # the same, but MXNet
    assert "mxnet==1.9.1" not in gpu and "mxnet-cu117==1.9.1" in gpu


@pytest.mark.parametrize(
    "module", ["bench.compare", "bench.project", "bench.quality", "bench.profile_loop", "run"]
)
def test_nstyle_loads_before_mxnet(module):
    """nstyle sets MXNet's threads, which MXNet reads once when it loads: every entry point
    must import nstyle first (nstyle.runtime warns otherwise; here the warning fails)."""
    done = subprocess.run(
        [sys.executable, "-W", "error::UserWarning", "-c", f"import {module}"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
