"""A job's form split into its files and its text fields, and the files' counts checked
(one photo, the paintings, a mask per painting or none, photo to photo's two label images
or none), before anything is decoded."""

from __future__ import annotations

from starlette.datastructures import FormData, UploadFile

from nstyle.web.guard import MAX_STYLES, sanitized
from nstyle.web.refusals import Refused

Uploads = dict[str, list[UploadFile]]  # "content", "style", "mask" and the segmentations
SEGMENTATIONS = ("content_segmentation", "style_segmentation")  # photo to photo's label images


def split_form(form: FormData) -> tuple[Uploads, list[tuple[str, str]]]:
    """The form's files (one content, at most ``MAX_STYLES`` styles, and no masks or one per
    style, or two segmentations: ``check_segmentations``) and its text fields; a file where
    text belongs, or text where a file does, is refused."""
    uploads: Uploads = {"content": [], "style": [], "mask": [], **{n: [] for n in SEGMENTATIONS}}
    values = []
    for name, value in form.multi_items():
        if name in uploads:
            if not isinstance(value, UploadFile):
                raise Refused(400, f"{name} must be a file, not text")
            uploads[name].append(value)
        elif isinstance(value, UploadFile):
            raise Refused(400, f"{sanitized(name, 40)!r} is not a file field")
        else:
            values.append((name, value))
    if len(uploads["content"]) != 1:
        raise Refused(400, "give one photo as the file field 'content'")
    if len(uploads["style"]) > MAX_STYLES:
        raise Refused(400, f"at most {MAX_STYLES} style images")
    masks, styles = len(uploads["mask"]), len(uploads["style"])
    if masks and masks != styles:
        raise Refused(
            400,
            f"{masks} mask(s) for {styles} style image(s); give one file field 'mask' per "
            "'style', in the same order, or none",
        )
    check_segmentations(uploads)
    return uploads, values


def check_segmentations(uploads: Uploads) -> None:
    """Both segmentations or neither, each once, for one reference and no masks (as the
    command line's --content-segmentation and --style-segmentation)."""
    given = [len(uploads[name]) for name in SEGMENTATIONS]
    if given == [0, 0]:
        return
    if given != [1, 1]:
        raise Refused(
            400,
            "content_segmentation and style_segmentation go together: give one file of each "
            "(the photo's labels and the reference's, the same colours), or neither",
        )
    if uploads["mask"]:
        raise Refused(400, "content_segmentation: not with masks (each label is a region)")
    if len(uploads["style"]) != 1:
        raise Refused(400, "content_segmentation: give one style image (the reference photo)")
