"""What the readers and writers of run folders do when things go wrong: a full disk keeps the old output,
--num is checked against the machine's memory, a checkpoint that vanishes mid-read is replaced by the
then-newest, a deleted config.json is named, and no tool writes over its own input."""
import errno
import os

import numpy as np
import pytest
import tensorflow as tf

from zoo import config as config_lib
from zoo import files
from zoo import models
from zoo import photo_patches
from zoo import restore
from zoo import runs
from zoo import sample
from zoo import sampling


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  """A dense_gan run folder as zoo.train leaves it, with an (untrained) G in ckpt-1 and ckpt-2."""
  from tests.conftest import DATA_DIR
  logdir = str(tmp_path_factory.mktemp("run"))
  config = config_lib.resolve("dense_gan", logdir, {"data_dir": DATA_DIR})
  config_lib.save(config)
  generator = runs.build_generator(config, models.get_model("dense_gan"))
  # dense_gan samples its EMA generator by default: both names hold the same G here.
  manager = tf.train.CheckpointManager(tf.train.Checkpoint(generator=generator, generator_ema=generator),
                                       runs.checkpoint_dir(logdir), max_to_keep=5)
  for number in (1, 2):
    generator.trainable_weights[0].assign_add(tf.ones_like(generator.trainable_weights[0]))
    manager.save(checkpoint_number=number)
  return logdir


def _disk_full(descriptor):
  raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_while_saving_samples_keeps_the_previous_file(run_dir, tmp_path, monkeypatch):
  out = str(tmp_path / "prev.npz")
  good = sample.write_samples(run_dir, 8, out, log=lambda *_: None)
  before = open(out, "rb").read()
  monkeypatch.setattr(files.os, "fsync", _disk_full)
  with pytest.raises(OSError) as raised:
    sample.write_samples(run_dir, 16, out, seed=1, log=lambda *_: None)
  message = str(raised.value)
  assert "\n" not in message and out in message and "disk is full" in message and "kept unchanged" in message
  assert open(out, "rb").read() == before
  np.testing.assert_array_equal(np.load(out)["images"], good)
  assert os.listdir(tmp_path) == ["prev.npz"]


def test_disk_full_while_writing_a_grid_keeps_the_previous_png(run_dir, tmp_path, monkeypatch):
  out = str(tmp_path / "grid.png")
  sample.write_samples(run_dir, 4, out, log=lambda *_: None)
  before = open(out, "rb").read()
  monkeypatch.setattr(files.os, "fsync", _disk_full)
  with pytest.raises(files.WriteError, match="grid.png was kept unchanged"):
    sample.write_samples(run_dir, 9, out, log=lambda *_: None)
  assert open(out, "rb").read() == before


def test_num_beyond_the_machines_memory_is_refused_before_sampling(run_dir, tmp_path, monkeypatch):
  monkeypatch.setattr(sampling, "available_memory", lambda: 10**9)
  with pytest.raises(ValueError) as raised:
    sample.write_samples(run_dir, 10**9, str(tmp_path / "x.npz"))
  message = str(raised.value)
  # 28x28x1 uint8 per sample: 784 bytes, so 10^9 samples need 784 GB; 10^9 bytes hold 1,275,510.
  assert message == ("--num=1000000000 needs about 784.0 GB of memory (28x28x1 uint8 per sample), more than "
                     "the 1.0 GB available: ask for at most 1275510 samples per file.")
  assert not os.listdir(tmp_path)


def test_memory_check_reads_meminfo_and_a_grid_counts_twice():
  available = sampling.available_memory()
  assert available is None or 0 < available < 2**50
  assert sampling.check_memory(1000, (28, 28, 1), available=10**6) == 784_000
  with pytest.raises(ValueError, match="at most 637 samples"):
    sampling.check_memory(1000, (28, 28, 1), copies=2, available=10**6)
  if available is not None and available < 784 * 10**9:  # this machine's real MemAvailable
    with pytest.raises(ValueError, match="--num=1000000000 needs about 784.0 GB"):
      sampling.check_memory(10**9, (28, 28, 1))


def test_large_requests_print_progress_by_tenths(run_dir):
  lines = []
  progress = sample._Progress(lines.append)
  generator, config = runs.restore_generator(run_dir)
  samples = sampling.generate(generator, config, 20, batch_size=4, progress=progress)
  assert samples.shape == (20, 28, 28, 1)
  assert lines == [f"sampled {n}/20 ({n * 5}%)" for n in (4, 8, 12, 16)]
  np.testing.assert_array_equal(samples[8:12], sampling.generate(generator, config, 12, batch_size=4)[8:])


def test_a_checkpoint_that_vanishes_while_read_gives_way_to_the_then_newest(run_dir, tmp_path, monkeypatch):
  import shutil
  logdir = str(tmp_path / "run")
  shutil.copytree(run_dir, logdir)
  real = runs.checkpoints.newest_readable

  def rotated_right_after_the_pick(directory):
    path, skipped = real(directory)
    if path.endswith("ckpt-2"):  # a trainer deletes it between the pick and the restore
      for name in os.listdir(directory):
        if name.startswith("ckpt-2."):
          os.remove(os.path.join(directory, name))
      monkeypatch.setattr(runs.checkpoints, "newest_readable", real)
    return path, skipped
  monkeypatch.setattr(runs.checkpoints, "newest_readable", rotated_right_after_the_pick)
  lines = []
  generator, _, path, step = runs.restore_generator_and_path(logdir, log=lines.append)
  assert path.endswith("ckpt-1") and step is None  # this checkpoint holds only G
  assert lines == ["warning: ckpt-2 vanished while it was being read (a trainer is rotating checkpoints); "
                   "trying the newest one left."]
  first = os.path.join(runs.checkpoint_dir(run_dir), "ckpt-1")
  expected, _ = runs.restore_generator(run_dir, checkpoint=first)
  for a, b in zip(generator.weights, expected.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_named_checkpoint_that_vanished_is_one_line(run_dir):
  with pytest.raises(FileNotFoundError) as raised:
    runs.restore_generator(run_dir, checkpoint=os.path.join(runs.checkpoint_dir(run_dir), "ckpt-7"))
  assert "\n" not in str(raised.value) and "ckpt-7 vanished while it was being read" in str(raised.value)


def test_a_deleted_config_json_is_named_as_such(run_dir, tmp_path):
  import shutil
  logdir = str(tmp_path / "run")
  shutil.copytree(run_dir, logdir)
  os.remove(os.path.join(logdir, "config.json"))
  with pytest.raises(FileNotFoundError, match=r"config.json is missing, though .* holds checkpoints"):
    runs.load_config(logdir)
  with pytest.raises(FileNotFoundError, match="must be a run folder"):  # an empty folder is no run at all
    runs.load_config(str(tmp_path))


def test_restore_refuses_to_write_over_its_input(tmp_path):
  image = tmp_path / "in.png"
  image.write_bytes(b"not even read")
  for out, degraded in ((str(image), None), (str(tmp_path / "out.png"), str(image)),
                        (str(tmp_path / "out.png"), str(tmp_path / "out.png"))):
    with pytest.raises(ValueError, match="writing it would destroy the input"):
      restore.restore_file("no-such-run", str(image), out, degraded_out=degraded)
  assert image.read_bytes() == b"not even read"


def test_photo_patches_refuses_to_upsample_unless_asked():
  shapes = {"big": (600, 800, 3), "cat": (300, 451, 3)}
  assert photo_patches.check_size(300, shapes, upsample=False) is None
  with pytest.raises(ValueError) as raised:
    photo_patches.check_size(5000, shapes, upsample=False)
  assert str(raised.value) == (
      "--size=5000 is larger than the short side of 2 of the 2 photos (big 800x600, cat 451x300): their "
      "patches would be whole photos enlarged. Use --size=300 or less, or pass --upsample to allow it.")
  assert photo_patches.check_size(400, shapes, upsample=True).startswith(
      "warning: --size=400 is larger than the short side of 1 of the 2 photos (cat 451x300)")
