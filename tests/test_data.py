"""zoo.data on TFDS datasets: the public API other modules call, and the labels and counts it exposes."""
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
