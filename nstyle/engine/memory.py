"""How a run fits in memory: a model of its peak and, per scale, the plan that keeps it
under the cap (``--max-memory``, default 90% of what is free).

The model (calibrated in docs/BENCHMARKS.md, "Big pictures"): a constant for MXNet, oneDNN
and the weights; the largest executor, estimated from the graph's shapes
(``Footprint.loss_bytes``, an upper bound on this CPU); the whole image's arrays (the image,
its gradient, the stop rule's copies, the photo's features, the optimiser's state), per
pixel; and L-BFGS's float64 history. When the whole image does not fit, the loss is
computed tile by tile (``nstyle.engine.tiles``): the largest tile that fits is chosen, L-BFGS
keeps fewer correction pairs, and where even a few pairs do not fit, that scale runs Adam.
"""

from __future__ import annotations

import math

from nstyle.config import MAX_ELEMENTS, ScalePlan, flag
from nstyle.engine.footprint import Footprint
from nstyle.engine.layout import TileLayout, deepest_layer
from nstyle.errors import TooLarge
from nstyle.spec import MIN_EDGE

GIB = 2.0**30
BASE_BYTES = int(0.45 * GIB)  # MXNet, oneDNN, the weights: measured at the smallest sizes
# The whole image's arrays per pixel besides the executor: about 17 float32 copies of the
# image (the image, gradient, TV term, stop-rule copies (4 since its windows end every half
# window), start and photo, temporaries) plus the photo's content features
# (docs/BENCHMARKS.md, "Big pictures").
IMAGE_BYTES_PER_PIXEL = 17 * 12
# Writing the picture (nstyle.media.writing), after the scale's executors are freed: the
# result's float and 8-bit pictures (15 bytes a pixel) and the write's own copies, at most
# 128 bytes a pixel (measured by tracemalloc at 1000x1000: a 16-bit TIFF 72, into the
# photo's profile 100, denoised too 128; docs/BENCHMARKS.md, "Big pictures").
WRITE_BYTES_PER_PIXEL = 15 + 128
# Photo to photo's matting term on the host (``engine.pixels.MattingTerm``), measured with
# tracemalloc at 700x437: its windows hold 128 bytes a pixel (float64 photo, means, 3x3
# inverses), an evaluation's gradient and copies 72 more (79 since it works on the change
# from the photo: its float64 difference), the photo on the device 12, and a band's
# temporaries (2^16 pixels, ``matting.Bands``) about 21 MiB whatever the size (tracemalloc).
MATTING_BYTES_PER_PIXEL = 220
MATTING_BAND_BYTES = 24 * 2**20
# The closed-form post-process (``engine.smoothing.closed_form``, L band by band): 179 MiB
# at its peak at 700x437 (tracemalloc), the bands' 85 MiB and about 300 bytes a pixel
# (the windows, conjugate gradients' five vectors); counted with a margin.
CLOSED_FORM_BYTES_PER_PIXEL = 600
FIRST_ORDER_STATE = {"sgd": 1, "adam": 2}  # float32 copies of the image they keep
LBFGS_HISTORY = 20  # correction pairs L-BFGS keeps when they fit
LBFGS_FEWEST = 5  # fewer than this and L-BFGS is no better than Adam: switch
MIN_TILE = 128  # below this the margins cost more than the tiles (5x the pixels at 128)


def lbfgs_bytes(history: int, elements: int) -> int:
    """scipy's L-BFGS-B on ``elements`` float64 numbers: ``history`` pairs of vectors and
    about ten work vectors (its own and the objective's copies)."""
    return (2 * history + 10) * elements * 8


def optimizer_bytes(optimizer: str, history: int, elements: int) -> int:
    if optimizer == "lbfgs":
        return lbfgs_bytes(history, elements)
    return FIRST_ORDER_STATE[optimizer] * elements * 4


def _tile_layout(net: Footprint, height: int, width: int, tile: int) -> TileLayout:
    """The tiles' counts and largest extent, in constant time whatever the size."""
    return TileLayout.of(height, width, tile, net.num_layers, deepest_layer(net))


def _executor_bytes(net: Footprint, extent: tuple[int, int], regions: int = 0) -> int | None:
    """The executor's estimate, or None when one of its tensors is beyond MXNet's sizes."""
    widest = max(net.channels[n] for n in net.features)  # at the first layer's full size
    if widest * extent[0] * extent[1] >= MAX_ELEMENTS:
        return None
    return net.loss_bytes((1, 3, *extent), regions)


def matting_bytes(pixels: int) -> int:
    """The matting term's host memory for a picture of ``pixels`` (``MATTING_*``)."""
    return MATTING_BYTES_PER_PIXEL * pixels + MATTING_BAND_BYTES


def closed_form_fits(height: int, width: int, cap: int) -> bool:
    """Whether the closed-form post-process of a picture this size fits ``cap`` bytes (the
    network's constant part is still held when it runs)."""
    return closed_form_bytes(height, width) <= cap


def closed_form_bytes(height: int, width: int) -> int:
    """The closed-form post-process's peak with the network's constant part."""
    return BASE_BYTES + CLOSED_FORM_BYTES_PER_PIXEL * height * width + MATTING_BAND_BYTES


def predict(
    net: Footprint,
    height: int,
    width: int,
    tile: int | None,
    optimizer: str,
    history: int,
    regions: int = 0,
    matting: bool = False,
) -> ScalePlan | None:
    """The plan and its predicted peak for this choice (None: a tensor too large); with
    ``regions`` masked regions (``nstyle.engine.guides``) and with ``matting``, photo to
    photo's matting term on the host."""
    if tile is None:
        tiles, margin, extent = 1, 0, (height, width)
    else:
        layout = _tile_layout(net, height, width, tile)
        tiles, margin, extent, tile = layout.tiles, layout.margin, layout.largest, layout.tile[0]
    executor = _executor_bytes(net, extent, regions)
    if executor is None:
        return None
    pixels = height * width
    painting = (
        executor
        + IMAGE_BYTES_PER_PIXEL * pixels
        + optimizer_bytes(optimizer, history, 3 * pixels)
        + (matting_bytes(pixels) if matting else 0)
    )
    peak = BASE_BYTES + max(painting, WRITE_BYTES_PER_PIXEL * pixels)  # the write comes after
    return ScalePlan(
        max(height, width),
        0,
        0,
        height=height,
        width=width,
        tile=tile,
        tiles=tiles,
        margin=margin,
        extent=extent,
        optimizer=optimizer,
        history=history,
        peak=peak,
    )


def _largest_tile(
    net, height, width, optimizer, history, cap, smallest, regions=0, matting=False
) -> ScalePlan | None:
    """The plan with the largest tile (a multiple of the pooling stride, at least
    ``smallest``) that fits ``cap``; ``smallest`` itself is tried last (the smallest cap
    named when nothing fits is its plan's: that cap must work)."""
    stride = _tile_layout(net, height, width, smallest).stride
    tile = max(height, width) // stride * stride
    while tile >= smallest:
        found = predict(net, height, width, tile, optimizer, history, regions, matting)
        if found is not None and found.peak <= cap:
            return found
        if tile == smallest:
            return None
        tile = max(tile * 7 // 8 // stride * stride, smallest)  # about 12% smaller each try
    return None


TILED_PASSES = 1.45  # a tiled step's cost over an untiled one on the same pixels: pass 1's
# extra forward (measured: a forward is about 45% of a forward and backward)
ADAM_PENALTY = 1.5  # L-BFGS's pictures are as good in about this many fewer evaluations


def cost(plan: ScalePlan) -> float:
    """A step's time relative to an untiled L-BFGS step on the same image: the pixels the
    tiles read (interiors plus margins) and the first pass, and Adam's slower progress."""
    if plan.tile is None:
        work = 1.0
    else:
        read = plan.tiles * plan.extent[0] * plan.extent[1]
        work = TILED_PASSES * read / (plan.height * plan.width)
    return work * (ADAM_PENALTY if plan.optimizer != "lbfgs" else 1.0)


def plan_scale(
    net: Footprint,
    height: int,
    width: int,
    optimizer: str,
    cap: int,
    regions: int = 0,
    matting: bool = False,
) -> ScalePlan:
    """The cheapest plan (``cost``) that fits ``cap`` bytes, among: the whole image or the
    largest tiles that fit, with L-BFGS keeping 20, 10 or 5 pairs, or with Adam in place of
    L-BFGS (or the first-order optimiser asked for).

    Raises ``NoFit`` (naming the smallest cap that would work) when even the smallest
    tiles do not fit. ``regions``: masked regions (``nstyle.engine.guides``); ``matting``:
    the matting term's host memory counted.
    """
    first_order = leanest(optimizer)
    choices = [(first_order, 0)]
    if optimizer == "lbfgs":
        choices = [("lbfgs", h) for h in (LBFGS_HISTORY, 10, LBFGS_FEWEST)] + choices
    found = []
    for opt, history in choices:
        whole = predict(net, height, width, None, opt, history, regions, matting)
        if whole is not None and whole.peak <= cap:
            found.append(whole)
        else:
            tiled = _largest_tile(net, height, width, opt, history, cap, MIN_TILE, regions, matting)
            if tiled is not None:
                found.append(tiled)
    if found:
        return min(found, key=lambda plan: (cost(plan), -plan.history))
    least = predict(net, height, width, MIN_TILE, first_order, 0, regions, matting)
    assert least is not None
    raise NoFit.of(least)


def leanest(optimizer: str) -> str:
    """The optimiser of the smallest plan ``plan_scale`` makes for ``optimizer``: itself,
    or Adam in place of L-BFGS."""
    return optimizer if optimizer != "lbfgs" else "adam"


def target_tile(net: Footprint, height: int, width: int, cap: int) -> int | None:
    """The tile for computing an image's targets (forward passes only) within ``cap``:
    None for the whole image at once."""
    found = predict(net, height, width, None, "sgd", 0)
    if found is not None and found.peak <= cap:
        return None
    found = _largest_tile(net, height, width, "sgd", 0, cap, MIN_TILE)
    return found.tile if found is not None else MIN_TILE


class NoFit(TooLarge):
    """Even the smallest tiles do not fit: ``least`` is that plan (its peak the smallest
    cap that works)."""

    least: ScalePlan

    @classmethod
    def of(cls, least: ScalePlan) -> NoFit:
        return cls(f"needs at least {least.peak / GIB:.1f} GiB", least=least)


def need_gib(peak: int) -> float:
    """A predicted peak as the cap to name: GiB rounded up to a tenth."""
    return math.ceil(peak / GIB * 10) / 10


def cap_error(error: NoFit, cap_flag: float | None, available: int, where: str) -> TooLarge:
    """The one line for a run that cannot fit: the smallest ``--max-memory`` that works
    (also as ``suggested``) when the user set one, else what is free."""
    least = error.least
    size = f"{least.width}x{least.height}"
    need = need_gib(least.peak)
    if cap_flag is not None:
        return TooLarge(
            f"{flag('max_memory')} {cap_flag:g} is too small for a {size} picture: even "
            f"{MIN_TILE}-px tiles need about {need:.1f} GiB; {flag('max_memory')} "
            f"{need:.1f} would work",
            suggested={"max_memory": need},
        )
    return TooLarge(
        f"a {size} picture needs at least {need:.1f} GiB on {where} (in {MIN_TILE}-px "
        f"tiles) but {available / GIB:.1f} GiB is free"
    )


def fits_at_least(
    net: Footprint, height: int, width: int, cap: int, optimizer: str = "sgd", regions: int = 0
) -> tuple[bool, ScalePlan | None]:
    """(whether a picture of this shape fits ``cap`` in the smallest tiles with the
    leanest plan for ``optimizer`` (sgd: a style image's targets, forward passes only),
    that plan; None for a picture that fits the cap but is beyond MXNet's arrays, or has a
    side under ``MIN_EDGE``: no cap makes it fit)."""
    if min(height, width) < MIN_EDGE:
        return False, None
    least = predict(net, height, width, MIN_TILE, leanest(optimizer), 0, regions)
    fits = least is not None and least.peak <= cap
    if fits and not within_mxnet(height, width):
        return False, None
    return fits, least


def within_mxnet(height: int, width: int) -> bool:
    """A picture MXNet can hold at all: its (1, 3, H, W) under 2^31 numbers (tiles or
    not, the whole image is one array)."""
    return 3 * height * width < MAX_ELEMENTS


def largest_edge_that_fits(
    net: Footprint, height: int, width: int, edge: int, cap: int, optimizer: str, regions: int = 0
) -> int:
    """The long edge, 0.9 times smaller at each try from ``edge`` (the picture ``height``
    x ``width`` is at ``edge``), at which the smallest tiles fit ``cap`` with ``optimizer``
    (``plan_scale``'s leanest plan for it): the edge to name when a picture does not fit."""
    while edge > MIN_EDGE:
        edge = int(edge * 0.9)
        factor = edge / max(height, width)
        h, w = max(1, round(height * factor)), max(1, round(width * factor))
        if fits_at_least(net, h, w, cap, optimizer, regions)[0]:
            break
    return edge


def largest_style_scale_that_fits(
    net: Footprint, height: int, width: int, style_scale: float, long_edge: int, cap: int
) -> float:
    """The style scale, 0.9 times smaller at each try from ``style_scale`` (the style image
    ``height`` x ``width`` is at it) and rounded down to two significant digits (the value
    named is the value tried: rounded up it may not fit), at which its targets fit ``cap``
    in the smallest tiles, or the last before its long edge reaches ``MIN_EDGE``."""
    scale = style_scale
    while scale * long_edge > MIN_EDGE:
        scale = two_digits_down(scale * 0.9)
        factor = max(1, round(long_edge * scale)) / max(height, width)  # as ``style_edge``
        h, w = max(1, round(height * factor)), max(1, round(width * factor))
        if fits_at_least(net, h, w, cap)[0]:
            break
    return scale


def two_digits_down(value: float) -> float:
    """``value`` > 0 rounded down to two significant digits: 0.0347 -> 0.034."""
    unit = 10.0 ** (math.floor(math.log10(value)) - 1)
    return float(f"{math.floor(value / unit + 1e-9) * unit:.2g}")  # 0.29 / 0.01 < 29


def check_fits_at_all(
    net: Footprint, cap_flag: float | None, cap: int, available: int, where
) -> None:
    """Fail once, before any picture, when no picture at all fits the cap (a --max-memory
    too small for the network alone): a batch says so once, not once per picture."""
    least = predict(net, MIN_EDGE, MIN_EDGE, None, "sgd", 0)
    if least is None or least.peak <= cap:
        return
    need = need_gib(least.peak)
    if cap_flag is not None:
        raise TooLarge(
            f"{flag('max_memory')} {cap_flag:g} is too small for any "
            f"picture: the network alone needs about {need:.1f} GiB; "
            f"{flag('max_memory')} {need:.1f} would work",
            suggested={"max_memory": need},
        )
    raise TooLarge(
        f"no picture fits in the {available / GIB:.1f} GiB free on {where}: "
        f"the network alone needs about {need:.1f} GiB"
    )
