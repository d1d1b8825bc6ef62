"""The command line: every flag at least once, snapshots, and clear errors."""

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nstyle import cli
from nstyle.config import Options, Outputs
from nstyle.media import images
from tests.conftest import cpu_build_only, make_rgb

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def pictures(tmp_path, rgb):
    content = images.write_image(tmp_path / "content.png", rgb)
    style = images.write_image(tmp_path / "style.png", np.ascontiguousarray(rgb[::-1, ::-1]))
    return content, style


def stylise(tmp_path, pictures, tiny_weights_file, *extra, name="out.png"):
    """Run the CLI in-process on the tiny network; return the written image."""
    content, style = pictures
    output = tmp_path / "runs" / name
    argv = [
        "--content-image",
        str(content),
        "--style-image",
        str(style),
        "--output",
        str(output),
        "--gpu",
        "-1",
        "--weights",
        str(tiny_weights_file),
        "--max-long-edge",
        "32",
        "--max-num-epochs",
        "3",
        "--init",
        "noise",
        "--seed",
        "0",
        "--optimizer",
        "sgd",
        "--lr",
        "10",
        "--lr-sched-step",
        "2",
        "--remove-noise",
        "0",
        "--stop-eps",
        "0",
        "--min-num-epochs",
        "1",
        "--check-every",
        "1",
        "--stop-window",
        "1",
        *extra,
    ]
    assert cli.main(argv) == 0
    return images.read_image(output)


# Each flag with a value that must change the picture of the baseline run.
CHANGING = [
    ("--pooling", "max"),
    ("--style-layers", "relu1_1", "relu3_2"),
    ("--content-layers", "relu1_2"),
    ("--max-long-edge", "40"),
    ("--style-scale", "1.5"),
    ("--content-weight", "1e4"),
    ("--style-weight", "1e5"),
    ("--tv-weight", "0"),
    ("--init", "content"),
    ("--lr", "30"),
    ("--lr-sched-step", "1"),
    ("--lr-sched-factor", "0.1"),
    ("--momentum", "0"),
    ("--weight-decay", "0.5"),
    ("--clip-factor", "1e-4"),
    ("--max-num-epochs", "6"),
    ("--seed", "1"),
    ("--remove-noise", "0.2"),
    ("--stop-eps", "1"),
    ("--stop-eps", "1", "--stop-window", "2"),
    ("--style-layer-weights", "1", "0", "1", "1", "1"),
    ("--preserve-colors",),
    ("--preserve-colors", "--match-luminance"),
    ("--optimizer", "adam"),
    ("--optimizer", "lbfgs"),
]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, tiny_weights_file):
    tmp = tmp_path_factory.mktemp("baseline")
    rgb = make_rgb()
    content = images.write_image(tmp / "content.png", rgb)
    style = images.write_image(tmp / "style.png", np.ascontiguousarray(rgb[::-1, ::-1]))
    return stylise(tmp, (content, style), tiny_weights_file), (content, style)


@pytest.mark.parametrize("flag", CHANGING, ids=[" ".join(f) for f in CHANGING])
def test_flag_changes_the_result(tmp_path, baseline, tiny_weights_file, flag):
    base, pictures = baseline
    out = stylise(tmp_path, pictures, tiny_weights_file, *flag)
    assert out.shape != base.shape or np.abs(out.astype(int) - base).max() > 0


def test_min_num_epochs_delays_the_stop_rule(tmp_path, baseline, tiny_weights_file):
    _, pictures = baseline
    first = stylise(tmp_path, pictures, tiny_weights_file, "--stop-eps", "1")
    later = stylise(
        tmp_path, pictures, tiny_weights_file, "--stop-eps", "1", "--min-num-epochs", "2"
    )
    two = stylise(tmp_path, pictures, tiny_weights_file, "--max-num-epochs", "2")
    assert not np.array_equal(first, later) and np.array_equal(later, two)


def test_check_every_batches_the_stop_rule(tmp_path, baseline, tiny_weights_file):
    _, pictures = baseline
    first = stylise(tmp_path, pictures, tiny_weights_file, "--stop-eps", "1")  # epoch 1
    checked = stylise(
        tmp_path, pictures, tiny_weights_file, "--stop-eps", "1", "--check-every", "2"
    )
    two = stylise(tmp_path, pictures, tiny_weights_file, "--max-num-epochs", "2")
    assert not np.array_equal(first, checked) and np.array_equal(checked, two)


def test_several_styles_blend_by_weight(tmp_path, baseline, tiny_weights_file, rgb):
    base, (content, style) = baseline
    other = images.write_image(tmp_path / "other.png", np.ascontiguousarray(rgb[:, ::-1]))
    two = ["--style-image", str(style), str(other)]
    only_first = stylise(
        tmp_path, (content, style), tiny_weights_file, *two, "--style-blend-weights", "2", "0"
    )
    assert np.array_equal(only_first, base)  # weight 0: the second style plays no part
    blended = stylise(tmp_path, (content, style), tiny_weights_file, *two)
    assert not np.array_equal(blended, base)


def test_init_from_an_image_file(tmp_path, baseline, tiny_weights_file, rgb):
    base, (content, style) = baseline
    start = images.write_image(tmp_path / "start.png", np.ascontiguousarray(rgb[::-1]))
    out = stylise(tmp_path, (content, style), tiny_weights_file, "--init", str(start))
    assert not np.array_equal(out, base)
    from_content = stylise(tmp_path, (content, style), tiny_weights_file, "--init", "content")
    from_file = stylise(tmp_path, (content, style), tiny_weights_file, "--init", str(content))
    assert np.array_equal(from_content, from_file)


def test_preserve_colors_keeps_the_photos_colours(tmp_path, baseline, tiny_weights_file):
    from skimage.color import rgb2yiq

    base, (content, style) = baseline
    photo = images.resize_long_edge(images.read_image(content), 32)
    kept = stylise(tmp_path, (content, style), tiny_weights_file, "--preserve-colors")
    colour = lambda im: rgb2yiq(im / 255.0)[..., 1:]
    # the same I and Q (colour) as the photo wherever the result is not clipped
    inside = np.all((kept > 3) & (kept < 252), axis=2)
    assert inside.mean() > 0.2  # 0.3+ with the Gram default on the tiny network, 0.29 with W2
    assert np.abs(colour(kept) - colour(photo))[inside].max() < 0.03
    assert np.abs(colour(base) - colour(photo))[inside].mean() > 0.05  # without: other colours


def test_the_baseline_is_deterministic(tmp_path, baseline, tiny_weights_file):
    base, pictures = baseline
    assert np.array_equal(stylise(tmp_path, pictures, tiny_weights_file), base)


def test_snapshots_every_save_epochs_beside_the_output(tmp_path, pictures, tiny_weights_file):
    stylise(
        tmp_path,
        pictures,
        tiny_weights_file,
        "--max-num-epochs",
        "7",
        "--save-epochs",
        "3",
        name="final.jpg",
    )
    names = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert names == ["final.jpg", "tmp_3.jpg", "tmp_6.jpg"]


def test_quiet_print_every_and_csv_log(tmp_path, pictures, tiny_weights_file, capfd):
    stylise(
        tmp_path,
        pictures,
        tiny_weights_file,
        "--max-num-epochs",
        "6",
        "--print-every",
        "2",
        "--log",
        str(tmp_path / "logs" / "losses.csv"),
    )
    lines = [line for line in capfd.readouterr().err.splitlines() if line.startswith("epoch")]
    assert [int(line.split()[1]) for line in lines] == [1, 2, 4, 6]
    rows = (tmp_path / "logs" / "losses.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,seconds,lr,rel_change,total,style_relu1_1,")
    assert [int(r.split(",")[0]) for r in rows[1:]] == [1, 2, 3, 4, 5, 6]
    stylise(tmp_path, pictures, tiny_weights_file, "--quiet", "--save-epochs", "1")
    assert capfd.readouterr().err == ""
    assert (tmp_path / "runs" / "tmp_3.jpg").exists()  # quiet still saves snapshots
    stylise(tmp_path, pictures, tiny_weights_file, "--print-every", "0")
    assert not any(line.startswith("epoch") for line in capfd.readouterr().err.splitlines())


def test_multi_scale_goes_coarse_to_fine(tmp_path, pictures, tiny_weights_file):
    seen = []
    content, style = pictures
    from nstyle import Options, stylize
    from nstyle.weights import read_weights

    options = Options(
        max_long_edge=128,
        num_scales=2,
        max_num_epochs=3,
        min_num_epochs=1,
        stop_eps=0,
        init="noise",
        seed=0,
        lr=10,
    )
    result = stylize(
        images.read_image(content),
        images.read_image(style),
        options,
        weights=read_weights(tiny_weights_file),
        callback=seen.append,
    )
    assert result.shape == (91, 128, 3)
    assert [(it.epoch, it.scale) for it in seen] == [
        (1, (1, 2)),
        (2, (1, 2)),
        (3, (1, 2)),
        (4, (2, 2)),
        (5, (2, 2)),
        (6, (2, 2)),
    ]
    assert seen[2].image.shape != seen[3].image.shape  # 64 px, then 128 px
    assert seen[3].elapsed >= seen[2].elapsed
    one = stylize(
        images.read_image(content),
        images.read_image(style),
        options.replace(num_scales=1),
        weights=read_weights(tiny_weights_file),
    )
    assert not np.array_equal(one, result)


def shown(value) -> str:
    """A dataclass default as the help and the README must show it."""
    if value is None:
        return "none"
    if value is False:
        return "off"
    if isinstance(value, tuple):
        return " ".join(map(str, value))
    return str(value)


def test_help_shows_every_option_and_its_default():
    text = " ".join(cli.build_parser().format_help().split())  # unwrapped
    for field in [*dataclasses.fields(Options), *dataclasses.fields(Outputs)]:
        flag = "--" + field.name.replace("_", "-")
        help_text = " ".join(field.metadata["help"].split())
        assert f"{help_text} (default: {shown(field.default)})" in text, flag
    for flag in ("--content-image", "--style-image", "--output", "--gpu", "--max-image-pixels"):
        assert flag in text


def test_flag_types_are_the_options_types():
    _, options, _ = cli.parse_options(
        [
            "--lr-sched-factor",
            "0.9",
            "--lr-sched-step",
            "80",
            "--style-layers",
            "relu1_1",
            "relu2_1",
        ]
    )
    assert options.lr_sched_factor == 0.9 and options.lr_sched_step == 80
    assert options.style_layers == ("relu1_1", "relu2_1")
    with pytest.raises(SystemExit):
        cli.parse_options(["--lr-sched-step", "0.5"])  # an int flag
    with pytest.raises(SystemExit):
        cli.parse_options(["--pooling", "mean"])


def run_cli(*argv, cwd=ROOT):
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        pytest.param(
            ["--gpu", "0"],
            "--gpu 0: the installed MXNet is the CPU-only build",
            marks=cpu_build_only,
        ),
        (["--gpu", "-2"], "--gpu must be -1"),
        (["--content-image", "/nonexistent.jpg"], "image /nonexistent.jpg does not exist"),
        (["--lr", "0"], "lr must be > 0"),
        (["--style-weight", "-1"], "style-weight must be >= 0"),
        (["--save-epochs", "-1"], "save-epochs must be >= 0"),
        (["--style-layers", "relu1_1", "relu9_1"], "unknown style layer(s) relu9_1; VGG-16 has"),
        (["--output", "/proc/nope/out.jpg"], "--output: cannot write into /proc/nope"),
        (["--style-blend-weights", "1", "2"], "2 weight(s) for 1 style image(s)"),
        (
            [
                "--style-image",
                "input/style.jpg",
                "input/content.jpg",
                "--style-blend-weights",
                "1",
                "-1",
            ],
            "style-blend-weights must be >= 0",
        ),
        (["--init", "missing.jpg"], "init must be one of content, noise or an image file"),
        (["--style-layer-weights", "1", "2"], "one weight >= 0 per style layer"),
        (["--match-luminance"], "match-luminance works with --preserve-colors only"),
        (["--print-every", "-1"], "print-every must be >= 0"),
        (["--num-scales", "3", "--max-long-edge", "128"], "the coarsest scale needs 64 px"),
        (["--num-scales", "0"], "num-scales must be >= 1"),
        (["--check-every", "0"], "check-every must be > 0"),
        (["--max-long-edge", "60000"], "GiB is free; --max-long-edge"),
        (["--log", "/proc/nope/losses.csv"], "--log: cannot write into /proc/nope"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(argv, message, tiny_weights_file):
    done = run_cli("--weights", str(tiny_weights_file), "--max-long-edge", "32", *argv)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("error:") == 1


def readme_rows() -> list[list[str]]:
    """The README's flag table, row by row: (flag, default, meaning)."""
    text = (ROOT / "README.md").read_text()
    table = text.split("<!-- flags -->")[1].split("<!-- /flags -->")[0]
    rows = [re.split(r"(?<!\\)\|", line)[1:-1] for line in table.strip().splitlines()[2:]]
    return [[cell.strip().replace("\\|", "|") for cell in row] for row in rows]


def test_readme_flag_table_is_the_parser():
    """Every row of the README's table: flag, default and meaning, as the parser has them."""
    expected = []
    for action in cli.build_parser()._actions:
        if action.option_strings[-1] == "--help":
            continue
        meaning = action.help + (
            f" (one of: {', '.join(action.choices)})" if action.choices else ""
        )
        default = {"gpu": "auto"}.get(action.dest) or shown(
            False
            if action.const is True
            else tuple(action.default)
            if isinstance(action.default, list)
            else action.default
        )
        expected.append([f"`{action.option_strings[-1]}`", default, meaning])
    assert readme_rows() == expected
    fields = {f.name: f for f in [*dataclasses.fields(Options), *dataclasses.fields(Outputs)]}
    for flag, default, _ in readme_rows():  # and the defaults are the library's own
        name = flag.strip("`")[2:].replace("-", "_")
        if name in fields:
            assert default == shown(fields[name].default), flag


def test_flag_table_script_agrees():
    done = subprocess.run(
        [sys.executable, "docs/make_flag_table.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
