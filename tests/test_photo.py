"""Photo to photo (issue 33): the matting term on the objective (band by band, its gradient,
tiled equals untiled with every optimiser), the mode's options and memory plan, its bad
input refused in one line before any work, and end-to-end runs on the real VGG-16 (a photo
mode result at least ten times more photographic than the painterly default's;
segmentations with anti-aliased borders and a label the reference lacks; a folder)."""

import mxnet as mx
import numpy as np
import pytest
from PIL import Image

from bench.photo import matting_energy
from nstyle.config import PHOTO_MATTING_WEIGHT, Options, ScalePlan
from nstyle.engine import matting, memory
from nstyle.engine.objective import LossExecutor
from nstyle.engine.pixels import MattingTerm, TVExecutor, image_terms
from nstyle.engine.plan import MemoryCap, post_process
from nstyle.engine.solvers import optimize
from nstyle.engine.terms import Network
from nstyle.engine.tiles import TiledLoss
from nstyle.errors import NStyleError, TooLarge
from nstyle.media import images
from tests.conftest import TINY_CHANNELS, random_vgg
from tests.test_cli import run_cli
from tests.test_matting import photo_of

GIB = 2**30


def test_bands_equal_the_whole_picture():
    """L v band by band (bands of 3 to 5 rows, 2-row margins) is the whole picture's."""
    photo = photo_of(17, 9)
    v = np.random.default_rng(2).normal(size=(17, 9, 3))
    whole = matting.Windows.of(photo).apply(v)
    for band_pixels in (27, 36, 45, 10_000):
        bands = matting.Bands.of(photo, band_pixels)
        assert np.abs(bands.apply(v) - whole).max() < 1e-9 * np.abs(whole).max()
    assert len(matting.Bands.of(photo, 27).rows) > 3


def test_matting_term_value_and_gradient():
    """On the image as the optimiser holds it (0..255 less the mean): the value is w times
    Luan et al.'s on the picture's difference from the photo in 0..1 times 255^2, the
    gradient its finite differences."""
    photo = (photo_of(8, 10, seed=3) * 255).round().astype(np.uint8)
    rng = np.random.default_rng(5)
    x = rng.uniform(-100, 100, (1, 3, 8, 10))
    image = mx.nd.array(x, dtype="float64")
    term = MattingTerm(image, photo, 2.0)
    grad = term.forward()
    value = float(term.energy(grad).asscalar())
    picture = (x[0].transpose(1, 2, 0) + 120) / 255  # the mean does not count
    windows = matting.Windows.of(photo / 255.0, matting.TERM_EPS)
    expected = matting.energy(windows, picture - photo / 255.0, 2.0 * 255**2)[0]
    assert value == pytest.approx(expected, rel=1e-6)
    step, i = 1e-3, (0, 1, 4, 6)
    for sign in (1, -1):
        image[i] = x[i] + sign * step
        term.forward()
        found = float(term.energy(term.forward()).asscalar())
        if sign == 1:
            up = found
    numeric = (up - found) / (2 * step)
    assert grad.asnumpy()[i] == pytest.approx(numeric, rel=1e-5)
    with pytest.raises(ValueError, match="size"):
        MattingTerm(image, photo[:, :9], 1.0)


def term_energy(photo: np.ndarray, picture: np.ndarray) -> float:
    """The matting term (weight 1) on ``picture`` (H, W, 3) in 0..1, as the optimiser holds it."""
    x = picture.transpose(2, 0, 1)[None] * 255 - 120
    term = MattingTerm(mx.nd.array(x, dtype="float64"), photo, 1.0)
    return float(term.energy(term.forward()).asscalar())


def test_the_term_makes_amplified_noise_in_a_flat_area_cost():
    """A flat, noisy patch of photo (a sky: 1.5 levels of noise): its noise amplified 30
    times (the dark blotches of docs/BENCHMARKS.md's examples 1, 9 and 40) costs a real share
    of what unrelated noise of the same strength costs (with Levin et al.'s eps 1e-7 for the
    term: 6e-4 of it); an affine recolouring of a photo's real structure stays ~free."""
    rng = np.random.default_rng(0)
    sky = np.clip(np.round(200 + rng.normal(0, 1.5, (16, 16, 3))), 0, 255).astype(np.uint8)
    amplified = 0.5 + 30 * (sky / 255.0 - sky.mean() / 255.0)
    unrelated = 0.5 + rng.normal(0, amplified.std(), sky.shape)
    assert term_energy(sky, amplified) > 0.2 * term_energy(sky, unrelated)
    photo = photo_of(20, 24)
    matrix = np.array([[0.5, 0.2, 0.1], [-0.1, 0.8, 0.0], [0.3, 0.0, 0.6]])
    recoloured = photo @ matrix.T + 0.1
    noise = np.random.default_rng(3).random(photo.shape)
    as_photo = (photo * 255).round().astype(np.uint8)
    assert term_energy(as_photo, recoloured) < 1e-3 * term_energy(as_photo, noise)


def test_the_term_keeps_the_photos_faint_texture():
    """The term's regulariser pulls each window's fit towards the photo unchanged: the photo
    recoloured by a shift costs nothing, and its faint texture (a thin cloud: a gradient and
    4 levels of noise) flattened costs (on the picture itself, Luan et al.'s form, the flat
    picture was the free one and the photo's own texture paid: docs/BENCHMARKS.md's example
    14 lost its clouds' edges)."""
    rng = np.random.default_rng(1)
    ramp = np.linspace(0, 12, 16)[None, :, None] + np.zeros((16, 16, 3))
    cloud = np.clip(np.round(170 + ramp + rng.normal(0, 4, ramp.shape)), 0, 255).astype(np.uint8)
    shifted = cloud / 255.0 + np.array([0.1, 0.0, -0.1])
    flat = np.broadcast_to(cloud.mean(axis=(0, 1)) / 255.0, cloud.shape)
    assert term_energy(cloud, flat) > 0.05 * term_energy(cloud, 1 - cloud / 255.0)
    assert term_energy(cloud, shifted) < 1e-9 * term_energy(cloud, flat)


def tiny_net(style_loss="gram"):
    style, content = ("relu1_1", "relu2_1", "relu3_1"), ("relu2_2",)
    return Network.build(
        random_vgg(16, TINY_CHANNELS), 16, style, content, "avg", mx.cpu(), TINY_CHANNELS,
        "float64",
    )  # fmt: skip


@pytest.mark.parametrize(
    "optimizer, style_loss", [("lbfgs", "gram"), ("sgd", "gram"), ("adam", "gram"), ("lbfgs", "w2")]
)
def test_tiled_equals_untiled_with_the_matting_term(optimizer, style_loss):
    """A few epochs with the matting term (and TV) beside the loss: tile by tile (2x2
    tiles) the picture is the whole image's, with each optimiser and both statistics."""
    net = tiny_net()
    rng = np.random.default_rng(4)
    shape = (1, 3, 24, 32)
    photo_x = rng.uniform(-100, 100, shape)
    targets = {
        k: v
        for k, v in net.targets(rng.uniform(-100, 100, shape)).items()
        if "gram" in k or "sum" in k
    }
    targets.update({k: v for k, v in net.targets(photo_x).items() if "content" in k})
    photo = (photo_of(24, 32, seed=6) * 255).round().astype(np.uint8)
    options = Options(optimizer=optimizer, lr=1.0, stop_window=1, check_every=1, stop_eps=0)
    pictures = []
    for tiled in (False, True):
        image = mx.nd.array(photo_x, dtype="float64")
        args = (net, targets, image)
        if tiled:
            loss = TiledLoss(*args, (12, 16), 1.0, 1.0, style_loss=style_loss)
            assert len(loss.plan.tiles) == 4
        else:
            loss = LossExecutor(*args, 1.0, 1.0, style_loss=style_loss)
        terms = image_terms([TVExecutor(image, 1e-2), MattingTerm(image, photo, 10.0)])
        optimize(loss, terms, image, options, plan=ScalePlan.budget(4, 4), probe=False)
        pictures.append(image.asnumpy())
    whole, tiles = pictures
    assert np.abs(whole - photo_x).max() > 1  # it moved
    np.testing.assert_allclose(tiles, whole, rtol=1e-6, atol=1e-6 * np.abs(whole).max())


def test_the_modes_options():
    assert Options(photo=True).matting == PHOTO_MATTING_WEIGHT
    assert Options().matting == 0.0 and Options(photo=True, matting_weight=0).matting == 0.0
    assert Options(matting_weight=3).matting == 3.0
    with pytest.raises(NStyleError, match="--matting-weight must be >= 0"):
        Options(matting_weight=-1)
    with pytest.raises(NStyleError, match="--post-process must be one of closed, guided, none"):
        Options(post_process="bilateral")


def test_the_post_process_follows_the_memory_cap():
    """Closed by default in the mode; guided where the closed form would not fit (a
    4096-px picture under 4 GiB); an explicit closed that would not fit is one line naming
    guided."""
    cap = MemoryCap(4 * GIB, 16 * GIB, "cpu(0)", 4.0)
    photo = Options(photo=True)
    assert post_process(photo, (467, 700), cap) == "closed"
    assert post_process(photo, (2731, 4096), cap) == "guided"
    assert post_process(Options(), (467, 700), cap) == "none"
    assert post_process(Options(post_process="guided"), (467, 700), cap) == "guided"
    with pytest.raises(TooLarge, match="--post-process guided works at any size"):
        post_process(photo.replace(post_process="closed"), (2731, 4096), cap)


def test_the_memory_plan_counts_the_term(vgg16):
    """The term's bytes are counted; 700 px plans under 2 GiB (the model is an upper bound:
    whole it predicts 2.5, docs/BENCHMARKS.md measures the run); a 4096-px photo to photo
    fits --max-memory 8."""
    from nstyle.spec import CONTENT_LAYERS, STYLE_LAYERS

    net = Network.build(
        vgg16.network_params, 16, STYLE_LAYERS, CONTENT_LAYERS, "avg", mx.cpu(), vgg16.channels
    )
    plain = memory.plan_scale(net, 467, 700, "lbfgs", 16 * GIB)
    photo = memory.plan_scale(net, 467, 700, "lbfgs", 16 * GIB, matting=True)
    assert photo.peak - plain.peak == memory.matting_bytes(467 * 700)
    assert memory.plan_scale(net, 467, 700, "lbfgs", 2 * GIB, matting=True).peak <= 2 * GIB
    big = memory.plan_scale(net, 2731, 4096, "lbfgs", 8 * GIB, matting=True)
    assert big.peak <= 8 * GIB and big.tile is not None


@pytest.fixture
def photos(tmp_path):
    """A photo, a reference (another scene, other colours), their label images (the photo's
    with an anti-aliased border and a label the reference lacks), all made here."""
    from skimage import data

    photo = images.resize_to(data.chelsea(), (75, 112))
    reference = images.resize_to(data.coffee(), (80, 120))
    labels = np.zeros((300, 448, 3), np.uint8)
    labels[:, :200] = (0, 0, 255)
    labels[:, 200:] = (0, 255, 0)
    labels[220:, 300:] = (255, 0, 0)  # red: not in the reference
    labels = images.resize_to(labels, (150, 224))  # anti-aliased borders
    ref_labels = np.zeros((80, 120, 3), np.uint8)
    ref_labels[:40] = (0, 0, 255)
    ref_labels[40:] = (0, 255, 0)
    paths = {}
    for name, picture in [
        ("photo", photo), ("reference", reference), ("photo_seg", labels), ("ref_seg", ref_labels)
    ]:  # fmt: skip
        paths[name] = tmp_path / f"{name}.png"
        Image.fromarray(picture).save(paths[name])
    return paths


def refused(*argv) -> str:
    done = run_cli(*argv)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nstyle: "), done.stderr
    return lines[0]


def test_bad_input_is_one_line_before_any_work(photos, tmp_path):
    base = ["--photo", "--content-image", str(photos["photo"]), "--style-image",
            str(photos["reference"]), "--output", str(tmp_path / "out" / "o.png")]  # fmt: skip
    seg = ["--content-segmentation", str(photos["photo_seg"])]
    ref_seg = ["--style-segmentation", str(photos["ref_seg"])]
    assert "go together" in refused(*base, *seg)
    assert "flat colours" in refused(*base, *seg, "--style-segmentation", str(photos["reference"]))
    wide = tmp_path / "wide.png"
    Image.fromarray(np.zeros((20, 90, 3), np.uint8)).save(wide)
    assert "another aspect" in refused(*base, "--content-segmentation", str(wide), *ref_seg)
    alpha = tmp_path / "alpha.png"
    Image.fromarray(np.zeros((75, 112, 4), np.uint8)).save(alpha)
    assert "alpha channel" in refused(*base, "--content-segmentation", str(alpha), *ref_seg)
    two = ["--style-image", str(photos["reference"]), str(photos["reference"])]
    assert "one --style-image" in refused(*base, *seg, *ref_seg, *two)
    mask = ["--content-mask", str(photos["ref_seg"])]
    assert "not with --content-mask" in refused(*base, *seg, *ref_seg, *mask)
    assert "--matting-weight must be >= 0" in refused(*base, "--matting-weight", "-1")
    assert "invalid choice" in refused(*base, "--post-process", "bilateral")
    regions = ["--photo-regions", "4"]
    assert "only with --photo" in refused(*base[1:], *regions)
    assert "not with masks, segmentations" in refused(*base, *regions, *seg, *ref_seg)
    assert "not with masks, segmentations" in refused(*base, *regions, *two)
    assert not (tmp_path / "out").exists()


def test_photo_mode_is_ten_times_more_photographic_than_painting(vgg16, photos):
    """The real VGG-16 at 112 px, the same pair and budget: the photo mode's matting energy
    (bench.photo's measure) at least ten times below the painterly default's."""
    from nstyle import api

    photo, reference = (np.asarray(Image.open(photos[n])) for n in ("photo", "reference"))
    found = {}
    for mode in (True, False):
        picture = api.stylize(
            photo, reference, weights=vgg16, model="vgg16", max_long_edge=112,
            max_num_epochs=30, num_scales=1, photo=mode,
        )  # fmt: skip
        found[mode] = matting_energy(picture, photo)
    assert found[True] * 10 <= found[False], found


def test_segmentations_end_to_end(vgg16, photos, tmp_path):
    """The command line with both segmentations (anti-aliased borders, a label only in the
    photo) on the real VGG-16: a photograph, and the orphan label is not painted black."""
    output = tmp_path / "out.png"
    done = run_cli(
        "--photo", "--model", "vgg16", "--gpu", "-1", "--max-long-edge", "112",
        "--max-num-epochs", "20", "--num-scales", "1", "--save-epochs", "0",
        "--content-image", str(photos["photo"]), "--style-image", str(photos["reference"]),
        "--content-segmentation", str(photos["photo_seg"]),
        "--style-segmentation", str(photos["ref_seg"]), "--output", str(output),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "(255, 0, 0) is not in --style-segmentation" in done.stderr
    picture = np.asarray(Image.open(output).convert("RGB"))
    photo = np.asarray(Image.open(photos["photo"]))
    assert matting_energy(picture, photo) < 1e-3
    orphan = picture[55:, 75:].astype(float)  # the red label's corner
    assert orphan.mean() > 0.5 * photo[55:, 75:].mean()


def test_a_folder_of_photos(tiny_weights_file, photos, tmp_path):
    """A folder of two photos with one reference: each result post-processed (on the tiny
    network: its matting energy far below the same batch's without --photo)."""
    folder = tmp_path / "shoot"
    folder.mkdir()
    photo = np.asarray(Image.open(photos["photo"]))
    Image.fromarray(photo).save(folder / "a.png")
    Image.fromarray(np.ascontiguousarray(photo[::-1])).save(folder / "b.png")
    energies = {}
    for mode in ("--photo", None):
        out = tmp_path / f"out{mode}"
        done = run_cli(
            *([mode] if mode else []), "--content-image", str(folder), "--style-image",
            str(photos["reference"]), "--output", str(out), "--weights", str(tiny_weights_file),
            "--gpu", "-1", "--max-long-edge", "48", "--max-num-epochs", "5", "--init", "noise",
            "--seed", "0", "--save-epochs", "0",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        energies[mode] = [
            matting_energy(np.asarray(Image.open(next(out.glob(f"{n}.*"))).convert("RGB")), p)
            for n, p in (("a", photo), ("b", np.ascontiguousarray(photo[::-1])))
        ]
    assert max(energies["--photo"]) * 10 < min(energies[None]), energies


def test_the_mode_keys_the_manifest_and_earlier_keys_stay():
    """The new options are left out at their old meaning (a batch's earlier manifests stay
    valid: tests/test_many_masks.py pins those hashes); each of them set is a new key."""
    from nstyle.many import inputs, manifest

    styles, key = ["ab" * 32], manifest.settings_hash
    keys = {
        key(manifest.settings(Options(**change), styles, 0.0, inputs.IMAGE))
        for change in ({}, {"photo": True}, {"matting_weight": 1.0}, {"post_process": "none"})
    }
    assert len(keys) == 4
    assert "photo" not in manifest.settings(Options(), styles, 0.0, inputs.IMAGE)


def test_the_style_statistics_default_to_w2_in_photo_to_photo_only():
    """Photo to photo's numbers were measured with W2 (Gram's did not carry the reference's
    colours); painting keeps Gram (issue 32); a given --style-loss wins in both."""
    from nstyle.config import Options

    assert Options().statistics == "gram" and Options(photo=True).statistics == "w2"
    assert Options(photo=True, style_loss="gram").statistics == "gram"
    assert Options(style_loss="mixed").statistics == "mixed"
