"""The package: its command, its pins, its wheel, the Pythons it runs on, and imports that
run one way."""

import ast
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.platform  # all of it runs on every supported Python in CI

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
        "import sys, nstyle.cli, nstyle.config, nstyle.files, nstyle.media.images; "
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
    "module",
    [
        "bench.compare",
        "bench.project",
        "bench.quality",
        "bench.profile_loop",
        "bench.pythons",
        "run",
    ],
)
def test_nstyle_loads_before_mxnet(module):
    """nstyle sets MXNet's threads, which MXNet reads once when it loads: every entry point
    must import nstyle first (nstyle.runtime warns otherwise; here the warning fails)."""
    done = subprocess.run(
        [sys.executable, "-W", "error::UserWarning", "-c", f"import {module}"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]


def test_one_range_of_pythons_everywhere():
    """requires-python, the Makefile's check, the README's first section and the GPU set-up
    name the same Pythons, and this one is among them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11,<3.14"
    supported = re.search(r"^SUPPORTED = (.*)$", (ROOT / "Makefile").read_text(), re.M)
    assert supported and supported[1].split() == ["3.11", "3.12", "3.13"]
    readme = (ROOT / "README.md").read_text()
    first = readme[readme.index("## Two commands") :].split("\n## ")[0]
    assert "Python 3.11, 3.12 or 3.13" in first
    assert "Python 3.11, 3.12 or 3.13" in (ROOT / "docs" / "GPU.md").read_text()
    assert f"{sys.version_info[0]}.{sys.version_info[1]}" in supported[1].split()


MXNET_AT_WORK = """
import sys
{first}
import mxnet as mx
import numpy as np
from distutils.version import LooseVersion  # MXNet's own use (gone from 3.12's library)
x = mx.sym.Variable("x")
fc = mx.sym.FullyConnected(x, num_hidden=3, no_bias=True, name="fc")
executor = mx.sym.make_loss(mx.sym.sum(fc)).bind(
    mx.cpu(), {{"x": mx.nd.ones((2, 4)), "fc_weight": mx.nd.ones((3, 4))}},
    args_grad={{"x": mx.nd.zeros((2, 4))}})
executor.forward(is_train=True)
executor.backward()
mask = mx.nd.array(np.array([True, False]), dtype=np.bool_)
print(mx.__version__, np.__version__, executor.outputs[0].asscalar(),
      executor.grad_dict["x"].asnumpy().sum(), mask.astype("float32").sum().asscalar())
"""


def test_mxnet_loads_through_nstyle_on_this_python():
    """nstyle.runtime gives MXNet 1.9.1 what numpy >= 1.24 and Python >= 3.12 took away;
    MXNet then binds, runs forward and backward, and nothing is printed but the result.
    Without it, the same numpy stops `import mxnet`: the restoring is what makes it work."""
    code = MXNET_AT_WORK.format(first="import nstyle")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr == ""  # no numpy warning (nor any other) reaches the user
    assert done.stdout.split() == ["1.9.1", "1.26.4", "24.0", "24.0", "1.0"]
    bare = subprocess.run(
        [sys.executable, "-c", MXNET_AT_WORK.format(first="")], capture_output=True, text=True
    )
    assert bare.returncode != 0 and "np.bool" in bare.stderr, bare.stderr[-3000:]


def test_the_wheel_holds_the_web_app_and_installs_a_working_command(tmp_path, tiny_weights_file):
    """`pip wheel .` makes a wheel with the web app's page and the `nstyle` command; installed
    in a fresh environment (here given this one's dependencies, not its copy of nstyle), the
    command runs from the wheel's files."""
    dist, venv, source = tmp_path / "dist", tmp_path / "venv", tmp_path / "source"
    source.mkdir()  # a copy: setuptools builds in the tree, and others use this one
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    shutil.copytree(ROOT / "nstyle", source / "nstyle", ignore=shutil.ignore_patterns("__py*"))
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    done = subprocess.run(build + ["-w", dist, source], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    [wheel] = dist.glob("nstyle-*-py3-none-any.whl")
    names = zipfile.ZipFile(wheel).namelist()
    static = {n.split("/")[-1] for n in names if n.startswith("nstyle/web/static/")}
    assert static == {p.name for p in (ROOT / "nstyle" / "web" / "static").iterdir()}
    assert {"nstyle/runtime.py", "nstyle/web/__main__.py"} <= set(names)
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "nstyle = nstyle.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    target = Path(subprocess.check_output(
        [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        text=True,
    ).strip())  # fmt: skip
    install = [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install"]
    done = subprocess.run(install + ["--no-deps", "-q", wheel], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    # then the dependencies (after: pip would take this environment's nstyle for the wheel's)
    (target / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    where = subprocess.run(
        [venv / "bin" / "python", "-c", "import nstyle.web; print(nstyle.web.__file__)"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(target), where.stderr[-3000:]
    assert (target / "nstyle" / "web" / "static" / "index.html").is_file()
    command = venv / "bin" / "nstyle"
    bad = subprocess.run([command, "--lr", "0"], capture_output=True, text=True, cwd=tmp_path)
    assert (bad.returncode, bad.stderr) == (2, "nstyle: error: --lr must be > 0, got 0.0\n")
    argv = ["--content-image", ROOT / "input" / "content.jpg", "--style-image"]
    argv += [ROOT / "input" / "style.jpg", "--weights", tiny_weights_file, "--gpu", "-1"]
    argv += ["--max-long-edge", "32", "--max-num-epochs", "2", "--output", "out.jpg", "--quiet"]
    run = subprocess.run([command, *argv], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "out.jpg").stat().st_size > 0
