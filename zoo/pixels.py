"""Pixel scaling: the only place that knows how stored uint8 pixels map to a model's float range.

A model declares its range (`ModelSpec.pixel_range`): "unit" is [0, 1] (sigmoid outputs), "symmetric"
is [-1, 1] (tanh outputs). The functions take TensorFlow tensors; the `_np` pair is for code that
works in NumPy (the codec's float64 networks, the classical baselines).
"""
import numpy as np
import tensorflow as tf

RANGES = {"unit": (0.0, 1.0), "symmetric": (-1.0, 1.0)}


def bounds(pixel_range: str):
  """(low, high) of a pixel range."""
  if pixel_range not in RANGES:
    raise ValueError(f"pixel_range={pixel_range!r} is not one of {', '.join(RANGES)}.")
  return RANGES[pixel_range]


def from_unit(images, pixel_range: str):
  """[0, 1] images to the model's range."""
  return images * 2.0 - 1.0 if pixel_range == "symmetric" else images


def to_unit(images, pixel_range: str):
  """The model's range back to [0, 1] (not clipped)."""
  return (images + 1.0) / 2.0 if pixel_range == "symmetric" else images


def to_model_range(images_uint8, pixel_range: str):
  """uint8 images to float32 in the model's range."""
  return from_unit(tf.cast(images_uint8, tf.float32) / 255.0, pixel_range)


def to_uint8(images, pixel_range: str):
  """Model-range float images to uint8 (clipped, rounded), for grids, samples and metrics."""
  unit = to_unit(tf.cast(images, tf.float32), pixel_range)
  return tf.cast(tf.round(tf.clip_by_value(unit, 0.0, 1.0) * 255.0), tf.uint8)


def quantize_unit(images):
  """[0, 1] images rounded to the 256 levels a saved 8-bit picture holds (still float)."""
  return tf.round(images * 255.0) / 255.0


def uint8_to_unit_np(images_uint8, dtype=np.float32):
  return np.asarray(images_uint8, dtype) / 255.0


def unit_to_uint8_np(images):
  return np.round(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)
