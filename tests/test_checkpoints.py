"""zoo.checkpoints: the newest readable checkpoint, on real checkpoints broken as crashes break them."""
import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import checkpoints

STEPS = (10, 20, 30)


def _model_and_checkpoint():
  model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16), keras.layers.Dense(1)])
  optimizer = keras.optimizers.Adam()
  optimizer.build(model.trainable_variables)
  step = tf.Variable(0, dtype=tf.int64)
  return model, tf.train.Checkpoint(model=model, optimizer=optimizer, step=step), step


@pytest.fixture
def folder(tmp_path):
  """checkpoints/ckpt-{10,20,30} written by tf.train.CheckpointManager; each holds a different kernel."""
  model, checkpoint, step = _model_and_checkpoint()
  directory = str(tmp_path / "checkpoints")
  manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=5)
  for number in STEPS:
    step.assign(number)
    model.layers[0].kernel.assign(tf.fill(model.layers[0].kernel.shape, float(number)))
    manager.save(checkpoint_number=number)
  return directory


def _prefix(directory, number):
  return os.path.join(directory, f"ckpt-{number}")


def _data_file(prefix):
  (path,) = glob.glob(prefix + ".data-*")
  return path


def _truncate(path, keep=0.5):
  with open(path, "rb") as f:
    content = f.read()
  with open(path, "wb") as f:
    f.write(content[:int(len(content) * keep)])


def _restored_step(prefix):
  model, checkpoint, step = _model_and_checkpoint()
  checkpoint.restore(prefix).assert_existing_objects_matched()
  np.testing.assert_array_equal(model.layers[0].kernel.numpy(), float(step.numpy()))
  return int(step.numpy())


def test_an_intact_latest_is_used(folder):
  path, skipped = checkpoints.newest_readable(folder)
  assert path == _prefix(folder, 30) and skipped == []
  assert _restored_step(path) == 30


def test_a_folder_given_relative_to_the_working_directory_is_read_without_a_warning(folder, monkeypatch):
  # the `checkpoint` file names "ckpt-30" relative to its folder; a relative --logdir once made that
  # "checkpoints/checkpoints/ckpt-30" and warned that the latest was unreadable before falling back to it
  monkeypatch.chdir(os.path.dirname(folder))
  path, skipped = checkpoints.newest_readable("checkpoints")
  assert (path, skipped) == (_prefix("checkpoints", 30), [])


@pytest.mark.parametrize("keep", [0.5, 0.999, 0.0])
def test_a_truncated_data_file_falls_back_to_the_previous(folder, keep):
  _truncate(_data_file(_prefix(folder, 30)), keep)
  path, skipped = checkpoints.newest_readable(folder)
  assert path == _prefix(folder, 20)
  assert skipped == [(_prefix(folder, 30), "truncated .data file")]
  assert _restored_step(path) == 20
  assert checkpoints.fallback_warning(path, skipped) == \
      "ckpt-30 is unreadable (truncated .data file); resuming from ckpt-20."


def test_a_corrupted_byte_is_caught_by_the_checksum(folder):
  data_file = _data_file(_prefix(folder, 30))
  with open(data_file, "r+b") as f:
    f.seek(os.path.getsize(data_file) // 2)
    byte = f.read(1)
    f.seek(-1, os.SEEK_CUR)
    f.write(bytes([byte[0] ^ 0xFF]))
  path, skipped = checkpoints.newest_readable(folder)
  assert path == _prefix(folder, 20) and skipped[0].reason == "corrupt .data file (checksum mismatch)"


def test_a_missing_data_file_falls_back(folder):
  os.remove(_data_file(_prefix(folder, 30)))
  path, skipped = checkpoints.newest_readable(folder)
  assert path == _prefix(folder, 20) and skipped == [(_prefix(folder, 30), "missing .data file")]


def test_a_missing_index_falls_back(folder):
  os.remove(_prefix(folder, 30) + ".index")
  path, skipped = checkpoints.newest_readable(folder)
  assert path == _prefix(folder, 20) and skipped == [(_prefix(folder, 30), "missing .index file")]


@pytest.mark.parametrize("keep", [0.5, 0.99, 0.0])
def test_a_truncated_index_falls_back(folder, keep):
  _truncate(_prefix(folder, 30) + ".index", keep)
  path, skipped = checkpoints.newest_readable(folder)
  assert path == _prefix(folder, 20)
  assert len(skipped) == 1 and skipped[0].reason.startswith("unreadable .index file, truncated or corrupt")
  assert _restored_step(path) == 20


def test_every_checkpoint_broken_gives_none_with_every_reason(folder):
  _truncate(_data_file(_prefix(folder, 30)))
  os.remove(_prefix(folder, 20) + ".index")
  _truncate(_prefix(folder, 10) + ".index")
  path, skipped = checkpoints.newest_readable(folder)
  assert path is None
  assert [s.path for s in skipped] == [_prefix(folder, n) for n in (30, 20, 10)]
  assert [s.reason.split(",")[0] for s in skipped] == \
      ["truncated .data file", "missing .index file", "unreadable .index file"]
  warning = checkpoints.fallback_warning(path, skipped)
  assert warning.startswith("ckpt-30 is unreadable (truncated .data file), ckpt-20 is unreadable")
  assert warning.endswith("no readable checkpoint is left.")


def test_no_checkpoint_at_all(tmp_path):
  assert checkpoints.newest_readable(str(tmp_path)) == (None, [])
  assert checkpoints.newest_readable(str(tmp_path / "does_not_exist")) == (None, [])


def test_an_index_naming_a_deleted_checkpoint(folder):
  """The `checkpoint` file names ckpt-40, whose files are gone: the newest file that exists is used."""
  with open(os.path.join(folder, "checkpoint")) as f:
    state = f.read().replace('"ckpt-30"', '"ckpt-40"')
  with open(os.path.join(folder, "checkpoint"), "w") as f:
    f.write(state)
  assert tf.train.latest_checkpoint(folder) is None  # so a plain resume would silently start over
  path, skipped = checkpoints.newest_readable(folder)
  assert path == _prefix(folder, 30) and skipped == [(_prefix(folder, 40), "missing .index file")]


def test_the_index_latest_comes_first_then_the_rest_by_number(folder):
  """A checkpoint written after the `checkpoint` file was last updated (a kill between the two) is tried
  only after the one that file names; numbers are compared as numbers (100 after 30, not before)."""
  with open(os.path.join(folder, "checkpoint")) as f:
    state = f.read().replace('model_checkpoint_path: "ckpt-30"', 'model_checkpoint_path: "ckpt-10"')
  with open(os.path.join(folder, "checkpoint"), "w") as f:
    f.write(state)
  for suffix in (".index", ".data-00000-of-00001"):
    os.rename(_prefix(folder, 20) + suffix, _prefix(folder, 100) + suffix)
  _truncate(_prefix(folder, 10) + ".index")
  path, skipped = checkpoints.newest_readable(folder)
  assert [s.path for s in skipped] == [_prefix(folder, 10)]
  assert path == _prefix(folder, 100)


def test_a_garbled_checkpoint_file_is_ignored_and_the_files_are_used(folder):
  with open(os.path.join(folder, "checkpoint"), "w") as f:
    f.write('model_checkpoint_path: "ckpt-3')  # cut short
  os.makedirs(_prefix(folder, 40) + "_temp")  # what a save interrupted before its merge leaves
  path, skipped = checkpoints.newest_readable(folder)
  assert path == _prefix(folder, 30) and skipped == []


def test_remove_interrupted_saves_deletes_only_temp_folders(folder):
  for number in (40, 7):
    temp = _prefix(folder, number) + "_temp"
    os.makedirs(temp)
    with open(os.path.join(temp, "part-00000-of-00001.data-00000-of-00001.tempstate1"), "wb") as f:
      f.write(b"\0" * 1000)
  before = set(os.listdir(folder)) - {"ckpt-40_temp", "ckpt-7_temp"}
  removed = checkpoints.remove_interrupted_saves(folder)
  assert removed == sorted([_prefix(folder, 40) + "_temp", _prefix(folder, 7) + "_temp"])
  assert set(os.listdir(folder)) == before
  assert checkpoints.newest_readable(folder) == (_prefix(folder, 30), [])
  assert checkpoints.remove_interrupted_saves(str(folder) + "/missing") == []


def test_a_full_disk_during_a_checkpoint_save_is_one_line_that_names_what_is_kept(tmp_path, monkeypatch):
  from tests.helpers import smoke_config
  from zoo import training
  config = smoke_config("dense_gan", "default", tmp_path / "run", steps=4, checkpoint_every=2)
  saves = []
  real_save = tf.train.CheckpointManager.save

  def save_then_fill_the_disk(manager, checkpoint_number=None, **kwargs):
    if saves:
      raise tf.errors.ResourceExhaustedError(None, None, f"{manager.directory}/ckpt-4.data: No space left "
                                             "on device\n\t [[{{node SaveV2}}]]")
    saves.append(checkpoint_number)
    return real_save(manager, checkpoint_number=checkpoint_number, **kwargs)
  monkeypatch.setattr(tf.train.CheckpointManager, "save", save_then_fill_the_disk)
  with pytest.raises(OSError) as error:
    training.fit(config, log=lambda *_: None)
  message = str(error.value)
  assert "\n" not in message and "No space left on device" in message
  assert "ckpt-2 is kept" in message and "run the same command to resume" in message
