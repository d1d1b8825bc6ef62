"""Blind side-by-side judgements of two ways of painting the same pairs.

    .venv/bin/python -m bench.blind sheets --work DIR --seed S NAME=PHOTO,PAINTING,FIRST,SECOND ...
    .venv/bin/python -m bench.blind tally --work DIR VOTES.json ...

``sheets`` writes one PNG per pair into DIR/sheets: the photo, the painting, then the two
results as "1" and "2" in an order drawn at random (``--seed``), nothing else; the order
goes to DIR/key.json, which the raters never see. Each rater sees the sheets in a random
order of their own and answers, per sheet, "1" or "2": the better painting of the photo.
``tally`` reads the raters' answers (a JSON object {sheet name: "1" or "2"} per rater) and
prints the votes for FIRST and SECOND per pair and in all.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

HEIGHT = 360  # px of each panel


def sheet(paths: list[Path], labels: list[str]) -> Image.Image:
    """The panels in a row at one height, each labelled under it."""
    panels = []
    for path in paths:
        picture = Image.open(path).convert("RGB")
        width = round(picture.width * HEIGHT / picture.height)
        panels.append(picture.resize((width, HEIGHT), Image.LANCZOS))
    canvas = Image.new("RGB", (sum(p.width + 8 for p in panels), HEIGHT + 30), "white")
    draw, x = ImageDraw.Draw(canvas), 0
    for panel, label in zip(panels, labels):
        canvas.paste(panel, (x, 0))
        draw.text((x + panel.width // 2 - 20, HEIGHT + 8), label, fill="black")
        x += panel.width + 8
    return canvas


def make_sheets(work: Path, seed: int, pairs: dict[str, list[Path]]) -> None:
    rng = random.Random(seed)
    (work / "sheets").mkdir(parents=True, exist_ok=True)
    key = {}
    for name, (photo, painting, first, second) in pairs.items():
        swapped = rng.random() < 0.5
        shown = [second, first] if swapped else [first, second]
        key[name] = "2" if swapped else "1"  # the label FIRST got
        labels = ["photo", "painting", "1", "2"]
        sheet([photo, painting, *shown], labels).save(work / "sheets" / f"{name}.png")
    (work / "key.json").write_text(json.dumps(key, indent=1))


def tally(work: Path, votes: list[Path]) -> dict:
    key = json.loads((work / "key.json").read_text())
    counts = {name: {"first": 0, "second": 0} for name in key}
    for path in votes:
        for name, answer in json.loads(path.read_text()).items():
            if str(answer) not in ("1", "2"):
                raise SystemExit(f"{path}: {name}: the answer must be 1 or 2, got {answer!r}")
            counts[name]["first" if str(answer) == key[name] else "second"] += 1
    total = {k: sum(c[k] for c in counts.values()) for k in ("first", "second")}
    return {"pairs": counts, "total": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("sheets", "tally"))
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("items", nargs="+")
    args = parser.parse_args()
    if args.what == "sheets":
        pairs = {}
        for item in args.items:
            name, paths = item.split("=", 1)
            pairs[name] = [Path(p) for p in paths.split(",")]
        make_sheets(args.work, args.seed, pairs)
    else:
        print(json.dumps(tally(args.work, [Path(p) for p in args.items]), indent=1))


if __name__ == "__main__":
    main()
