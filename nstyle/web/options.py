"""The form's fields, generated from ``Options`` (and the ``Outputs`` fields a picture
needs), and the parsing of submitted text into checked options.

Every ``Options`` field is offered, so a field added to the library appears in the page by
itself; the few shown first are ``MAIN``, and photo to photo's switch and fields have their
own place (``section``). Values are parsed the way the command line parses
its flags and checked by the command line's own checks (``nstyle.config``), so a mistake
gets the command line's message. Two fields name files on the command line; here no
submitted text ever becomes a path: ``weights`` is refused and ``init`` takes ``content``
or ``noise`` only. No framework is imported here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from nstyle import config
from nstyle.config import Options, Outputs, flag
from nstyle.errors import NStyleError
from nstyle.spec import MODELS

# Shown first, in this order; every other field goes under "more".
MAIN = (
    "max_long_edge",
    "num_scales",
    "style_weight",
    "content_weight",
    "tv_weight",
    "optimizer",
    "preserve_colors",
)
# The page's mode switch, and the fields it shows only in that mode (photo to photo).
MODE, PHOTO = "photo", ("matting_weight", "photo_regions", "post_process")
LABELS = {
    "photo": "Photo to photo",
    "matting_weight": "Photorealism weight",
    "photo_regions": "Regions found (without segmentations)",
    "post_process": "Post-process",
    "max_long_edge": "Size (long edge, px)",
    "tv_weight": "Smoothing (TV) weight",
    "preserve_colors": "Keep the photo's colours",
    "optimizer": "Optimiser",
    "style_loss": "Style statistics (gram: original; w2: mean, covariance; mixed: w2 shallow)",
    "num_scales": "Scales (coarse to fine)",
    "remove_noise": "Denoise the result",
    "output_profile": "Colour profile of the download",
    "keep_location": "Keep the photo's location (GPS)",
}
# Of Outputs, what the written picture is: the others are about files and the terminal.
OUTPUT_FIELDS = ("remove_noise", "output_profile", "keep_location")
REFUSED = {"weights": "the web app reads no weights file; choose a model instead"}
WEB_CHOICES = {"init": config.INITS}  # the CLI also takes a file name here
WORDS = {"lr": "LR", "tv": "TV", "eps": "epsilon", "num": ""}  # for the other labels
TRUE, FALSE = ("true", "on", "yes", "1"), ("false", "off", "no", "0", "")


@dataclass(frozen=True)
class Field:
    """One form field: a dataclass field, with its type spelled out."""

    name: str
    kind: str  # "int", "float", "str" or "bool"
    many: bool  # a tuple: several values, separated by spaces or commas
    nullable: bool  # None allowed (an empty value)
    default: Any
    help: str
    choices: tuple | None
    outputs: bool  # a field of Outputs, not Options

    @classmethod
    def of(cls, f: dataclasses.Field, outputs: bool = False) -> Field:
        spelled = str(f.type)
        nullable = spelled.endswith(" | None")
        spelled = spelled.removesuffix(" | None")
        many = spelled.startswith("tuple[")
        kind = spelled[len("tuple[") :].split(",")[0] if many else spelled
        if kind not in ("int", "float", "str", "bool"):
            raise TypeError(f"{f.name}: the web form cannot show a field of type {f.type}")
        choices = WEB_CHOICES.get(f.name, f.metadata.get("choices"))
        text = f.metadata["help"]
        if f.name in WEB_CHOICES:
            text += f" (here: {' or '.join(WEB_CHOICES[f.name])})"
        return cls(f.name, kind, many, nullable, f.default, text, choices, outputs)

    def schema(self, default: Any) -> dict[str, Any]:
        default = list(default) if isinstance(default, tuple) else default
        return {
            "name": self.name,
            "flag": flag(self.name),
            "label": LABELS.get(self.name) or label(self.name),
            "help": self.help,
            "type": self.kind,
            "many": self.many,
            "nullable": self.nullable,
            "default": default,
            "choices": list(self.choices) if self.choices else None,
            "main": self.name in MAIN,
            "section": section(self.name),
        }

    def parse(self, raw: str) -> Any:
        """The value of submitted text, or the command line's message for it."""
        text = raw.strip()
        if self.kind == "bool":
            if text.lower() in TRUE + FALSE:
                return text.lower() in TRUE
            raise NStyleError(f"argument {flag(self.name)}: invalid boolean value: {quoted(raw)}")
        if self.many:
            parts = text.replace(",", " ").split()
            if not parts:
                if self.nullable:
                    return None
                raise NStyleError(f"argument {flag(self.name)}: expected at least one argument")
            return tuple(self._one(part) for part in parts)
        if not text and self.nullable:
            return None
        return self._one(text)

    def _one(self, text: str) -> Any:
        try:
            value = {"int": int, "float": float, "str": str}[self.kind](text)
        except ValueError:
            raise NStyleError(
                f"argument {flag(self.name)}: invalid {self.kind} value: {quoted(text)}"
            ) from None
        if self.choices and value not in self.choices:
            raise NStyleError(
                f"argument {flag(self.name)}: invalid choice: {quoted(text)} "
                f"(choose from {', '.join(map(repr, self.choices))})"
            )
        return value


def section(name: str) -> str:
    """Where the page shows a field: the ``mode`` switch, the ``photo`` mode's fields, the
    ``main`` ones, or ``more``."""
    if name == MODE:
        return "mode"
    return "photo" if name in PHOTO else "main" if name in MAIN else "more"


def quoted(text: str, limit: int = 100) -> str:
    """``repr(text)``, cut short past ``limit`` characters: a message stays a line."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def label(name: str) -> str:
    """``max_num_epochs`` -> "Max epochs", ``lr_sched_step`` -> "LR sched step"."""
    words = [WORDS.get(word, word) for word in name.split("_")]
    text = " ".join(word for word in words if word)
    return text[:1].upper() + text[1:]


FIELDS = {
    **{f.name: Field.of(f) for f in dataclasses.fields(Options) if f.name not in REFUSED},
    **{f.name: Field.of(f, True) for f in dataclasses.fields(Outputs) if f.name in OUTPUT_FIELDS},
}


def schema(defaults: Options = Options()) -> list[dict[str, Any]]:
    """The form, with the server's ``defaults``: the main fields first, in ``MAIN``'s
    order, then the rest as declared."""
    fields = [FIELDS[name] for name in MAIN] + [f for f in FIELDS.values() if f.name not in MAIN]
    return [f.schema(f.default if f.outputs else getattr(defaults, f.name)) for f in fields]


@dataclass(frozen=True)
class Settings:
    """A job's checked settings."""

    options: Options
    remove_noise: float  # the denoising of the written picture, as the CLI's --remove-noise
    fallback: str | None  # the model used when ``options.model``'s weights cannot be had
    profile: str = "srgb"  # the picture's colours: sRGB, or the photo's profile (photo)
    location: bool = False  # the photo's GPS tags go into the picture


def parse(
    items: list[tuple[str, str]], defaults: Options = Options(), fallback: str | None = "vgg16"
) -> Settings:
    """Submitted (name, text) pairs -> checked settings; omitted fields keep the server's
    ``defaults``. A job that names its model gets no ``fallback`` (as ``--model`` on the
    command line). Raises ``NStyleError`` with the command line's message."""
    values: dict[str, Any] = {}
    for name, raw in items:
        if name in REFUSED:
            raise NStyleError(f"{name}: {REFUSED[name]}")
        if name not in FIELDS:
            raise NStyleError(
                f"unknown option {quoted(name, 40)}; the options are nstyle.Options' fields "
                "(GET /api/options lists them)"
            )
        if name in values:
            raise NStyleError(f"option {name!r} given twice")
        values[name] = FIELDS[name].parse(raw)
    outputs = Outputs(**{k: v for k, v in values.items() if FIELDS[k].outputs})
    options = defaults.replace(**{k: v for k, v in values.items() if not FIELDS[k].outputs})
    config.check_options(options, MODELS[options.model])
    config.check_outputs(outputs)
    fallback = None if "model" in values else fallback
    return Settings(
        options, outputs.remove_noise, fallback, outputs.output_profile, outputs.keep_location
    )
