"""Image folders as datasets (`--dataset=folder --data_dir=PATH`) and the photo-patch tool, on real images:
patches of the photos inside the scikit-image wheel, and real MNIST digits written as PNGs."""
import hashlib
import json
import logging
import os
import shutil
import sys
import types

import numpy as np
import pytest

from tests import photos as photo_helpers
from tests.helpers import run_module
from tests.conftest import DATA_DIR
from zoo import data
from zoo.data import folder, photos

PATCH_SIZE = 32


@pytest.fixture(scope="session")
def patch_dir(tmp_path_factory):
  """40 train + 10 test real photo patches of 32x32, made once by the real tool."""
  out = tmp_path_factory.mktemp("patches") / "photo_patches"
  photo_helpers.build_patches(out, size=PATCH_SIZE, num=40, num_test=10, seed=0)
  return str(out)


@pytest.fixture(scope="session")
def mnist_dir(tmp_path_factory):
  if not os.path.isdir(os.path.join(DATA_DIR, "mnist")):
    pytest.fail(f"Prepared TFDS data not found at {DATA_DIR}: set TFDS_DATA_DIR.")
  return photo_helpers.write_mnist_folder(tmp_path_factory.mktemp("mnist") / "digits", DATA_DIR)


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch):
  """Each test starts with an empty disk cache of its own and nothing decoded in memory."""
  monkeypatch.setenv(folder.CACHE_ENV, str(tmp_path / "cache"))
  folder.clear_memory_cache()
  yield
  folder.clear_memory_cache()


@pytest.fixture
def decode_calls(monkeypatch):
  """Counts the files decoded (the real decoder runs)."""
  calls = []
  real_decode = folder.decode
  monkeypatch.setattr(folder, "decode", lambda path, *args: calls.append(path) or real_decode(path, *args))
  return calls


def images_of(dataset, split, data_dir, image_size=PATCH_SIZE, resize="area"):
  images = data.load_images(dataset, split, data_dir, image_size, resize=resize)
  return np.stack(list(images.as_numpy_iterator()))


def stream_config(data_dir, **overrides):
  """The fields of a TrainConfig that the training stream reads."""
  values = dict(dataset="folder", data_dir=data_dir, train_split="train", image_size=PATCH_SIZE,
                batch_size=8, shuffle_buffer=1000, seed=3, pixel_range="symmetric")
  return types.SimpleNamespace(**{**values, **overrides})


# ---- reading a folder ---------------------------------------------------------------------------


def test_photo_patches_read_as_rgb_images_in_the_stored_order(patch_dir):
  assert data.image_shape("folder", PATCH_SIZE, patch_dir) == (PATCH_SIZE, PATCH_SIZE, 3)
  train = images_of("folder", "train", patch_dir)
  assert train.shape == (40, PATCH_SIZE, PATCH_SIZE, 3) and train.dtype == np.uint8
  # At the patches' own size the crop and resize change nothing: the files' pixels, in scan order.
  paths = folder.scan(patch_dir).splits["train"]
  expected = np.stack([photo_helpers.read_png(os.path.join(patch_dir, path)) for path in paths])
  np.testing.assert_array_equal(train, expected)
  # The stored order mixes the photos (a slice is not all one photo), unlike the file names' order.
  assert len({path.split("/")[1].rsplit("_", 1)[0] for path in paths[:10]}) > 1


def test_train_and_test_are_the_split_folders_from_different_photos(patch_dir):
  assert data.num_examples("folder", "train", patch_dir, PATCH_SIZE) == 40
  assert data.num_examples("folder", "test", patch_dir, PATCH_SIZE) == 10
  split_photos = {split: {path.split("/")[1].rsplit("_", 1)[0] for path in paths}
                  for split, paths in folder.scan(patch_dir).splits.items()}
  assert split_photos == {"train": {"astronaut", "coffee", "rocket", "hubble_deep_field"},
                          "test": {"chelsea"}}


def test_slices_follow_tfds_syntax(patch_dir):
  train = images_of("folder", "train", patch_dir)
  test = images_of("folder", "test", patch_dir)
  np.testing.assert_array_equal(images_of("folder", "train[:10]", patch_dir), train[:10])
  np.testing.assert_array_equal(images_of("folder", "train[:25%]", patch_dir), train[:10])
  np.testing.assert_array_equal(images_of("folder", "train[-5:]", patch_dir), train[-5:])
  np.testing.assert_array_equal(images_of("folder", "train[10%:20%]", patch_dir), train[4:8])
  np.testing.assert_array_equal(images_of("folder", "train[:3]+test[:2]", patch_dir),
                                np.concatenate([train[:3], test[:2]]))
  assert data.num_examples("folder", "test[:50%]", patch_dir, PATCH_SIZE) == 5
  for bad in ("validation", "train[:x]", "train[:41]"):
    with pytest.raises(ValueError, match="Bad split"):
      data.load_images("folder", bad, patch_dir, PATCH_SIZE)


def test_image_size_resizes_and_folder_gray_forces_one_channel(patch_dir):
  small = images_of("folder", "train", patch_dir, image_size=16)
  assert small.shape == (40, 16, 16, 3)
  # A box filter halving the patches: each pixel the rounded mean of a 2x2 block.
  full = images_of("folder", "train", patch_dir).astype(np.float64)
  blocks = full.reshape(40, 16, 2, 16, 2, 3).mean(axis=(2, 4))
  assert np.abs(small - blocks).max() <= 1
  gray = images_of("folder_gray", "train", patch_dir)
  assert data.image_shape("folder_gray", PATCH_SIZE, patch_dir) == (PATCH_SIZE, PATCH_SIZE, 1)
  luminance = full @ np.array([0.299, 0.587, 0.114])
  assert np.abs(gray[..., 0] - luminance).max() <= 1


def test_photos_of_mixed_sizes_are_centre_cropped_and_resized(tmp_path):
  # The whole photos as shipped: 512x512 PNG, 300x451 PNG, 427x640 JPEG.
  for name in ("astronaut.png", "chelsea.png", "rocket.jpg"):
    shutil.copy(photo_helpers.skimage_photo_path(name), tmp_path / name)
  images = images_of("folder", "train", str(tmp_path))
  assert images.shape == (3, PATCH_SIZE, PATCH_SIZE, 3)
  # Chelsea: the central 300x300 square, averaged over ~9x9 pixel blocks.
  chelsea = photo_helpers.read_png(photo_helpers.skimage_photo_path("chelsea.png")).astype(np.float64)
  square = chelsea[:, 75:375]
  expected = np.stack([[square[round(i * 300 / 32):round((i + 1) * 300 / 32),
                               round(j * 300 / 32):round((j + 1) * 300 / 32)].mean(axis=(0, 1))
                        for j in range(32)] for i in range(32)])
  paths = folder.scan(str(tmp_path)).splits["train"]
  got = images[paths.index("chelsea.png")]
  assert np.abs(got - expected).mean() < 2.0


def test_grayscale_pngs_give_one_channel_and_labels_from_class_folders(mnist_dir):
  assert data.image_shape("folder", 28, mnist_dir) == (28, 28, 1)
  assert data.class_names("folder", mnist_dir) == tuple(str(digit) for digit in range(10))
  assert data.num_classes("folder", mnist_dir) == 10
  examples = list(data.load_examples("folder", "train", mnist_dir, 28).as_numpy_iterator())
  assert len(examples) == 60 and examples[0][0].shape == (28, 28, 1)
  # Every image carries the label of the MNIST digit it was written from.
  truth = {image.tobytes(): label for image, label in
           data.load_examples("mnist", "train[:60]", DATA_DIR, download=False).as_numpy_iterator()}
  assert all(truth[image.tobytes()] == label for image, label in examples)
  np.testing.assert_array_equal(np.stack([image for image, _ in examples]), images_of("folder", "train",
                                                                                      mnist_dir, 28))
  # Both splits number the classes alike; folder_rgb forces three equal channels.
  assert len(list(data.load_examples("folder", "test", mnist_dir, 28))) == 20
  rgb = images_of("folder_rgb", "train", mnist_dir, 28)
  assert rgb.shape == (60, 28, 28, 3)
  np.testing.assert_array_equal(rgb[..., :1], images_of("folder", "train", mnist_dir, 28))
  np.testing.assert_array_equal(rgb[..., 1], rgb[..., 2])


def test_unlabelled_folder_has_no_classes(patch_dir):
  assert data.class_names("folder", patch_dir) is None and data.num_classes("folder", patch_dir) is None
  with pytest.raises(data.FolderError, match="no labels"):
    data.load_examples("folder", "train", patch_dir, PATCH_SIZE)


def test_a_folder_without_split_folders_is_all_train(tmp_path, patch_dir):
  photo_helpers.copy_pngs(os.path.join(patch_dir, "train"), tmp_path / "flat", 12)
  assert data.num_examples("folder", "train", str(tmp_path / "flat"), PATCH_SIZE) == 12
  with pytest.raises(ValueError, match="train/ and test/ sub-folders"):
    data.load_images("folder", "test", str(tmp_path / "flat"), PATCH_SIZE)


# ---- order, resume, cache -----------------------------------------------------------------------


def test_order_does_not_depend_on_the_listing_order(patch_dir, tmp_path, monkeypatch):
  first = folder.scan(patch_dir)
  real_listdir = os.listdir
  monkeypatch.setattr(os, "listdir", lambda path: list(reversed(real_listdir(path))))
  assert folder.scan(patch_dir) == first
  reversed_listing = images_of("folder", "train", patch_dir)
  monkeypatch.setattr(os, "listdir", real_listdir)
  # Decoded again from scratch, as by another process with its own cache.
  folder.clear_memory_cache()
  monkeypatch.setenv(folder.CACHE_ENV, str(tmp_path / "other_cache"))
  np.testing.assert_array_equal(images_of("folder", "train", patch_dir), reversed_listing)


def test_training_stream_is_a_function_of_seed_and_step(patch_dir):
  config = stream_config(patch_dir)  # 40 images, 5 batches per epoch
  from_start = list(data.training_batches(config, 0, batches_per_step=2).take(8).as_numpy_iterator())
  resumed = list(data.training_batches(config, 3, batches_per_step=2).take(2).as_numpy_iterator())
  for expected, got in zip(from_start[6:], resumed):  # step 3 starts at batch 6, inside epoch 1
    np.testing.assert_array_equal(expected, got)
  assert from_start[0].shape == (8, PATCH_SIZE, PATCH_SIZE, 3) and from_start[0].min() >= -1
  epoch_0 = np.round((np.concatenate(from_start[:5]) + 1) * 127.5).astype(np.uint8)  # back to pixels
  assert sorted(image.tobytes() for image in epoch_0) == sorted(  # each image once per epoch
      image.tobytes() for image in images_of("folder", "train", patch_dir))
  assert not np.array_equal(from_start[0], from_start[5])  # epoch 1 is shuffled anew
  other_seed = next(iter(data.training_batches(stream_config(patch_dir, seed=4)))).numpy()
  assert not np.array_equal(other_seed, from_start[0])


def test_decoded_once_then_read_from_the_disk_cache(patch_dir, decode_calls):
  first = images_of("folder", "train", patch_dir)
  assert len(decode_calls) == 50  # both splits, once
  data.num_examples("folder", "test", patch_dir, PATCH_SIZE)
  assert len(decode_calls) == 50  # in memory
  folder.clear_memory_cache()  # as a new process would start
  np.testing.assert_array_equal(images_of("folder", "train", patch_dir), first)
  assert len(decode_calls) == 50  # from the .npz on disk
  assert len(os.listdir(folder.cache_dir())) == 1
  images_of("folder", "train", patch_dir, image_size=16)
  assert len(decode_calls) == 100  # other settings, another cache entry


def test_a_changed_file_invalidates_the_cache(patch_dir, tmp_path, decode_calls):
  copy = str(tmp_path / "copy")
  shutil.copytree(patch_dir, copy)
  images_of("folder", "train", copy)
  folder.clear_memory_cache()
  path = os.path.join(copy, folder.scan(copy).splits["train"][0])
  os.utime(path, ns=(0, 0))
  images_of("folder", "train", copy)
  assert len(decode_calls) == 100


def test_pad_centres_folder_images_and_is_cached_apart(mnist_dir, decode_calls):
  area = images_of("folder", "train", mnist_dir, 28)  # 28x28 digits at their own size: unchanged
  assert len(decode_calls) == 80
  padded = images_of("folder", "train", mnist_dir, 32, resize="pad")
  assert padded.shape == (60, 32, 32, 1) and len(decode_calls) == 160  # other settings, decoded anew
  np.testing.assert_array_equal(padded[:, 2:30, 2:30], area)
  padded[:, 2:30, 2:30] = 0
  assert padded.max() == 0
  folder.clear_memory_cache()
  assert data.num_examples("folder", "train", mnist_dir, 32, resize="pad") == 60
  assert len(decode_calls) == 160 and len(os.listdir(folder.cache_dir())) == 2  # one .npz per resize
  config = stream_config(mnist_dir, image_size=32, image_resize="pad")
  batch = next(iter(data.training_batches(config))).numpy()
  assert batch.shape == (8, 32, 32, 1) and np.all(batch[:, :2] == -1)  # black in the model's range


def test_pad_to_less_than_a_folder_image_is_an_error(patch_dir):
  with pytest.raises(data.FolderError, match=r"--image_resize=pad .*the central square of .*\.png is "
                                             r"32x32: use --image_size=32 or more, or --image_resize=area"):
    data.load_images("folder", "train", patch_dir, 16, resize="pad")


# ---- bad folders --------------------------------------------------------------------------------


def test_missing_data_dir_and_image_size_name_the_flag(patch_dir):
  with pytest.raises(data.FolderError, match="--data_dir"):
    data.image_shape("folder", PATCH_SIZE, None)
  with pytest.raises(ValueError, match="--image_size"):
    data.image_shape("folder", 0, patch_dir)


def test_path_that_does_not_exist(tmp_path):
  with pytest.raises(data.FolderError, match="does not exist"):
    data.load_images("folder", "train", str(tmp_path / "nowhere"), PATCH_SIZE)


def test_path_that_is_a_file(tmp_path):
  (tmp_path / "a.png").write_bytes(b"")
  with pytest.raises(data.FolderError, match="is a file, not a folder"):
    data.load_images("folder", "train", str(tmp_path / "a.png"), PATCH_SIZE)


def test_empty_folder(tmp_path):
  (tmp_path / "train").mkdir()
  (tmp_path / "test").mkdir()
  with pytest.raises(data.FolderError, match="is empty"):
    data.load_images("folder", "train", str(tmp_path), PATCH_SIZE)


def test_folder_without_images(tmp_path, patch_dir):
  shutil.copy(os.path.join(patch_dir, "README.md"), tmp_path / "README.md")
  shutil.copy(os.path.join(patch_dir, "patches.csv"), tmp_path / "patches.csv")
  with pytest.raises(data.FolderError, match=r"holds no image files, only 2 other file\(s\) .*\.png"):
    data.load_images("folder", "train", str(tmp_path), PATCH_SIZE)


def test_undecodable_files_are_skipped_counted_and_reported_once(tmp_path, patch_dir, caplog):
  photo_helpers.copy_pngs(os.path.join(patch_dir, "train"), tmp_path, 10)
  rocket = open(photo_helpers.skimage_photo_path("rocket.jpg"), "rb").read()
  (tmp_path / "truncated.jpg").write_bytes(rocket[:len(rocket) // 3])
  shutil.copy(os.path.join(patch_dir, "photos.json"), tmp_path / "not_a_picture.png")
  with caplog.at_level(logging.WARNING, logger=folder.__name__):
    images = images_of("folder", "train", str(tmp_path))
    images_of("folder", "train", str(tmp_path))
  assert images.shape[0] == 10
  [warning] = [record.getMessage() for record in caplog.records]
  assert "skipped 2 of 12 image files that could not be decoded" in warning
  assert "truncated.jpg (OSError" in warning and "not_a_picture.png (UnidentifiedImageError" in warning


def test_decompression_bombs_are_skipped_and_counted(tmp_path, patch_dir, caplog):
  photo_helpers.copy_pngs(os.path.join(patch_dir, "train"), tmp_path, 4)
  photo_helpers.write_decompression_bomb(tmp_path / "bomb.png")
  with caplog.at_level(logging.WARNING, logger=folder.__name__):
    assert images_of("folder", "train", str(tmp_path)).shape[0] == 4
  assert "skipped 1 of 5 image files" in caplog.text and "bomb.png (DecompressionBombError" in caplog.text


def test_a_folder_of_only_undecodable_files_is_an_error(tmp_path, patch_dir):
  shutil.copy(os.path.join(patch_dir, "photos.json"), tmp_path / "a.png")
  shutil.copy(os.path.join(patch_dir, "patches.csv"), tmp_path / "b.jpg")
  with pytest.raises(data.FolderError, match="None of the 2 image files .* could be decoded"):
    data.image_shape("folder", PATCH_SIZE, str(tmp_path))


def test_images_beside_class_folders_are_an_error(tmp_path, mnist_dir):
  shutil.copytree(os.path.join(mnist_dir, "train"), tmp_path / "digits")
  shutil.copy(os.path.join(mnist_dir, "train", "3", os.listdir(os.path.join(mnist_dir, "train", "3"))[0]),
              tmp_path / "digits" / "loose.png")
  with pytest.raises(data.FolderError, match="mixes images in class sub-folders with images outside"):
    data.num_classes("folder", str(tmp_path / "digits"))


def test_images_beside_split_folders_are_an_error(tmp_path, patch_dir):
  shutil.copytree(patch_dir, tmp_path / "copy")
  photo_helpers.copy_pngs(os.path.join(patch_dir, "test"), tmp_path / "copy", 1)
  with pytest.raises(data.FolderError, match="images beside them"):
    data.load_images("folder", "train", str(tmp_path / "copy"), PATCH_SIZE)


def test_batch_larger_than_the_folder(patch_dir):
  with pytest.raises(ValueError, match="larger than the 10 examples"):
    data.training_batches(stream_config(patch_dir, train_split="test", batch_size=16))


# ---- the photo-patch tool -----------------------------------------------------------------------


def _digest(folder_path):
  digest = hashlib.sha256()
  for root, _, files in sorted(os.walk(folder_path)):
    for name in sorted(files):
      digest.update(os.path.relpath(os.path.join(root, name), folder_path).encode())
      digest.update(open(os.path.join(root, name), "rb").read())
  return digest.hexdigest()


def test_the_same_seed_builds_the_same_folder(tmp_path, patch_dir):
  photo_helpers.build_patches(tmp_path / "again", size=PATCH_SIZE, num=40, num_test=10, seed=0)
  assert _digest(tmp_path / "again") == _digest(patch_dir)
  photo_helpers.build_patches(tmp_path / "seed1", size=PATCH_SIZE, num=40, num_test=10, seed=1)
  assert _digest(tmp_path / "seed1") != _digest(patch_dir)


def test_manifest_names_photos_licences_and_counts(patch_dir):
  with open(os.path.join(patch_dir, "photos.json")) as f:
    manifest = json.load(f)
  assert manifest["counts"] == {"train": 40, "test": 10} and manifest["seed"] == 0
  assert {photo["licence"] for photo in manifest["photos"]} <= {"public domain", "CC0"}
  assert all(photo["matches_pinned_pixels"] for photo in manifest["photos"])
  assert sum(photo["patches"] for photo in manifest["photos"] if photo["split"] == "train") == 40
  assert len(os.listdir(os.path.join(patch_dir, "train"))) == 40


def test_tool_refuses_a_non_empty_folder_and_names_the_missing_dependency(tmp_path, patch_dir, monkeypatch):
  with pytest.raises(ValueError, match="not an empty folder"):
    photos.build_patch_folder(patch_dir, size=PATCH_SIZE, num=4)
  monkeypatch.setitem(sys.modules, "skimage.data", None)  # as if scikit-image were not installed
  with pytest.raises(ImportError, match=r"pip install scikit-image"):
    photos.build_patch_folder(str(tmp_path / "new"), size=PATCH_SIZE, num=4)


def test_command_line_tool(tmp_path):
  result = run_module("zoo.photo_patches", f"--out={tmp_path / 'cli'}", "--size=16", "--num=8",
                      "--num_test=2", "--seed=5", check=True)
  assert "wrote 8 train and 2 test patches of 16x16" in result.stdout
  photo_helpers.build_patches(tmp_path / "library", size=16, num=8, num_test=2, seed=5)
  assert _digest(tmp_path / "cli") == _digest(tmp_path / "library")
