"""The command-line entry points: training end to end, sampling, export, and clear errors."""
import json
import os

import numpy as np
import pytest

from tests.helpers import QUICK_FLAGS, run_module


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
  logdir = str(tmp_path_factory.mktemp("run"))
  flagfile = os.path.join(logdir, "run.flags")  # flags from a file, as users keep experiments
  with open(flagfile, "w") as f:
    f.write("\n".join(QUICK_FLAGS))
  result = run_module("zoo.train", f"--flagfile={flagfile}", f"--logdir={logdir}", "--steps=10",
                      check=True)
  assert "step 10/10" in result.stdout
  return logdir


def test_train_writes_config_checkpoints_summaries_and_grids(trained_run):
  with open(os.path.join(trained_run, "config.json")) as f:
    config = json.load(f)
  assert config["model"] == "dense_gan" and config["steps"] == 10 and config["batch_size"] == 32
  assert config["latent_dim"] == 100  # the model default, not given on the command line
  assert os.path.exists(os.path.join(trained_run, "checkpoints", "ckpt-10.index"))
  assert sorted(os.listdir(os.path.join(trained_run, "samples"))) == ["step_00000005.png",
                                                                      "step_00000010.png"]
  assert any(name.startswith("events.out.tfevents") for name in os.listdir(trained_run))


def test_tensorboard_has_losses_and_images(trained_run):
  import tensorflow as tf
  tags = set()
  for name in os.listdir(trained_run):
    if name.startswith("events.out"):
      for event in tf.compat.v1.train.summary_iterator(os.path.join(trained_run, name)):
        tags.update(value.tag for value in event.summary.value)
  assert {"train/d_loss", "train/g_loss", "train/d_real", "train/d_fake",
          "train/images_per_second", "samples/fixed_noise"} <= tags


@pytest.mark.slow
def test_rerun_of_a_finished_run_does_nothing(trained_run):
  result = run_module("zoo.train", *QUICK_FLAGS, f"--logdir={trained_run}", "--steps=10", check=True)
  assert "nothing to do" in result.stdout


@pytest.mark.slow
def test_sample_writes_uint8_nhwc_and_is_reproducible(trained_run, tmp_path):
  for name in ("a.npz", "b.npz"):
    run_module("zoo.sample", f"--logdir={trained_run}", "--num=50", f"--out={tmp_path / name}",
               check=True)
  a, b = (np.load(tmp_path / name)["images"] for name in ("a.npz", "b.npz"))
  assert a.shape == (50, 28, 28, 1) and a.dtype == np.uint8
  np.testing.assert_array_equal(a, b)
  assert a.std() > 0


@pytest.mark.slow
def test_sample_writes_png_grid(trained_run, tmp_path):
  from zoo import images
  run_module("zoo.sample", f"--logdir={trained_run}", "--num=16", f"--out={tmp_path / 'g.png'}",
             check=True)
  grid = images.read_png(str(tmp_path / "g.png"))
  assert grid.shape == (4 * 30 + 2, 4 * 30 + 2, 1)


@pytest.mark.parametrize("flag, message", [
    ("--model=nope", "Unknown model 'nope'. Valid names: .*dense_gan"),
    # each starts zoo.train: the rest in the slow tier
    pytest.param("--dataset=imagenet_nope", "Unknown dataset 'imagenet_nope'", marks=pytest.mark.slow),
    pytest.param("--steps=0", "--steps must be positive", marks=pytest.mark.slow),
    pytest.param("--batch_size=100000", "larger than the 512 examples", marks=pytest.mark.slow),
    pytest.param("--train_split=nosuchsplit", "split", marks=pytest.mark.slow),
])
def test_bad_flags_give_one_clear_line(flag, message, tmp_path):
  import re
  result = run_module("zoo.train", *QUICK_FLAGS, f"--logdir={tmp_path}", "--steps=5", flag)
  assert result.returncode != 0
  assert re.search(message, result.stderr), result.stderr[-2000:]
  assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_missing_data_names_the_data_dir_flag(tmp_path):
  result = run_module("zoo.train", "--model=dense_gan", f"--data_dir={tmp_path / 'empty'}",
                      "--download=false", f"--logdir={tmp_path / 'run'}", "--steps=5")
  assert result.returncode != 0
  assert "--data_dir" in result.stderr and "TFDS_DATA_DIR" in result.stderr
  assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_resuming_with_other_settings_is_refused(trained_run):
  result = run_module("zoo.train", *QUICK_FLAGS[:-3], "--batch_size=16", f"--logdir={trained_run}",
                      "--steps=20")
  assert result.returncode != 0 and "batch_size: 32 -> 16" in result.stderr


@pytest.mark.slow
def test_sample_from_a_folder_that_is_not_a_run(tmp_path):
  result = run_module("zoo.sample", f"--logdir={tmp_path}", f"--out={tmp_path / 'x.npz'}")
  assert result.returncode != 0 and "config.json" in result.stderr and "Traceback" not in result.stderr
