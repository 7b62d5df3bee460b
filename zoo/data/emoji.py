"""The emoji dataset: every single-code-point emoji of the Noto Color Emoji font, 64x64 RGB on white.

`python -m zoo.emoji --out=DIR` renders it into an image folder (zoo/data/folder.py's layout):

  DIR/train/<group>/<CODE POINT>.png, DIR/test/<group>/<CODE POINT>.png, DIR/emoji.json (the manifest)

and `--dataset=emoji` reads it from --data_dir, or renders it once into the zoo's cache when --data_dir
holds no rendered set (a TFDS data directory holds none). The class of an emoji is its Unicode emoji
group, from a packaged copy of the Unicode Emoji 15.0 data (emoji_groups.json, derived from
emoji-test.txt: its header says from where). The groups Component (skin tones and hair styles, not emoji
on their own) and Flags (5 single-code-point flags; the country flags are pairs of code points) are left
out, leaving 8 classes.

Rendering: the font's colour bitmap of the code point at its native size (Pillow draws the CBDT glyph at
109 px as a 136x128 bitmap), centred on a white 136x136 square, then resized to 64x64 with Lanczos.
The split is fixed by the code point alone: an emoji is in `test` when the SHA-1 of its hex code point
falls in the first fifth of its range, so adding emoji to the font never moves the others.
"""
import collections
import hashlib
import json
import os
import re
import shutil
from typing import Dict, Iterable, List, NamedTuple, Optional, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from zoo import files
from zoo.data.datasets import DataUnavailableError

FONT_PATH = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
FONT_ENV = "ZOO_EMOJI_FONT"  # another copy of the font, e.g. on a machine without the Debian package
GROUPS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "emoji_groups.json")
MANIFEST = "emoji.json"
IMAGE_SIZE = 64
# CBDT fonts hold bitmaps at one size; Noto Color Emoji's are drawn at 109 px (136x128 pixels).
_FONT_SIZE = 109
_CANVAS = 136
MAX_SIZE = _CANVAS  # a larger --size would only enlarge the font's bitmaps
LEFT_OUT_GROUPS = ("Component", "Flags")
TEST_SHARE = 0.2
# Bump when the rendering changes, so that sets rendered into the cache by older code are not reused.
RENDER_VERSION = 1


class FontMissingError(DataUnavailableError):
  """The Noto Color Emoji font is not installed."""


class Emoji(NamedTuple):
  code_point: int
  group: str
  name: str

  @property
  def hex(self) -> str:
    return f"{self.code_point:04X}"


# ---- the Unicode data ----------------------------------------------------------------------------


def parse_emoji_test(text: str) -> List[Tuple[str, str, str]]:
  """(hex code point, group, name) of each single-code-point emoji in the text of emoji-test.txt.

  Single code point: a fully-qualified entry (or a component) of one code point, or of one code point
  followed by the emoji presentation selector U+FE0F (whose base is what the font maps).
  """
  rows, group = [], None
  for line in text.splitlines():
    if line.startswith("# group:"):
      group = line.split(":", 1)[1].strip()
    if line.startswith("#") or ";" not in line:
      continue
    code_points, rest = line.split(";", 1)
    status, _, comment = rest.partition("#")
    points = code_points.split()
    single = len(points) == 1 or (len(points) == 2 and points[1] == "FE0F")
    if single and status.strip() in ("fully-qualified", "component"):
      # The comment is "<emoji> E<version> <name>".
      name = re.sub(r"^\S+\s+E\d+\.\d+\s+", "", comment.strip())
      rows.append((points[0], group, name))
  return rows


def write_groups(emoji_test_path: str, source: str, out: str = GROUPS_PATH) -> dict:
  """Writes the packaged group table from a copy of emoji-test.txt; `source` says where it came from."""
  try:
    with open(emoji_test_path, encoding="utf-8") as f:
      text = f.read()
  except UnicodeDecodeError:
    text = ""  # a binary file: refused below as not emoji-test.txt
  version = re.search(r"^# Version: (\S+)", text, re.MULTILINE)
  date = re.search(r"^# Date: ([0-9-]+)", text, re.MULTILINE)
  rows = parse_emoji_test(text)
  if not (version and date and rows):  # the packaged table is kept as it was
    raise ValueError(f"--derive_groups={emoji_test_path} is not Unicode's emoji-test.txt (it needs the "
                     "'# Version:' and '# Date:' header lines and emoji rows); give that file, e.g. "
                     "/usr/share/unicode/emoji/emoji-test.txt from the Debian package unicode-data.")
  version, date = version.group(1), date.group(1)
  table = {
      "source": f"emoji-test.txt of Unicode Emoji {version} ({date}), {source}",
      "source_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
      "licence": "Unicode terms of use (https://www.unicode.org/terms_of_use.html), as its header says",
      "selection": "fully-qualified entries and components of one code point, or of one code point "
                   "followed by U+FE0F (zoo.data.emoji.parse_emoji_test)",
      "command": f"python -m zoo.emoji --derive_groups={emoji_test_path}",
      "emoji": rows,
  }
  # One emoji per line, so that a new Unicode version reads as a short diff.
  head = json.dumps({k: v for k, v in table.items() if k != "emoji"}, indent=2, ensure_ascii=False)[:-2]
  lines = ",\n".join("    " + json.dumps(list(row), ensure_ascii=False) for row in table["emoji"])
  files.write_bytes(out, f"{head},\n  \"emoji\": [\n{lines}\n  ]\n}}\n".encode("utf-8"))
  return table


def read_groups(path: str = GROUPS_PATH) -> dict:
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def emoji_list(groups: Optional[dict] = None) -> List[Emoji]:
  """The emoji of the dataset (groups in LEFT_OUT_GROUPS left out), in code point order."""
  groups = groups or read_groups()
  chosen = [Emoji(int(hex_code, 16), group, name) for hex_code, group, name in groups["emoji"]
            if group not in LEFT_OUT_GROUPS]
  return sorted(chosen)


def class_folder(group: str) -> str:
  """"Smileys & Emotion" -> "smileys_and_emotion": the class sub-folder of a group."""
  return re.sub(r"[^a-z0-9]+", "_", group.lower().replace("&", "and")).strip("_")


def split_of(code_point: int) -> str:
  """'test' for about a fifth of the code points, 'train' for the rest: fixed by the code point alone."""
  digest = hashlib.sha1(f"{code_point:04X}".encode("ascii")).digest()
  return "test" if int.from_bytes(digest[:4], "big") < TEST_SHARE * 2 ** 32 else "train"


# ---- rendering -----------------------------------------------------------------------------------


def font_path() -> str:
  return os.environ.get(FONT_ENV) or FONT_PATH


def load_font(path: Optional[str] = None) -> ImageFont.FreeTypeFont:
  path = path or font_path()
  if not os.path.isfile(path):
    raise FontMissingError(f"The Noto Color Emoji font {path} is not installed: run "
                           "`apt-get install fonts-noto-color-emoji` (or set $ZOO_EMOJI_FONT to a copy of "
                           "NotoColorEmoji.ttf).")
  return ImageFont.truetype(path, _FONT_SIZE)


def has_glyph(font: ImageFont.FreeTypeFont, code_point: int) -> bool:
  """Whether the font draws the code point (a missing glyph has an empty box)."""
  left, top, right, bottom = font.getbbox(chr(code_point))
  return right > left and bottom > top


def render(font: ImageFont.FreeTypeFont, code_point: int, size: int = IMAGE_SIZE) -> np.ndarray:
  """uint8 [size, size, 3]: the emoji's colour bitmap centred on white, resized with Lanczos."""
  left, top, right, bottom = font.getbbox(chr(code_point))
  glyph = Image.new("RGBA", (right - left, bottom - top), (255, 255, 255, 0))
  ImageDraw.Draw(glyph).text((-left, -top), chr(code_point), font=font, embedded_color=True)
  side = max(_CANVAS, *glyph.size)
  canvas = Image.new("RGBA", (side, side), (255, 255, 255, 255))
  canvas.alpha_composite(glyph, ((side - glyph.width) // 2, (side - glyph.height) // 2))
  return np.asarray(canvas.convert("RGB").resize((size, size), Image.Resampling.LANCZOS))


def font_sha256(path: Optional[str] = None) -> str:
  digest = hashlib.sha256()
  with open(path or font_path(), "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def render_folder(out: str, emoji: Optional[Iterable[Emoji]] = None, size: int = IMAGE_SIZE) -> dict:
  """Renders `emoji` (default: all of `emoji_list()`) into the image folder `out`; returns its manifest.

  `out` must not exist or be empty. The folder is written beside it and renamed into place, so it
  appears complete or not at all. Code points the font has no glyph for are listed, not rendered.
  """
  out = os.path.abspath(out)
  if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
    raise ValueError(f"--out={out} exists and is not an empty folder: choose a new one.")
  font = load_font()
  groups = read_groups()
  emoji = emoji_list(groups) if emoji is None else list(emoji)
  partial = f"{out}.partial.{os.getpid()}"
  shutil.rmtree(partial, ignore_errors=True)
  counts: Dict[str, Dict[str, int]] = {"train": collections.Counter(), "test": collections.Counter()}
  missing = []
  for item in emoji:
    if not has_glyph(font, item.code_point):
      missing.append(item.hex)
      continue
    split, group = split_of(item.code_point), class_folder(item.group)
    os.makedirs(os.path.join(partial, split, group), exist_ok=True)
    Image.fromarray(render(font, item.code_point, size)).save(
        os.path.join(partial, split, group, f"{item.hex}.png"), format="PNG")
    counts[split][group] += 1
  manifest = {
      "tool": "python -m zoo.emoji", "render_version": RENDER_VERSION, "size": size,
      "font": os.path.basename(font_path()), "font_sha256": font_sha256(),
      "unicode_data": groups["source"], "left_out_groups": list(LEFT_OUT_GROUPS),
      "split": f"test when the SHA-1 of the hex code point is in the first {TEST_SHARE:.0%} of its range",
      "counts": {split: dict(sorted(by_group.items())) for split, by_group in counts.items()},
      "missing_glyphs": missing,
  }
  with open(os.path.join(partial, MANIFEST), "w") as f:
    json.dump(manifest, f, indent=2)
    f.write("\n")
  os.makedirs(os.path.dirname(out), exist_ok=True)
  if os.path.isdir(out):
    os.rmdir(out)  # empty, checked above
  os.replace(partial, out)
  return manifest


def count_table(manifest: dict) -> str:
  """The per-class counts of a manifest as a plain-text table."""
  counts = manifest["counts"]
  groups = sorted(set(counts["train"]) | set(counts["test"]))
  width = max(len(group) for group in groups + ["total"])
  lines = [f"{'class':<{width}}  {'train':>5}  {'test':>5}"]
  for group in groups + ["total"]:
    train = sum(counts["train"].values()) if group == "total" else counts["train"].get(group, 0)
    test = sum(counts["test"].values()) if group == "total" else counts["test"].get(group, 0)
    lines.append(f"{group:<{width}}  {train:>5}  {test:>5}")
  return "\n".join(lines)


# ---- where --dataset=emoji finds its folder ------------------------------------------------------


def is_rendered(path: Optional[str]) -> bool:
  return bool(path) and os.path.isfile(os.path.join(path, MANIFEST))


def cached_root(cache_base: str) -> str:
  """The cache folder of the set the installed font renders to (one per font file and render version)."""
  return os.path.join(cache_base, "emoji", f"noto-{font_sha256()[:16]}-v{RENDER_VERSION}")


def locate(data_dir: Optional[str], cache_base: str) -> str:
  """The emoji folder of `--dataset=emoji --data_dir=data_dir`: data_dir itself when `zoo.emoji` rendered
  it, else the set rendered (once) into the cache. Raises FontMissingError without the font."""
  if is_rendered(data_dir):
    return os.path.abspath(os.path.expanduser(data_dir))
  load_font()  # the one-line error before anything else
  root = cached_root(cache_base)
  if not is_rendered(root):
    try:
      render_folder(root)
    except (OSError, ValueError):
      if not is_rendered(root):  # another process may have renamed its copy into place first
        raise
  return root
