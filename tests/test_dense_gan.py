"""`dense_gan` (article 001): the defaults' departures, the article's exact layers one flag away, and no
class-conditional variant."""
import os
import re

import keras
import numpy as np
import pytest

from tests.conftest import DATA_DIR, REPO
from tests.helpers import run_module
from zoo import config as config_lib
from zoo.models import dense_gan

IMAGE_SHAPE = (28, 28, 1)


def resolved(tmp_path, **overrides):
  """dense_gan at these settings; float32 unless asked, so the numbers compared are the same on any host."""
  return config_lib.resolve("dense_gan", str(tmp_path), {"precision": "float32", **overrides})


def _dense_layers(model):
  """(units, activation) of each Dense layer; a linear Dense takes the activation layer after it (past a
  BatchNorm or a Reshape), so the article's Dense(128, relu) and the zoo's Dense -> ReLU read alike."""
  rows, layers = [], model.layers
  for i, layer in enumerate(layers):
    if not isinstance(layer, keras.layers.Dense):
      continue
    following = [later for later in layers[i + 1:]
                 if not isinstance(later, (keras.layers.BatchNormalization, keras.layers.Reshape))]
    after = following[0] if following else None
    if layer.get_config()["activation"] != "linear":
      activation = layer.get_config()["activation"]
    elif isinstance(after, keras.layers.Activation):
      activation = after.get_config()["activation"]
    elif isinstance(after, keras.layers.LeakyReLU):
      activation = "leaky_relu"
    elif isinstance(after, keras.layers.ReLU):
      activation = "relu"
    else:
      activation = None
    rows.append((layer.units, activation))
  return rows


def _count(model, kind):
  return sum(isinstance(layer, kind) for layer in model.layers)


def test_article_recipe_builds_the_articles_layer_list(tmp_path):
  # ../shared/SPEC.md section 1: G z(100) -> 128 relu -> 128 relu -> 1024 relu -> 784 sigmoid;
  # D 784 -> 128 relu -> 128 relu -> 1 (its sigmoid is in the loss)
  config = resolved(tmp_path, recipe="article")
  generator = dense_gan.build_generator(config, IMAGE_SHAPE)
  discriminator = dense_gan.build_discriminator(config, IMAGE_SHAPE)
  assert _dense_layers(generator) == [(128, "relu"), (128, "relu"), (1024, "relu"), (784, "sigmoid")]
  assert _dense_layers(discriminator) == [(128, "relu"), (128, "relu"), (1, None)]
  assert _count(generator, keras.layers.BatchNormalization) == 0
  assert _count(discriminator, keras.layers.Dropout) == 0
  assert config.ema_decay == 0.0 and config.g_learning_rate == config.d_learning_rate == 1e-4


def test_the_defaults_are_the_measured_recipe(tmp_path):
  # docs/dense_gan.md: wider G with BatchNorm, a wider leaky D with dropout, Adam 2e-4, G's moving average
  config = resolved(tmp_path)
  generator = dense_gan.build_generator(config, IMAGE_SHAPE)
  discriminator = dense_gan.build_discriminator(config, IMAGE_SHAPE)
  assert _dense_layers(generator) == [(256, "relu"), (512, "relu"), (1024, "relu"), (784, "sigmoid")]
  assert _count(generator, keras.layers.BatchNormalization) == 3
  assert _dense_layers(discriminator) == [(512, "leaky_relu"), (256, "leaky_relu"), (1, None)]
  rates = [layer.rate for layer in discriminator.layers if isinstance(layer, keras.layers.Dropout)]
  assert rates == [0.3, 0.3]
  assert config.ema_decay == 0.999 and config.g_learning_rate == config.d_learning_rate == 2e-4


def test_a_flag_still_overrides_the_article_recipe(tmp_path):
  config = resolved(tmp_path, recipe="article", options={"generator_batch_norm": True})
  generator = dense_gan.build_generator(config, IMAGE_SHAPE)
  assert _count(generator, keras.layers.BatchNormalization) == 3
  assert _dense_layers(generator)[0] == (128, "relu")
  images = generator(np.zeros([2, config.latent_dim], np.float32), training=False).numpy()
  assert images.shape == (2, *IMAGE_SHAPE) and 0.0 <= images.min() and images.max() <= 1.0


def test_conditional_is_refused_in_one_line_before_anything_is_written(tmp_path):
  logdir = tmp_path / "run"
  result = run_module("zoo.train", "--model=dense_gan", "--conditional=projection", f"--data_dir={DATA_DIR}",
                      f"--logdir={logdir}", "--steps=1")
  assert result.returncode != 0
  assert len(result.stderr.strip().splitlines()) == 1, result.stderr
  line = result.stderr.strip()
  assert line.startswith("error: --conditional=projection: dense_gan is not offered class-conditional")
  assert "ignores the noise" in line and "--model=dcgan --conditional=projection" in line
  assert not logdir.exists()
  # The measurement it cites is a heading of the lab journal.
  page, anchor = re.search(r"(docs/lab/\S+\.md)#([\w-]+)", line).groups()
  with open(os.path.join(REPO, page)) as f:
    headings = [re.sub(r"[^\w\- ]", "", heading.strip("# \n").lower()).replace(" ", "-")
                for heading in f if heading.startswith("#")]
  assert anchor in headings


@pytest.mark.parametrize("mode", ["concat", "projection"])
def test_every_conditional_mode_is_refused_and_unconditional_is_accepted(mode, tmp_path):
  with pytest.raises(ValueError, match=f"--conditional={mode}: dense_gan is not offered"):
    dense_gan.check_options(resolved(tmp_path, options={"conditional": mode}), IMAGE_SHAPE)
  dense_gan.check_options(resolved(tmp_path, options={"conditional": "none"}), IMAGE_SHAPE)
