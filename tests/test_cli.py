"""The command-line entry points: training end to end, sampling, export, and clear errors."""
import json
import os
import subprocess
import sys

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


def test_rerun_of_a_finished_run_does_nothing(trained_run):
  result = run_module("zoo.train", *QUICK_FLAGS, f"--logdir={trained_run}", "--steps=10", check=True)
  assert "nothing to do" in result.stdout


def test_sample_writes_uint8_nhwc_and_is_reproducible(trained_run, tmp_path):
  for name in ("a.npz", "b.npz"):
    run_module("zoo.sample", f"--logdir={trained_run}", "--num=50", f"--out={tmp_path / name}",
               check=True)
  a, b = (np.load(tmp_path / name)["images"] for name in ("a.npz", "b.npz"))
  assert a.shape == (50, 28, 28, 1) and a.dtype == np.uint8
  np.testing.assert_array_equal(a, b)
  assert a.std() > 0


def test_sample_writes_png_grid(trained_run, tmp_path):
  from zoo import images
  run_module("zoo.sample", f"--logdir={trained_run}", "--num=16", f"--out={tmp_path / 'g.png'}",
             check=True)
  grid = images.read_png(str(tmp_path / "g.png"))
  assert grid.shape == (4 * 30 + 2, 4 * 30 + 2, 1)


def test_export_loads_without_the_zoo(trained_run, tmp_path):
  out = tmp_path / "exported"
  run_module("zoo.export", f"--logdir={trained_run}", f"--out={out}", check=True)
  # `sys.modules["zoo"] = None` makes any import of the zoo fail inside the child.
  script = f"""
import sys; sys.modules["zoo"] = None
import numpy as np, tensorflow as tf, keras
serve = tf.saved_model.load({str(out / 'saved_model')!r}).signatures["serving_default"]
images = serve(z=tf.random.normal([3, 100]))["images"].numpy()
assert images.shape == (3, 28, 28, 1) and images.dtype == np.uint8, images.shape
generator = keras.saving.load_model({str(out / 'generator.keras')!r})
assert generator(np.zeros((2, 100), np.float32)).shape == (2, 28, 28, 1)
print("ok")
"""
  result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  assert result.stdout.strip().endswith("ok"), result.stderr[-2000:]


@pytest.mark.slow
def test_an_image_to_image_generator_exports_with_an_image_signature(tmp_path):
  logdir = tmp_path / "image_gan"
  flags = [f if not f.startswith("--model=") else "--model=image_gan" for f in QUICK_FLAGS]
  run_module("zoo.train", *flags, f"--logdir={logdir}", "--steps=2", "--task=inpaint", check=True)
  run_module("zoo.export", f"--logdir={logdir}", f"--out={tmp_path / 'exported'}", check=True)
  script = f"""
import sys; sys.modules["zoo"] = None
import numpy as np, tensorflow as tf
serve = tf.saved_model.load({str(tmp_path / 'exported' / 'saved_model')!r}).signatures["serving_default"]
images = serve(inputs=tf.zeros([2, 28, 28, 1], tf.uint8))["images"].numpy()
assert images.shape == (2, 28, 28, 1) and images.dtype == np.uint8, images.shape
print("ok")
"""
  result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  assert result.stdout.strip().endswith("ok"), result.stderr[-2000:]
  sample = run_module("zoo.sample", f"--logdir={logdir}", f"--out={tmp_path / 's.npz'}")
  assert sample.returncode != 0 and "cannot be sampled" in sample.stderr


@pytest.mark.parametrize("flag, message", [
    ("--model=nope", "Unknown model 'nope'. Valid names: .*dense_gan"),
    ("--dataset=imagenet_nope", "Unknown dataset 'imagenet_nope'"),
    ("--steps=0", "--steps must be positive"),
    ("--batch_size=100000", "larger than the 512 examples"),
    ("--train_split=nosuchsplit", "split"),
])
def test_bad_flags_give_one_clear_line(flag, message, tmp_path):
  import re
  result = run_module("zoo.train", *QUICK_FLAGS, f"--logdir={tmp_path}", "--steps=5", flag)
  assert result.returncode != 0
  assert re.search(message, result.stderr), result.stderr[-2000:]
  assert "Traceback" not in result.stderr


def test_missing_data_names_the_data_dir_flag(tmp_path):
  result = run_module("zoo.train", "--model=dense_gan", f"--data_dir={tmp_path / 'empty'}",
                      "--download=false", f"--logdir={tmp_path / 'run'}", "--steps=5")
  assert result.returncode != 0
  assert "--data_dir" in result.stderr and "TFDS_DATA_DIR" in result.stderr
  assert "Traceback" not in result.stderr


def test_resuming_with_other_settings_is_refused(trained_run):
  result = run_module("zoo.train", *QUICK_FLAGS[:-3], "--batch_size=16", f"--logdir={trained_run}",
                      "--steps=20")
  assert result.returncode != 0 and "batch_size: 32 -> 16" in result.stderr


def test_sample_from_a_folder_that_is_not_a_run(tmp_path):
  result = run_module("zoo.sample", f"--logdir={tmp_path}", f"--out={tmp_path / 'x.npz'}")
  assert result.returncode != 0 and "config.json" in result.stderr and "Traceback" not in result.stderr
