"""Image grids and PNG files (uint8 NHWC in, uint8 HWC out)."""
import math

import numpy as np
import tensorflow as tf

from zoo import files


def make_grid(images: np.ndarray, columns: int = 0, padding: int = 2) -> np.ndarray:
  """Tiles uint8 images [N, H, W, C] into one uint8 image, `columns` wide (default: square)."""
  images = np.asarray(images)
  if images.ndim != 4 or images.dtype != np.uint8:
    raise ValueError(f"make_grid wants uint8 images [N, H, W, C], got {images.dtype} {images.shape}.")
  n, height, width, channels = images.shape
  columns = columns or math.ceil(math.sqrt(n))
  rows = math.ceil(n / columns)
  grid = np.full((rows * (height + padding) + padding, columns * (width + padding) + padding, channels),
                 255, np.uint8)
  for i, image in enumerate(images):
    top = padding + (i // columns) * (height + padding)
    left = padding + (i % columns) * (width + padding)
    grid[top:top + height, left:left + width] = image
  return grid


def write_png(path: str, image: np.ndarray) -> None:
  """Writes atomically (zoo/files.py): a failed write leaves the previous file at `path` as it was.

  A URL (gs://...) goes through TensorFlow's file system, whose object stores replace objects whole."""
  png = tf.io.encode_png(image)
  if "://" in str(path):
    tf.io.write_file(path, png)
  else:
    files.write_bytes(path, png.numpy())


def read_png(path: str) -> np.ndarray:
  return tf.io.decode_png(tf.io.read_file(path)).numpy()
