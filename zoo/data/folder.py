"""A folder of your own images as a dataset: `--dataset=folder --data_dir=PATH` (docs/data.md).

Layout: PATH/train/ and PATH/test/ (any sub-folder of PATH is a split once PATH has a train/), else
PATH itself is the `train` split. Below a split, images sit directly (unlabelled) or in one sub-folder
per class (labelled: sorted folder names are classes 0..K-1, the same numbers in every split).

Each image is decoded with Pillow (EXIF rotation applied), its central square cropped and resized (or
zero-padded, --image_resize=pad) to the model's size by `pipeline.crop_and_resize`, the same step as for
TFDS data. Files that Pillow cannot decode (corrupt, truncated, decompression bombs) are skipped, and
reported once per process; a square larger than the size under --image_resize=pad is an error.
The result is cached on disk as one .npz, keyed by the file list (paths, sizes, modification times)
and the decoding settings, so later runs and resumes read that file instead of decoding again.

A split's stored order sorts files by the SHA-1 of their path inside the split (as TFDS stores
examples in the order of a hash of their keys): it does not depend on the file system's listing order,
and a slice such as train[:10%] draws from every class, not only the first.
"""
import collections
import concurrent.futures
import dataclasses
import functools
import hashlib
import json
import logging
import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image, ImageOps

from zoo.data import pipeline
from zoo.data.datasets import FolderError

CACHE_ENV = "ZOO_CACHE_DIR"
# Bump when decoding or resizing changes, so that caches written by older code are not reused.
_CACHE_FORMAT = 1
_SPLIT_MARKER = "train"
# Extensions Pillow registers for reading, less those of non-image formats or formats that need
# software Pillow does not ship (HDF5, FITS, GRIB, BUFR, MPEG, PostScript, Windows metafiles).
_NOT_PHOTOS = {".bufr", ".emf", ".eps", ".fit", ".fits", ".grib", ".h5", ".hdf", ".mpeg", ".mpg", ".ps",
               ".wmf"}
IMAGE_EXTENSIONS = frozenset(extension for extension, kind in Image.registered_extensions().items()
                             if kind in Image.OPEN and extension not in _NOT_PHOTOS)
_COMMON = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}  # named in errors
_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_MAX_NAMED = 10  # skipped files named in the warning
_LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Layout:
  """What a folder holds, before any image is decoded."""
  root: str
  splits: Dict[str, Tuple[str, ...]]  # split -> image paths relative to root ('/'-separated), stored order
  labels: Dict[str, Tuple[int, ...]]  # split -> class index per image; empty tuples when unlabelled
  class_names: Tuple[str, ...]  # () when unlabelled


@dataclasses.dataclass(frozen=True)
class FolderData:
  """The decoded folder: every split's images, one split after another."""
  images: np.ndarray  # [N, S, S, C] uint8
  labels: np.ndarray  # [N] int64; -1 when unlabelled
  splits: Dict[str, Tuple[int, int]]  # split -> [start, stop) in `images`
  class_names: Tuple[str, ...]
  skipped: Tuple[Tuple[str, str], ...]  # (path, why) of the files that could not be decoded
  num_files: int  # image files found, skipped ones included


def cache_base() -> str:
  """The zoo's cache folder ($ZOO_CACHE_DIR, else ~/.cache/gan_zoo)."""
  return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "gan_zoo")


def cache_dir() -> str:
  return os.path.join(cache_base(), "image_folders")


# ---- finding the images --------------------------------------------------------------------------


def _visible(names):
  return sorted(name for name in names if not name.startswith("."))


def _walk(top: str) -> Tuple[List[str], List[str]]:
  """(image files, other files) below `top`, as '/'-separated paths relative to it; hidden ones left out."""
  images, others = [], []
  pending = [""]
  while pending:
    relative = pending.pop()
    for name in _visible(os.listdir(os.path.join(top, relative))):
      path = f"{relative}/{name}" if relative else name
      if os.path.isdir(os.path.join(top, path)):
        pending.append(path)
      elif os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
        images.append(path)
      else:
        others.append(path)
  return images, others


def _top_level_images(root):
  return [name for name in _visible(os.listdir(root)) if os.path.isfile(os.path.join(root, name))
          and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS]


def _stored_order(paths):
  return sorted(paths, key=lambda path: (hashlib.sha1(path.encode("utf-8")).hexdigest(), path))


def scan(data_dir: Optional[str]) -> Layout:
  """The splits, files and classes of an image folder, or a FolderError saying what is wrong."""
  if not data_dir:
    raise FolderError("--dataset=folder reads the images in --data_dir: set --data_dir=PATH to your folder.")
  root = os.path.abspath(os.path.expanduser(data_dir))
  if not os.path.exists(root):
    raise FolderError(f"Image folder {root} does not exist: point --data_dir at a folder of images.")
  if not os.path.isdir(root):
    raise FolderError(f"--data_dir={root} is a file, not a folder: point it at a folder of images.")
  if os.path.isdir(os.path.join(root, _SPLIT_MARKER)):
    split_dirs = {name: name for name in _visible(os.listdir(root))
                  if os.path.isdir(os.path.join(root, name))}
    stray = _top_level_images(root)
    if stray:
      raise FolderError(f"Image folder {root} has split folders ({', '.join(split_dirs)}) and {len(stray)} "
                        f"images beside them (e.g. {stray[0]}): move those into a split folder.")
  else:
    split_dirs = {"train": ""}
  found, others = {}, []
  for split, relative in split_dirs.items():
    images, other = _walk(os.path.join(root, relative))
    found[split] = images
    others += other
  total = sum(len(images) for images in found.values())
  if total == 0:
    if not others:
      raise FolderError(f"Image folder {root} is empty: put PNG or JPEG images in it (or in train/ and "
                        "test/ sub-folders of it).")
    extensions = ", ".join(sorted(IMAGE_EXTENSIONS & _COMMON))
    raise FolderError(f"Image folder {root} holds no image files, only {len(others):,} other file(s) (e.g. "
                      f"{others[0]}): add images ending in {extensions} or another extension Pillow reads.")
  classes = {split: [path.split("/")[0] if "/" in path else None for path in images]
             for split, images in found.items()}
  labelled = {name is not None for names in classes.values() for name in names}
  if labelled == {True, False}:
    loose = next(path for images in found.values() for path in images if "/" not in path)
    raise FolderError(f"Image folder {root} mixes images in class sub-folders with images outside any "
                      f"(e.g. {loose}): put every image in a class folder (labelled) or none (unlabelled).")
  class_names = tuple(sorted({name for names in classes.values() for name in names if name is not None}))
  index = {name: i for i, name in enumerate(class_names)}
  splits, labels = {}, {}
  for split, images in found.items():
    ordered = _stored_order(images)
    splits[split] = tuple(os.path.join(split_dirs[split], path).replace(os.sep, "/") for path in ordered)
    labels[split] = tuple(index[path.split("/")[0]] for path in ordered) if class_names else ()
  return Layout(root, splits, labels, class_names)


# ---- decoding -----------------------------------------------------------------------------------


def _is_gray(image: Image.Image) -> bool:
  if image.mode in ("P", "PA"):
    palette = np.asarray(image.getpalette() or [], np.uint8).reshape(-1, 3)
    return bool(np.all(palette == palette[:, :1]))
  return image.mode in _GRAY_MODES


class PadTooSmallError(FolderError):
  """--image_resize=pad was asked to shrink an image: an error for the whole folder, not a skipped file."""


def decode(path: str, image_size: int, channels: Optional[int], resize: str = "area") -> np.ndarray:
  """uint8 [S, S, C] of one image file: central square, resized (or padded) to `image_size`.

  `channels`: 1 (luminance) or 3 (RGB); None keeps a grayscale file at 1 channel and others at 3.
  Raises whatever Pillow raises on a file it cannot decode, and PadTooSmallError.
  """
  with Image.open(path) as opened:
    image = ImageOps.exif_transpose(opened)  # camera JPEGs often store their rotation in EXIF
    gray = channels == 1 or (channels is None and _is_gray(image))
    if image.mode.startswith("I;16"):  # 16-bit grayscale: Pillow's convert("L") would clip, not scale
      image = Image.fromarray(((np.asarray(image, np.uint32) + 128) // 257).astype(np.uint8))
    array = np.asarray(image.convert("L" if gray else "RGB"))
  if gray:
    array = array[..., None]
  side = min(array.shape[:2])
  if resize == "pad" and side > image_size:
    raise PadTooSmallError(str(pipeline.pad_error(f"the central square of {path} is {side}x{side}", side,
                                                  image_size)))
  return _crop_and_resize(image_size, resize)(array).numpy()


@functools.lru_cache(maxsize=None)
def _crop_and_resize(image_size, resize):
  # One traced graph for images of any size: ~20x faster than running the ops eagerly per image.
  return tf.function(
      lambda image: pipeline.crop_and_resize(image, pipeline.LARGEST_SQUARE, image_size, resize),
      input_signature=[tf.TensorSpec([None, None, None], tf.uint8)])


def _try_decode(path, image_size, channels, resize):
  try:
    return decode(path, image_size, channels, resize), None
  except PadTooSmallError:
    raise
  except Exception as e:  # Pillow raises many types on bad files; each file's reason is reported.
    return None, f"{type(e).__name__}: {e}"[:120]


def _decode_all(layout: Layout, image_size: int, channels: Optional[int], resize: str) -> FolderData:
  files = [path for paths in layout.splits.values() for path in paths]
  _LOG.info("Decoding %d images of %s (once: they are cached in %s).", len(files), layout.root, cache_dir())
  with concurrent.futures.ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
    results = list(pool.map(
        lambda path: _try_decode(os.path.join(layout.root, path), image_size, channels, resize), files))
  skipped = tuple((path, why) for path, (_, why) in zip(files, results) if why is not None)
  if len(skipped) == len(files):
    raise FolderError(f"None of the {len(files):,} image files in {layout.root} could be decoded (e.g. "
                      f"{skipped[0][0]}: {skipped[0][1]}): check that they are intact images.")
  decoded = [array for array, _ in results if array is not None]
  if channels is None and any(array.shape[-1] == 3 for array in decoded):
    decoded = [np.repeat(array, 3, axis=-1) if array.shape[-1] == 1 else array for array in decoded]
  images = np.stack(decoded)
  # Split boundaries and labels of the files that decoded, in stored order.
  labels, splits, start = [], {}, 0
  ok = iter(why is None for _, why in results)
  for split, paths in layout.splits.items():
    kept = [i for i in range(len(paths)) if next(ok)]
    labels += [layout.labels[split][i] for i in kept] if layout.class_names else [-1] * len(kept)
    splits[split] = (start, start + len(kept))
    start += len(kept)
  return FolderData(images, np.asarray(labels, np.int64), splits, layout.class_names, skipped, len(files))


# ---- the cache ----------------------------------------------------------------------------------


def cache_key(layout: Layout, image_size: int, channels: Optional[int], resize: str = "area") -> str:
  files = []
  for paths in layout.splits.values():
    for path in paths:
      stat = os.stat(os.path.join(layout.root, path))
      files.append([path, stat.st_size, stat.st_mtime_ns])
  settings = {"format": _CACHE_FORMAT, "image_size": image_size, "channels": channels,
              "classes": layout.class_names, "files": files}
  if resize != "area":  # area keys stay as they were, so caches written before --image_resize stay valid
    settings["resize"] = resize
  return hashlib.sha256(json.dumps(settings).encode("utf-8")).hexdigest()


def _cache_path(layout: Layout, key: str) -> str:
  name = "".join(c if c.isalnum() or c in "-_" else "_" for c in os.path.basename(layout.root))[:40]
  return os.path.join(cache_dir(), f"{name}-{key[:24]}.npz")


def _write_cache(path: str, key: str, data: FolderData) -> None:
  tmp = f"{path}.{os.getpid()}.tmp"
  try:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(tmp, "wb") as f:
      np.savez(f, key=key, images=data.images, labels=data.labels,
               split_names=np.asarray(list(data.splits), str),
               split_bounds=np.asarray(list(data.splits.values()), np.int64).reshape(-1, 2),
               class_names=np.asarray(data.class_names, str),
               skipped=np.asarray(data.skipped, str).reshape(-1, 2), num_files=data.num_files)
    os.replace(tmp, path)  # atomic: a concurrent reader sees the old state or the whole file
  except OSError as e:
    _LOG.warning("Could not write the image-folder cache %s (%s); the images stay decoded in memory only.",
                 path, e)
    if os.path.exists(tmp):
      os.remove(tmp)


def _read_cache(path: str, key: str) -> Optional[FolderData]:
  if not os.path.exists(path):
    return None
  try:
    with np.load(path, allow_pickle=False) as cached:
      if str(cached["key"]) != key:
        return None
      return FolderData(
          cached["images"], cached["labels"],
          {str(name): (int(start), int(stop))
           for name, (start, stop) in zip(cached["split_names"], cached["split_bounds"])},
          tuple(str(name) for name in cached["class_names"]),
          tuple((str(path), str(why)) for path, why in cached["skipped"]), int(cached["num_files"]))
  except (OSError, ValueError, KeyError) as e:  # a damaged cache is rebuilt, never trusted
    _LOG.warning("Ignoring the unreadable image-folder cache %s (%s).", path, e)
    return None


_LOADED: "collections.OrderedDict[str, FolderData]" = collections.OrderedDict()
_MAX_LOADED = 4
_REPORTED = set()


def clear_memory_cache() -> None:
  """Forgets the folders decoded in this process (the disk cache stays)."""
  _LOADED.clear()
  _REPORTED.clear()


def load(data_dir: Optional[str], image_size: int, channels: Optional[int] = None,
         resize: str = "area") -> FolderData:
  """Every split of the folder, decoded at `image_size` (resized or padded, see `pipeline.crop_and_resize`):
  from memory, else the disk cache, else decoded."""
  pipeline.check_resize(resize)
  layout = scan(data_dir)
  key = cache_key(layout, image_size, channels, resize)
  data = _LOADED.get(key)
  if data is None:
    path = _cache_path(layout, key)
    data = _read_cache(path, key)
    if data is None:
      data = _decode_all(layout, image_size, channels, resize)
      _write_cache(path, key, data)
    _LOADED[key] = data
    while len(_LOADED) > _MAX_LOADED:
      _LOADED.popitem(last=False)
  _report_skipped(layout.root, key, data)
  return data


def _report_skipped(root, key, data: FolderData):
  if not data.skipped or key in _REPORTED:
    return
  _REPORTED.add(key)
  named = ", ".join(f"{path} ({why})" for path, why in data.skipped[:_MAX_NAMED])
  more = f" and {len(data.skipped) - _MAX_NAMED:,} more" if len(data.skipped) > _MAX_NAMED else ""
  _LOG.warning("Image folder %s: skipped %s of %s image files that could not be decoded: %s%s.", root,
               f"{len(data.skipped):,}", f"{data.num_files:,}", named, more)


# ---- splits -------------------------------------------------------------------------------------


def split_indices(data: FolderData, split: str, root: str = "") -> np.ndarray:
  """Positions in `data.images` of a split spec in TFDS syntax: "train", "train[:100]", "test[:10%]", ..."""
  infos = {name: tfds.core.SplitInfo(name=name, shard_lengths=[stop - start], num_bytes=0)
           for name, (start, stop) in data.splits.items()}
  try:
    instructions = tfds.core.ReadInstruction.from_spec(split).to_absolute(infos)
  except ValueError as e:
    hint = ""
    if split.split("[")[0] not in data.splits and list(data.splits) == ["train"]:
      hint = " (for a test split, put the images in train/ and test/ sub-folders)"
    raise ValueError(f"Bad split {split!r} for image folder {root}: {e}{hint}") from e
  parts = []
  for instruction in instructions:
    start, stop = data.splits[instruction.splitname]
    first = start + (instruction.from_ or 0)
    last = stop if instruction.to is None else start + instruction.to
    parts.append(np.arange(first, last))
  return np.concatenate(parts) if parts else np.zeros([0], np.int64)
