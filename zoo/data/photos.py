"""Real RGB photos offline: square patches of the public-domain and CC0 photos inside scikit-image.

`build_patch_folder(out)` (CLI: `python -m zoo.photo_patches --out=DIR`) writes an image folder that
`--dataset=folder --data_dir=DIR` reads: DIR/train/ holds patches of some photos, DIR/test/ patches of
*other* photos (held out, for scoring on images from photos never trained on), and DIR/photos.json,
DIR/patches.csv and DIR/README.md say which photos, their licences, the seed and where every patch
came from. The same arguments give a byte-identical folder.

The photos are read with Pillow straight from the files installed by the scikit-image wheel, each
checked against the wheel's own RECORD (so none is a download), never through scikit-image's
fetcher. scikit-image is an optional dependency: `pip install scikit-image` (or the `photos` extra).
"""
import base64
import csv
import dataclasses
import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
from typing import Dict, Optional, Sequence

import numpy as np
from PIL import Image

INSTALL_HINT = "pip install scikit-image (or pip install -e .[photos])"


@dataclasses.dataclass(frozen=True)
class Photo:
  name: str
  file: str  # in skimage/data/ of the installed wheel
  split: str  # train | test
  licence: str  # as the photo's docstring in skimage.data states it
  credit: str
  # sha256 of the decoded RGB pixels as scikit-image 0.26.0 ships them and Pillow 13 decodes them.
  pixels_sha256: str


PHOTOS = (
    Photo("astronaut", "astronaut.png", "train", "public domain",
          "NASA (Great Images database): astronaut Eileen Collins",
          "a8c429c18afa7b0fd5673e598d73a21225d94c864a71bbb3885126fdecb41071"),
    Photo("coffee", "coffee.png", "train", "CC0", "Rachel Michetti, courtesy of Pikolo Espresso Bar",
          "0ce2b51640b9c95f19617f03eabf40c3f0368589cc1ee1190b70966165ac184f"),
    Photo("rocket", "rocket.jpg", "train", "public domain", "SpaceX: launch of DSCOVR on Falcon 9",
          "3d4435cc745752b7f9724df88c6e18817de3ce7e3d2d71c55f85f7831e68f197"),
    Photo("hubble_deep_field", "hubble_deep_field.jpg", "train", "public domain",
          "NASA (HubbleSite): Hubble eXtreme Deep Field",
          "9a3ea9548188f81e63435188456e74de45a981ebeb791e265abe79a26d3b528b"),
    # Held out: test patches come from a photo that no training patch comes from.
    Photo("chelsea", "chelsea.png", "test", "CC0", "Stefan van der Walt: Chelsea the cat",
          "416b729128bfb2c3d1eb69bf9b1734a796293abc17939267b2dc94f8a5784031"),
)
SPLITS = ("train", "test")


def _wheel_files() -> Dict[str, "importlib.metadata.PackagePath"]:
  try:
    import skimage.data  # noqa: F401  (only to fail early with the install hint)
    files = importlib.metadata.files("scikit-image") or []
  except (ImportError, importlib.metadata.PackageNotFoundError) as e:
    raise ImportError(f"The photo patches need scikit-image, which ships the photos: {INSTALL_HINT}.") from e
  return {str(file): file for file in files}


def _urlsafe_sha256(raw: bytes) -> str:
  return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()).rstrip(b"=").decode("ascii")


def read_photo(photo: Photo, wheel_files=None) -> np.ndarray:
  """uint8 RGB pixels [H, W, 3] of a photo, read from the installed wheel and checked against its RECORD."""
  wheel_files = _wheel_files() if wheel_files is None else wheel_files
  record = wheel_files.get(f"skimage/data/{photo.file}")
  if record is None or record.hash is None:
    raise FileNotFoundError(f"skimage/data/{photo.file} is not among the files of the installed scikit-image "
                            f"wheel: reinstall it ({INSTALL_HINT}).")
  path = record.locate()
  with open(path, "rb") as f:
    raw = f.read()
  if record.hash.mode != "sha256" or _urlsafe_sha256(raw) != record.hash.value:
    raise ValueError(f"{path} differs from the file the scikit-image wheel installed: reinstall it "
                     f"({INSTALL_HINT}).")
  with Image.open(path) as image:
    return np.asarray(image.convert("RGB"))


def _patches(pixels: np.ndarray, size: int, count: int, rng: np.random.Generator):
  """`count` (top, left, side) squares: side log-uniform from `size` (1:1 pixels) to the whole short side."""
  height, width = pixels.shape[:2]
  short = min(height, width)
  low = min(size, short)
  for _ in range(count):
    side = int(round(np.exp(rng.uniform(np.log(low), np.log(short)))))
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    yield top, left, side


def num_test_patches(num: int, num_test: Optional[int] = None) -> int:
  """The number of test patches: `num_test`, by default a quarter of the train patches (at least one)."""
  return max(1, num // 4) if num_test is None else num_test


def build_patch_folder(out: str, size: int = 64, num: int = 4000, num_test: Optional[int] = None,
                       seed: int = 0, photos: Sequence[Photo] = PHOTOS) -> dict:
  """Writes `num` train and `num_test` (default num // 4) test patches of `size`x`size` into `out`.

  Train patches go round-robin over the train photos, test patches over the test photos; positions and
  scales come from one NumPy generator per (seed, split, photo), so the test patches do not change with
  `num`. Returns the manifest also written to out/photos.json.
  """
  num_test = num_test_patches(num, num_test)
  if size < 8:
    raise ValueError(f"--size must be at least 8 pixels, got {size}.")
  for flag, value in (("--num", num), ("--num_test", num_test)):
    if value < 1:
      raise ValueError(f"{flag} must be positive, got {value}.")
  if not out:
    raise ValueError("--out is empty; give a new folder to create.")
  out = os.path.abspath(out)
  if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
    raise ValueError(f"--out={out} exists and is not an empty folder: choose a new one.")
  wheel_files = _wheel_files()
  counts = {"train": num, "test": num_test}
  by_split = {split: [p for p in photos if p.split == split] for split in SPLITS}
  if not all(by_split.values()):
    raise ValueError("Both splits need at least one photo.")
  partial = out + ".partial"
  shutil.rmtree(partial, ignore_errors=True)
  rows, described = [], []
  for split_index, split in enumerate(SPLITS):
    os.makedirs(os.path.join(partial, split))
    chosen = by_split[split]
    pixels = [read_photo(photo, wheel_files) for photo in chosen]
    per_photo = [len(range(i, counts[split], len(chosen))) for i in range(len(chosen))]
    # One random stream per photo: its k-th square depends on (seed, split, photo, k) only, so a larger
    # --num adds patches without moving the others.
    squares = [list(_patches(array, size, count, np.random.default_rng([seed, split_index, i])))
               for i, (array, count) in enumerate(zip(pixels, per_photo))]
    for index in range(counts[split]):
      which = index % len(chosen)
      top, left, side = squares[which][index // len(chosen)]
      patch = Image.fromarray(pixels[which][top:top + side, left:left + side])
      if side != size:
        patch = patch.resize((size, size), Image.Resampling.LANCZOS)
      name = f"{split}/{chosen[which].name}_{index:05d}.png"
      patch.save(os.path.join(partial, name), format="PNG")
      rows.append([name, chosen[which].name, top, left, side])
    for photo, array, count in zip(chosen, pixels, per_photo):
      digest = hashlib.sha256(array.tobytes()).hexdigest()
      if digest != photo.pixels_sha256:
        print(f"warning: {photo.file} decodes to other pixels than with scikit-image 0.26.0 and Pillow 13; "
              "the patches differ from the ones made there.", file=sys.stderr)
      described.append({**dataclasses.asdict(photo), "pixels_sha256": digest,
                        "matches_pinned_pixels": digest == photo.pixels_sha256,
                        "shape": list(array.shape), "patches": count})
  manifest = {
      "tool": "python -m zoo.photo_patches", "seed": seed, "size": size, "counts": counts,
      "source": f"scikit-image {importlib.metadata.version('scikit-image')}: files in skimage/data/ of the "
                "installed wheel", "sampling": "square side log-uniform between size and the photo's short "
                "side, position uniform; Lanczos resize to size; train round-robin over the train photos",
      "photos": described}
  with open(os.path.join(partial, "photos.json"), "w") as f:
    json.dump(manifest, f, indent=2)
    f.write("\n")
  with open(os.path.join(partial, "patches.csv"), "w", newline="") as f:
    csv.writer(f).writerows([["file", "photo", "top", "left", "side"], *rows])
  with open(os.path.join(partial, "README.md"), "w") as f:
    f.write(_readme(manifest))
  os.replace(partial, out)  # the folder appears complete or not at all
  return manifest


def _readme(manifest) -> str:
  lines = [
      "# Photo patches", "",
      f"{manifest['counts']['train']:,} train and {manifest['counts']['test']:,} test patches of "
      f"{manifest['size']}x{manifest['size']} RGB pixels, cut at random positions and scales (seed "
      f"{manifest['seed']}) from photos that ship inside the scikit-image wheel ({manifest['source']}).",
      "Test patches come only from photos that no train patch comes from.", "",
      f"Made by `{manifest['tool']} --size={manifest['size']} --num={manifest['counts']['train']} "
      f"--num_test={manifest['counts']['test']} --seed={manifest['seed']}`; read it with "
      "`--dataset=folder --data_dir=<this folder>`. `patches.csv` says where each patch was cut.", "",
      "| photo | split | licence | credit | patches |", "| --- | --- | --- | --- | --- |"]
  lines += [f"| {p['name']} | {p['split']} | {p['licence']} | {p['credit']} | {p['patches']:,} |"
            for p in manifest["photos"]]
  return "\n".join(lines) + "\n"
