"""The package: its command, its pins, its wheel, the Pythons it runs on, and imports that
run one way."""

import ast
import glob
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.platform  # all of it runs on every supported Python in CI

# Each module may import only modules of lower layers (lazy imports inside functions too;
# imports for type annotations only, under ``if TYPE_CHECKING``, are not dependencies). A
# module is a file, named from nstyle (``engine.plan``; a package's __init__ is the
# package's name); the web app (nstyle.web) is one module here: its files together.
LAYERS = [
    # leaves; the engine's and media's __init__ are docstrings
    {"errors", "runtime", "spec", "cuda", "hosts", "_moved", "engine", "media"},
    # no MXNet from here ...; many's __init__ finds 0.3's names in its modules when asked
    {"nstyle", "many", "config.limits", "files", "media.flow", "media.scenes"},
    {"config.values"},  # each field's type and range
    {"config.options", "config.schedule"},  # the fields and their views; the scales
    {"config.checks"},  # what depends on several fields, the styles, files
    {"config"},  # re-exports
    {"media.colour", "media.sixteen"},  # ICC profiles; 16-bit PNG and TIFF files
    {"media.metadata"},  # a photo's profile and EXIF, and what a picture carries of them
    {"media.reading", "media.writing"},  # image files in; a painted picture's file, one writer
    {"media.images", "media.video", "weights.formats", "devices"},
    {"weights.fetch", "media.segmentation"},  # label images for photo to photo
    {"weights", "engine.footprint"},  # the network as the memory plan sees it: its table
    {"many.inputs"},
    {"many.manifest"},  # ... to here
    {"engine.network", "engine.wasserstein", "engine.matting"},  # VGG; W2, matting on the host
    {"engine.terms", "engine.pixels", "engine.smoothing"},  # the terms; the post-process
    {"engine.guides", "engine.autoregions"},  # regions: guided Gram targets; found by clustering
    {"engine.objective"},  # the whole image's objective and its weights
    {"engine.layout"},  # the tiles' geometry
    {"engine.tiles"},  # the objective tile by tile
    {"engine.memory"},  # what fits
    {"engine.plan"},  # the run's plan
    {"engine.stop"},
    {"engine.solvers"},
    {"engine.scale"},  # one scale
    {"engine.arguments"},  # the painter's arguments, checked at its entry
    {"engine.painter"},
    {"api"},  # the library's entry points
    {"many.tasks", "many.progress", "many.cluster"},
    {"many.runners"},  # in this process or on Ray, through Local
    {"many.videos"},
    {"many.driver"},
    {"cli.signals", "cli.exits", "cli.parser", "cli.inputs", "cli.report"},
    {"cli.single"},
    {"cli.batch"},
    {"cli"},
    {"cli.__main__"},
    {"web"},  # the two front ends: the command line and the web app
]
LAYER = {name: rank for rank, names in enumerate(LAYERS) for name in names}
PACKAGE = ROOT / "nstyle"


def module_of(path: Path) -> str:
    """``engine.plan`` for nstyle/engine/plan.py, ``config`` for its __init__.py, ``web``
    for any file of the web app."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    if not parts:
        return "nstyle"  # the package's own __init__: its public names load on first use
    return "web" if parts[0] == "web" else ".".join(parts)


MODULES = {module_of(path) for path in PACKAGE.rglob("*.py")}


def resolve(dotted: str) -> str | None:
    """The module that ``nstyle.<dotted>`` is or lives in (its longest known prefix)."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if name == "web" or name.startswith("web."):
            return "web"
        if name in MODULES:
            return name
    return None


def type_only(tree: ast.Module) -> set[ast.AST]:
    """The nodes under ``if TYPE_CHECKING:``."""
    return {
        inner
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
        for inner in ast.walk(node)
    }


def imports_of(path: Path) -> set[str]:
    """The nstyle modules a file imports, anywhere in it (not for types only)."""
    tree = ast.parse(path.read_text())
    skipped, found = type_only(tree), set()
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nstyle"):
            base = node.module.removeprefix("nstyle").lstrip(".")
            for alias in node.names:  # a submodule by name, or a name from a module
                found.add(resolve(f"{base}.{alias.name}" if base else alias.name) or resolve(base))
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("nstyle.")]
            found |= {resolve(name.removeprefix("nstyle.")) for name in names}
    return found - {None}


def test_every_module_has_a_layer():
    assert MODULES == set(LAYER)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: module_of(p))
def test_imports_run_one_way(path):
    module = module_of(path)
    for imported in imports_of(path) - {module}:  # within the web app: any way
        assert LAYER[imported] < LAYER[module], f"{module} ({path.name}) imports {imported}"


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


OPENBLAS_THREADS = """
import ctypes, glob, os
import nstyle, numpy
[lib] = glob.glob(os.path.join(os.path.dirname(numpy.__file__) + ".libs", "libopenblas*"))
print(ctypes.CDLL(lib).openblas_get_num_threads64_())
"""


@pytest.mark.parametrize("given", [None, "2"])
def test_the_host_s_blas_runs_one_thread_unless_told(given):
    """After ``import nstyle``, numpy's OpenBLAS runs one thread (two beside MXNet's OpenMP
    threads made W2's eigendecompositions 10 to 20 times slower); a value in the environment
    wins."""
    if not glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "libopenblas*")):
        pytest.skip("this numpy does not bundle OpenBLAS")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    env.update({} if given is None else {"OPENBLAS_NUM_THREADS": given})
    done = subprocess.run(
        [sys.executable, "-c", OPENBLAS_THREADS], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [given or "1"]


@pytest.mark.parametrize("name", ["MXNET_CPU_TEMP_COPY"])
@pytest.mark.parametrize("given", [None, "4"])
def test_mxnet_memory_settings_unless_told(name, given):
    """After ``import nstyle``, MXNet keeps one copy of its CPU temporary workspace (its
    default, four, held 0.3 GiB more at a 700-px photo-to-photo peak); a value in the
    environment wins."""
    env = {k: v for k, v in os.environ.items() if k != name}
    env.update({} if given is None else {name: given})
    code = f"import os, nstyle; print(os.environ['{name}'])"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [given or "1"]


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


def test_the_old_module_names_still_import():
    """Code written against nstyle 0.3's layout keeps working (``nstyle._moved``): a module
    that moved whole is the new module; a split one finds each name where it went."""
    import importlib

    import nstyle.media.images
    from nstyle._moved import MOVED

    images = importlib.import_module("nstyle.images")
    assert images is nstyle.media.images
    from nstyle.images import read_image
    from nstyle.losses import Network
    from nstyle.optimize import StopRule, optimize
    from nstyle.tiles import TiledLoss, TilePlan

    assert read_image.__module__ == "nstyle.media.reading"  # re-exported by media.images
    assert Network.__module__ == "nstyle.engine.terms"
    assert (optimize.__module__, StopRule.__module__) == (
        "nstyle.engine.solvers",
        "nstyle.engine.stop",
    )
    assert (TiledLoss.__module__, TilePlan.__module__) == (
        "nstyle.engine.tiles",
        "nstyle.engine.layout",
    )
    for old, new in MOVED.items():
        assert all(importlib.import_module(target) for target in new), old
        importlib.import_module(old)
    many, cli = importlib.import_module("nstyle.many"), importlib.import_module("nstyle.cli")
    assert (many.Batch.__module__, many.scene_cuts.__module__) == (
        "nstyle.many.driver",
        "nstyle.media.scenes",
    )
    assert cli.bundled.__module__ == "nstyle.cli.inputs"
    with pytest.raises(AttributeError, match="nstyle.many.*no_such_name"):
        getattr(many, "no_such_name")  # noqa: B009
    with pytest.raises(AttributeError, match="nstyle.optimize.*no_such_name"):
        getattr(importlib.import_module("nstyle.optimize"), "no_such_name")  # noqa: B009
