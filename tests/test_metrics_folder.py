"""The metrics on image folders (--dataset=folder): the reference is the folder's test split at the run's
size and resize method, and missing FID Inception weights offline are one clear line, at startup."""
import os

import numpy as np
import pytest

from tests import photos as photo_helpers
from tests.conftest import DATA_DIR
from tests.helpers import run_module
from zoo.data import folder, tfds_source
from zoo.metrics import evaluation
from zoo.metrics import features as features_lib
from zoo.metrics import inception as inception_lib


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory):
  """60 train and 20 test MNIST digits as PNGs in class folders."""
  return photo_helpers.write_mnist_folder(tmp_path_factory.mktemp("digits") / "digits", DATA_DIR)


@pytest.fixture(autouse=True)
def caches(tmp_path, monkeypatch):
  """Empty metric and folder caches of this test's own."""
  monkeypatch.setenv(features_lib.CACHE_ENV, str(tmp_path / "metrics"))
  monkeypatch.setenv(folder.CACHE_ENV, str(tmp_path / "folders"))
  folder.clear_memory_cache()
  yield str(tmp_path / "metrics")
  folder.clear_memory_cache()


class PixelFeatures:
  """Stands in for the FID Inception, whose weights cannot be had offline: 4x4-pooled pixels."""

  def __init__(self, weights="default", resize=inception_lib.DEFAULT_RESIZE,
               input_size=inception_lib.INPUT_SIZE):
    self.weights, self.fingerprint, self.weights_sha256, self.resize = "pixels", "pixels", None, resize
    self.input_size = self.input_side = input_size
    self.channels = None

  def extract(self, images, resize="area"):
    count, height, width, channels = images.shape
    blocks = images.astype(np.float64).reshape(count, height // 4, 4, width // 4, 4, channels)
    return blocks.mean(axis=(2, 4)).reshape(count, -1), None


@pytest.fixture
def pixel_inception(monkeypatch):
  monkeypatch.setattr(inception_lib, "InceptionFeatures", PixelFeatures)


@pytest.fixture
def offline(tmp_path, monkeypatch):
  """No internet and no cached copy of the weights, as on this zoo's machines."""
  monkeypatch.setattr(tfds_source, "internet_reachable", lambda *args, **kwargs: False)
  monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
  monkeypatch.delenv(inception_lib.WEIGHTS_ENV, raising=False)


def folder_config(tmp_path, data_dir, **overrides):
  from zoo import config as config_lib
  values = {"dataset": "folder", "data_dir": data_dir, "image_size": 32, "eval_every": 10,
            "eval_samples": 20, **overrides}
  return config_lib.resolve("dense_gan", str(tmp_path / "run"), values)


def test_folder_reference_is_its_test_split_at_the_runs_size(digits_dir, pixel_inception, caches):
  evaluator = evaluation.Evaluator("folder", digits_dir, image_size=32, image_resize="pad", kid_subsets=2)
  assert evaluator.feature_extractor == "inception"
  test = features_lib.load_split_images("folder", "test", digits_dir, image_size=32, resize="pad")
  assert test.shape == (20, 32, 32, 1) and test[:, :2].max() == 0  # padded, black border
  np.testing.assert_array_equal(evaluator.real, PixelFeatures().extract(test)[0])
  assert evaluator.describe()["reference"] == "folder:test (20 images) via pad square->32->299"
  train = features_lib.load_split_images("folder", "train", digits_dir, image_size=32, resize="pad")
  scores = evaluator(train)
  assert np.isfinite(scores["fid"]) and 0 <= scores["recall"] <= 1
  assert [name for name in os.listdir(caches) if name.startswith("folder_test_pad32_")]


def test_folder_evaluator_without_a_size_takes_the_samples(digits_dir, pixel_inception):
  evaluator = evaluation.Evaluator("folder", digits_dir, kid_subsets=2)
  assert evaluator.describe()["reference"] == "folder:test (at the samples' size)"
  train = features_lib.load_split_images("folder", "train", digits_dir, image_size=28)
  evaluator(train)
  assert evaluator.describe()["reference"] == "folder:test (20 images) via area square->28->299"


def test_eval_every_on_a_folder_without_a_test_split_fails_at_startup(tmp_path, digits_dir, pixel_inception):
  flat = tmp_path / "flat"
  photo_helpers.copy_pngs(os.path.join(digits_dir, "train", "3"), flat, 5)
  with pytest.raises(ValueError, match=r"--eval_every: Bad split 'test'.*train/ and test/ sub-folders"):
    evaluation.training_evaluator(folder_config(tmp_path, str(flat)))


def test_offline_inception_is_one_line_naming_the_flag(digits_dir, offline, monkeypatch):
  monkeypatch.setattr(features_lib, "load_split_images", lambda *a, **k: pytest.fail("loaded data first"))
  with pytest.raises(inception_lib.InceptionWeightsUnavailableError) as raised:
    evaluation.Evaluator("folder", digits_dir, image_size=32)
  message = str(raised.value)
  assert "\n" not in message and "--inception_weights=FILE" in message
  assert "'folder' has no domain classifier" in message and inception_lib.WEIGHTS_FILE in message


def test_eval_every_offline_on_a_folder_fails_at_startup(tmp_path, digits_dir, offline, monkeypatch):
  monkeypatch.setattr(features_lib, "load_split_images", lambda *a, **k: pytest.fail("loaded data first"))
  with pytest.raises(inception_lib.InceptionWeightsUnavailableError) as raised:
    evaluation.training_evaluator(folder_config(tmp_path, digits_dir))
  message = str(raised.value)
  assert "\n" not in message and message.startswith("--eval_every on 'folder' scores with the FID Inception")
  assert f"{inception_lib.WEIGHTS_ENV}=FILE" in message and "--inception_weights=FILE" in message


@pytest.mark.slow  # two processes that import TensorFlow: ~30 s
def test_command_lines_report_missing_weights_in_one_line(tmp_path, digits_dir):
  # Offline as on this zoo's machines; online, a dead proxy makes the download fail just as fast.
  env = {"TORCH_HOME": str(tmp_path / "torch"), "https_proxy": "http://127.0.0.1:9",
         "HTTPS_PROXY": "http://127.0.0.1:9", inception_lib.WEIGHTS_ENV: "",
         features_lib.CACHE_ENV: str(tmp_path / "metrics"), folder.CACHE_ENV: str(tmp_path / "folders")}
  npz = tmp_path / "samples.npz"
  np.savez(npz, images=np.zeros((8, 32, 32, 1), np.uint8))
  scored = run_module("zoo.evaluate", f"--npz={npz}", "--dataset=folder", f"--data_dir={digits_dir}",
                      "--image_size=32", env=env)
  assert scored.returncode != 0 and "Traceback" not in scored.stderr
  [line] = [line for line in scored.stderr.splitlines() if line.startswith("error:")]
  assert "--inception_weights=FILE" in line and "no domain classifier" in line
  logdir = tmp_path / "run"
  trained = run_module("zoo.train", "--model=dense_gan", "--dataset=folder", f"--data_dir={digits_dir}",
                       "--image_size=32", "--eval_every=10", "--steps=20", f"--logdir={logdir}", env=env)
  assert trained.returncode != 0 and "Traceback" not in trained.stderr
  [line] = [line for line in trained.stderr.splitlines() if line.startswith("error:")]
  assert "--eval_every on 'folder'" in line and f"{inception_lib.WEIGHTS_ENV}=FILE" in line
  assert not os.path.exists(logdir / "checkpoints")  # it stopped before training
