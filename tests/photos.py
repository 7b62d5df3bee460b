"""Real image folders for the folder-dataset tests: photo patches from the scikit-image wheel, MNIST PNGs."""
import os
import shutil
import struct
import zlib

import numpy as np
import pytest
from PIL import Image


def build_patches(out, **kwargs):
  """The real `zoo.photo_patches` tool; a missing scikit-image fails the test with the install hint."""
  from zoo.data import photos
  try:
    return photos.build_patch_folder(str(out), **kwargs)
  except ImportError as e:
    pytest.fail(f"{e} (scikit-image is a test dependency of the photo tests).")


def skimage_photo_path(file_name):
  """Path of a photo file as the scikit-image wheel installed it."""
  from zoo.data import photos
  try:
    return str(photos._wheel_files()[f"skimage/data/{file_name}"].locate())
  except ImportError as e:
    pytest.fail(str(e))


def write_mnist_folder(out, data_dir, train=60, test=20):
  """Real MNIST digits as 8-bit grayscale PNGs in out/{train,test}/<digit>/<index>.png."""
  from zoo import data
  for split, count in (("train", train), ("test", test)):
    examples = data.load_examples("mnist", f"{split}[:{count}]", data_dir, download=False)
    for index, (image, label) in enumerate(examples.as_numpy_iterator()):
      os.makedirs(os.path.join(out, split, str(label)), exist_ok=True)
      Image.fromarray(image[..., 0], "L").save(os.path.join(out, split, str(label), f"{index:05d}.png"))
  return str(out)


def copy_pngs(source, out, count):
  """The first `count` PNGs of folder `source` (sorted by name) copied into `out`."""
  os.makedirs(out, exist_ok=True)
  names = sorted(name for name in os.listdir(source) if name.endswith(".png"))[:count]
  for name in names:
    shutil.copy(os.path.join(source, name), os.path.join(out, name))
  return names


def write_decompression_bomb(path, side=20000):
  """A valid 1-bit PNG of side x side pixels (400 M at the default) in ~50 kB: Pillow refuses to open it."""
  def chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
  row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
  compressor = zlib.compressobj(9)
  pixels = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
  with open(path, "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))


def read_png(path):
  with Image.open(path) as image:
    array = np.asarray(image)
  return array[..., None] if array.ndim == 2 else array
