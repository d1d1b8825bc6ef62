"""Photo to photo in the web app (issue 33): the mode's fields in the form, jobs with and
without segmentations run to the end on the small random weights, each label a region as on
the command line, and every bad segmentation refused in one line before any work."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from nstyle.media import segmentation
from nstyle.web.app import create_app
from nstyle.weights import read_weights
from tests.test_web import CONTENT, STYLE, TINY, refused, served, wait


@pytest.fixture(scope="module")
def tiny_app(tiny_weights_file):
    """The app with conftest's small random VGG-16 (as tests/test_web.py's)."""
    tiny = read_weights(tiny_weights_file)
    return create_app(
        max_waiting=1, preview_seconds=0, load_weights=lambda options, fallback=None: tiny
    )


@pytest.fixture(scope="module")
def client(tiny_app):
    yield from served(tiny_app)


BLUE, GREEN, RED = (0, 0, 255), (0, 255, 0), (255, 0, 0)


def encoded(picture: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    picture.save(out, format=fmt)
    return out.getvalue()


def photo_labels(size=(200, 200)) -> np.ndarray:
    """The photo's labels: blue left, green right, a red corner the reference lacks."""
    w, h = size
    labels = np.zeros((h, w, 3), np.uint8)
    labels[:, : w // 2], labels[:, w // 2 :] = BLUE, GREEN
    labels[3 * h // 4 :, 3 * w // 4 :] = RED
    return labels


def reference_labels(size=(160, 120)) -> np.ndarray:
    """The reference's (input/style.jpg's 4:3): blue above, green below."""
    w, h = size
    labels = np.zeros((h, w, 3), np.uint8)
    labels[: h // 2], labels[h // 2 :] = BLUE, GREEN
    return labels


SEG = encoded(Image.fromarray(photo_labels()))
STYLE_SEG = encoded(Image.fromarray(reference_labels()))


def post(client, segs=(SEG, STYLE_SEG), styles=(STYLE,), masks=(), **fields):
    """A job with the bundled photo and painting and the given segmentations (None: left
    out), named seg.png and style_seg.png."""
    files = [("content", ("content.jpg", CONTENT, "image/jpeg"))]
    files += [("style", (f"style{i}.jpg", s, "image/jpeg")) for i, s in enumerate(styles)]
    files += [("mask", (f"mask{i}.png", m, "image/png")) for i, m in enumerate(masks)]
    for name, data, file in zip(
        ("content_segmentation", "style_segmentation"), segs, ("seg.png", "style_seg.png")
    ):
        if data is not None:
            files.append((name, (file, data, "image/png")))
    data = {name: str(value) for name, value in fields.items()}
    return client.post("/api/jobs", files=files, data=data)


@pytest.fixture
def painted(tiny_app, monkeypatch):
    """What each job's painter is given: its style images and style masks, and the masks."""
    local, given = tiny_app.state.server.worker.local, []

    def painter(styles, options, **kwargs):
        given.append({"styles": styles, "options": options, **kwargs})
        return painter.original(styles, options, **kwargs)

    def run(painter_, task, *args, **kwargs):
        given[-1]["masks"] = task.masks
        return run.original(painter_, task, *args, **kwargs)

    painter.original, run.original = local.painter, local.run
    monkeypatch.setattr(local, "painter", painter)
    monkeypatch.setattr(local, "run", run)
    return given


def test_the_form_offers_the_mode(client):
    fields = {f["name"]: f for f in client.get("/api/options").json()["fields"]}
    assert fields["photo"]["label"] == "Photo to photo" and fields["photo"]["type"] == "bool"
    assert fields["photo"]["section"] == "mode"
    for name in ("matting_weight", "post_process"):
        assert fields[name]["section"] == "photo" and not fields[name]["main"]
    assert fields["post_process"]["choices"] == ["closed", "guided", "none"]
    assert fields["post_process"]["nullable"] and fields["post_process"]["default"] is None


def test_a_photo_mode_job_runs_to_the_end(client, painted):
    response = post(client, segs=(None, None), photo="on", post_process="guided", **TINY)
    assert response.status_code == 201, response.text
    status = wait(client, response.json()["id"])
    assert status["state"] == "done" and status["error"] is None, status
    assert set(status["names"]) == {"content", "styles"}
    [job] = painted
    assert job["options"].photo and job["options"].post_process == "guided"
    assert job["style_masks"] is None and job["masks"] is None and len(job["styles"]) == 1
    assert client.get(f"/api/jobs/{status['id']}/image?download=1").status_code == 200


def test_the_brush_paints_regions_in_the_mode(client, painted):
    """A mask per reference, as painted in the page, is where its look goes in the mode."""
    mask = Image.new("L", (40, 40), 0)
    mask.paste(255, (20, 0, 40, 40))
    response = post(client, segs=(None, None), masks=(encoded(mask),), photo="true", **TINY)
    assert response.status_code == 201, response.text
    status = wait(client, response.json()["id"])
    assert status["state"] == "done" and status["error"] is None, status
    [job] = painted
    assert job["options"].photo and job["style_masks"] is None
    [right] = job["masks"]
    assert right[:, :20].max() == 0 and right[:, 20:].min() == 255


def test_segmentations_become_regions_as_on_the_command_line(client, painted):
    """Each label of the photo is a region: the reference once per label, the label's masks
    on the photo and on the reference, the red label (not in the reference) given all of it."""
    response = post(client, photo="true", **TINY)
    assert response.status_code == 201, response.text
    status = wait(client, response.json()["id"])
    assert status["state"] == "done" and status["error"] is None, status
    names = status["names"]
    assert names["segmentations"] == ["seg.png", "style_seg.png"] and names["regions"] == 3
    assert names["unmatched"] == ["#ff0000"]
    [job] = painted
    assert len(job["styles"]) == 3 and all(s is job["styles"][0] for s in job["styles"])
    (h, w), (sh, sw) = job["styles"][0].shape[:2], (48, 48)  # the reference's, the photo's
    blue, green, red = job["masks"]
    assert blue.shape == (sh, sw) and blue[:, :20].min() == 1 and blue[:, 28:].max() == 0
    assert green[:20, 28:].min() == 1 and red[40:, 40:].min() == 1 and red[:30].max() == 0
    assert np.array_equal(blue + green + red, np.ones((sh, sw), np.float32))
    style_blue, style_green, style_red = job["style_masks"]
    assert style_blue.shape == (h, w) and style_blue[: h // 2 - 1].min() == 1
    assert style_blue[h // 2 + 1 :].max() == 0 and style_green[h // 2 + 1 :].min() == 1
    assert style_red.min() == 1  # the whole reference, never black
    # the command line's function on the same label images, at the pictures' sizes
    small = [
        np.asarray(Image.fromarray(labels).resize((x, y), Image.Resampling.NEAREST))
        for labels, (y, x) in ((photo_labels(), (sh, sw)), (reference_labels(), (h, w)))
    ]
    expected = segmentation.regions(small[0], small[1], job["styles"][0])
    assert all(np.array_equal(a, b) for a, b in zip(job["masks"], expected.masks))
    assert all(np.array_equal(a, b) for a, b in zip(job["style_masks"], expected.style_masks))


def flat_png(mode: str, size=(200, 200), value=(0, 0, 255)) -> bytes:
    return encoded(Image.new(mode, size, value))


def sixteen_bit_rgb() -> bytes:
    """A 16-bit RGB PNG (Pillow writes none): OpenCV's, from a flat blue picture."""
    import cv2

    ok, data = cv2.imencode(".png", np.full((200, 200, 3), (65535, 0, 0), np.uint16))
    assert ok
    return data.tobytes()


@pytest.mark.parametrize(
    "segs, status, message",
    [
        ((b"not an image", STYLE_SEG), 415, "seg.png: not a readable image ("),
        ((flat_png("RGBA", value=(0, 0, 255, 255)), STYLE_SEG), 415,
         "content_segmentation seg.png has an alpha channel: save it without one"),
        ((flat_png("I;16", value=65535), STYLE_SEG), 415,
         "content_segmentation seg.png has 16 bits per value: save it with 8"),
        ((sixteen_bit_rgb(), STYLE_SEG), 415,
         "content_segmentation seg.png has 16 bits per value: save it with 8"),
        ((CONTENT, STYLE_SEG), 415, "content_segmentation seg.png"),  # a photo by mistake
        ((SEG, CONTENT), 415, "style_segmentation style_seg.png"),
        ((flat_png("RGB", (300, 200)), STYLE_SEG), 400,
         "content_segmentation seg.png is 300x200, its photo 48x48: another aspect"),
        ((SEG, SEG), 400, "style_segmentation style_seg.png is 200x200, its photo 48x36"),
    ],
)  # fmt: skip
def test_a_bad_segmentation_is_refused_in_one_line(client, tiny_app, segs, status, message):
    answer = refused(post(client, segs=segs, photo="true", **TINY), status)
    assert answer.startswith(message) and "\n" not in answer, answer
    if "readable" not in message and "16 bits" not in message and "alpha" not in message:
        assert "flat colour" in answer or "aspect" in answer, answer
    assert str(tiny_app.state.server.workdir) not in answer
    assert list(tiny_app.state.server.workdir.iterdir()) == []
    assert tiny_app.state.server.worker.waiting == type(tiny_app.state.server.worker.waiting)()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"segs": (SEG, None)}, "content_segmentation and style_segmentation go together"),
        ({"segs": (None, STYLE_SEG)}, "content_segmentation and style_segmentation go together"),
        ({"masks": (flat_png("L", value=255),)}, "content_segmentation: not with masks"),
        ({"styles": (STYLE, STYLE)}, "content_segmentation: give one style image"),
        ({"style_blend_weights": 1}, "content_segmentation: not with style_blend_weights"),
    ],
)
def test_segmentations_come_in_pairs_for_one_reference(client, kwargs, message):
    answer = refused(post(client, photo="true", **kwargs, **TINY), 400)
    assert answer.startswith(message) and "\n" not in answer, answer


def test_one_segmentation_of_each(client):
    files = [("content", ("c.jpg", CONTENT, "image/jpeg")), ("style", ("s.jpg", STYLE))]
    files += [("content_segmentation", (n, SEG)) for n in ("a.png", "b.png")]
    files += [("style_segmentation", ("c.png", STYLE_SEG))]
    answer = refused(client.post("/api/jobs", files=files, data={"photo": "true"}), 400)
    assert answer.startswith("content_segmentation and style_segmentation go together")


def test_a_segmentation_must_be_a_file(client):
    files = [("content", ("c.jpg", CONTENT, "image/jpeg")), ("style", ("s.jpg", STYLE))]
    data = {"content_segmentation": "seg.png", "style_segmentation": "ref.png"}
    assert refused(client.post("/api/jobs", files=files, data=data), 400) == (
        "content_segmentation must be a file, not text"
    )
