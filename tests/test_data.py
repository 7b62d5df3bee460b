"""zoo.data on TFDS datasets: the public API other modules call, and the labels and counts it exposes."""
import types

import numpy as np
import pytest
import tensorflow_datasets as tfds

from zoo import data


def test_image_shapes_of_the_tfds_datasets():
  assert data.image_shape("mnist") == (28, 28, 1)
  assert data.image_shape("mnist", 32) == (32, 32, 1)
  assert data.image_shape("celeb_a") == (140, 140, 3)  # the DCGAN face crop
  assert data.source_image_shape("celeb_a") == (218, 178, 3)


def test_dataset_names_include_the_folder_spellings():
  assert {"mnist", "fashion_mnist", "celeb_a", "folder", "folder_rgb", "folder_gray"} <= set(data.DATASETS)
  assert data.is_folder("folder_rgb") and not data.is_folder("mnist")
  with pytest.raises(ValueError, match="Valid names: .*folder"):
    data.image_shape("mnits")
  with pytest.raises(ValueError, match="image folder, not a TFDS dataset"):
    data.builder("folder")


def test_examples_are_the_images_with_their_tfds_labels(data_dir):
  examples = list(data.load_examples("mnist", "test[:50]", data_dir, download=False).as_numpy_iterator())
  images = data.load_images("mnist", "test[:50]", data_dir, download=False).as_numpy_iterator()
  np.testing.assert_array_equal(np.stack([image for image, _ in examples]), np.stack(list(images)))
  stored = tfds.load("mnist", split="test[:50]", data_dir=data_dir, download=False, as_supervised=True)
  assert [int(label) for _, label in examples] == [int(label) for _, label in stored.as_numpy_iterator()]
  resized, label = next(iter(data.load_examples("mnist", "test[:1]", data_dir, 32, download=False)))
  assert resized.shape == (32, 32, 1) and label.dtype.name == "int64"


def test_classes_and_counts(data_dir):
  assert data.num_classes("mnist", data_dir) == 10
  assert data.class_names("fashion_mnist", data_dir)[:2] == ("T-shirt/top", "Trouser")
  assert data.num_classes("celeb_a") is None  # attributes, no class label
  assert data.num_examples("mnist", "train[:10%]", data_dir, download=False) == 6000
  assert data.num_examples("mnist", "test", data_dir, download=False) == 10000
  with pytest.raises(ValueError, match="Bad split"):
    data.num_examples("mnist", "validation", data_dir, download=False)


def _images(data_dir, split, image_size=0, **kwargs):
  return np.stack(list(data.load_images("mnist", split, data_dir, image_size, download=False,
                                        **kwargs).as_numpy_iterator()))


def test_pad_centres_the_digits_on_black_and_area_stays_the_default(data_dir):
  raw = _images(data_dir, "test[:20]")
  padded = _images(data_dir, "test[:20]", 32, resize="pad")
  assert padded.shape == (20, 32, 32, 1) and padded.dtype == np.uint8
  np.testing.assert_array_equal(padded[:, 2:30, 2:30], raw)
  border = padded.copy()
  border[:, 2:30, 2:30] = 0
  assert border.max() == 0  # uint8 0, black, before any scaling
  odd = _images(data_dir, "test[:20]", 31, resize="pad")  # an odd margin: the extra pixel bottom and right
  np.testing.assert_array_equal(odd[:, 1:29, 1:29], raw)
  assert odd[:, 29:].max() == 0 and odd[:, :, 29:].max() == 0
  np.testing.assert_array_equal(_images(data_dir, "test[:20]", 32), _images(data_dir, "test[:20]", 32,
                                                                           resize="area"))
  np.testing.assert_array_equal(_images(data_dir, "test[:20]", 28, resize="pad"), raw)
  examples = data.load_examples("mnist", "test[:20]", data_dir, 32, download=False, resize="pad")
  np.testing.assert_array_equal(np.stack([image for image, _ in examples.as_numpy_iterator()]), padded)


def test_pad_never_shrinks_and_unknown_methods_are_named(data_dir):
  with pytest.raises(ValueError, match=r"--image_resize=pad .*the images of mnist are 28x28: use "
                                       r"--image_size=28 or more, or --image_resize=area"):
    data.load_images("mnist", "train", data_dir, 16, download=False, resize="pad")
  with pytest.raises(ValueError, match="--image_resize='bicubic' is not one of area, pad"):
    data.load_images("mnist", "train", data_dir, 32, download=False, resize="bicubic")


def _stream_config(data_dir, **overrides):
  values = dict(dataset="mnist", data_dir=data_dir, train_split="train[:64]", image_size=32, batch_size=16,
                shuffle_buffer=64, seed=1, pixel_range="symmetric", image_resize="pad")
  return types.SimpleNamespace(**{**values, **overrides})


def _first_batches(config, count=3):
  return list(data.training_batches(config, download=False).take(count).as_numpy_iterator())


def test_training_stream_reads_image_resize_and_keeps_its_order(data_dir):
  padded = _first_batches(_stream_config(data_dir))
  assert padded[0].shape == (16, 32, 32, 1)
  assert np.all(padded[0][:, :2] == -1) and np.all(padded[0][:, :, 30:] == -1)  # black in [-1, 1]
  # The order is a function of (seed, step) alone: the padded batches hold the raw batches' digits.
  raw = _first_batches(_stream_config(data_dir, image_size=0))
  for pad_batch, raw_batch in zip(padded, raw):
    np.testing.assert_array_equal(pad_batch[:, 2:30, 2:30], raw_batch)
  # A config written before the field existed (an old run folder's) trains on area-resized images.
  old = vars(_stream_config(data_dir))
  del old["image_resize"]
  for old_batch, area_batch in zip(_first_batches(types.SimpleNamespace(**old)),
                                   _first_batches(_stream_config(data_dir, image_resize="area"))):
    np.testing.assert_array_equal(old_batch, area_batch)
