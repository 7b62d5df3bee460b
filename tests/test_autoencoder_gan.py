"""`autoencoder_gan` (article 002): shapes, parameter counts, the decoder copy, the loss, and both phases."""
import dataclasses
import os
import signal

import keras
import numpy as np
import pytest
import tensorflow as tf

from experiments import figures
from tests.helpers import assert_same_training_state, checkpoint_values
from zoo import config as config_lib
from zoo import data
from zoo import training
from zoo.models import autoencoder_gan
from zoo import pixels

MNIST_SHAPE = (28, 28, 1)
VALIDATION_TAG = "autoencoder/validation_loss"


def resolved(tmp_path, **overrides):
  """autoencoder_gan at these settings; float32 unless asked, so the numbers are the same on any host."""
  return config_lib.resolve("autoencoder_gan", str(tmp_path), {"precision": "float32", **overrides})


def real_images(data_dir, count=64):
  images = data.load_images("mnist", "train[:512]", data_dir).batch(count).take(1).get_single_element()
  return pixels.to_model_range(images, "unit")  # [count, 28, 28, 1] in [0, 1]


def decoder_weights(model):
  return {name: [v.numpy() for v in model.get_layer(name).weights]
          for name in autoencoder_gan.DECODER_LAYER_NAMES}


def test_encoder_takes_28x28_to_7x7_and_the_decoder_brings_it_back():
  images = tf.random.uniform((3,) + MNIST_SHAPE, seed=1)
  code = autoencoder_gan.build_encoder(MNIST_SHAPE)(images)
  assert code.shape == (3, 7, 7, 128)
  reconstructed = autoencoder_gan.build_decoder(MNIST_SHAPE)(code).numpy()
  assert reconstructed.shape == (3,) + MNIST_SHAPE
  assert reconstructed.min() >= 0.0 and reconstructed.max() <= 1.0


def test_generator_reuses_the_decoder_layout_and_d_returns_a_logit(tmp_path):
  config = resolved(tmp_path)
  generator = autoencoder_gan.build_generator(config, MNIST_SHAPE)
  decoder = autoencoder_gan.build_decoder(MNIST_SHAPE)
  for name in autoencoder_gan.DECODER_LAYER_NAMES:
    g_layer, d_layer = generator.get_layer(name), decoder.get_layer(name)
    assert type(g_layer) is type(d_layer)
    assert g_layer.get_config()["filters"] == d_layer.get_config()["filters"]
  discriminator = autoencoder_gan.build_discriminator(config, MNIST_SHAPE)
  assert discriminator(tf.zeros((2,) + MNIST_SHAPE)).shape == (2, 1)
  assert discriminator.layers[-1].activation is keras.activations.linear  # the sigmoid is in the loss


def test_parameter_counts_match_the_articles_layers(tmp_path):
  config = resolved(tmp_path)
  # Hand-counted: Conv/ConvT k*k*in*out + out; the stride-2 fix changes no count.
  encoder = 9 * 1 * 32 + 32 + 9 * 32 * 64 + 64 + 9 * 64 * 128 + 128
  decoder = 9 * 128 * 64 + 64 + 9 * 64 * 32 + 32 + 9 * 32 * 1 + 1
  assert autoencoder_gan.build_autoencoder(config, MNIST_SHAPE).count_params() == encoder + decoder
  assert autoencoder_gan.build_generator(config, MNIST_SHAPE).count_params() == 100 * 6272 + 6272 + decoder
  article = resolved(tmp_path, recipe="article")
  d_params = 9 * 1 * 64 + 64 + 9 * 64 * 128 + 128 + 28 * 28 * 128 + 1  # no stride: Flatten of 28x28x128
  assert autoencoder_gan.build_discriminator(article, MNIST_SHAPE).count_params() == d_params
  # The strided D: 4x4 kernels, no bias before BatchNorm (4 numbers per channel), Flatten of 7x7x128.
  strided = 16 * 1 * 64 + 64 + 16 * 64 * 128 + 4 * 128 + 7 * 7 * 128 + 1
  assert autoencoder_gan.build_discriminator(config, MNIST_SHAPE).count_params() == strided


def _layer_list(model):
  """(class, filters or units, kernel size, strides, activation) of each layer after the input."""
  rows = []
  for layer in model.layers[1:]:
    cfg = layer.get_config()
    rows.append((type(layer).__name__, cfg.get("filters", cfg.get("units")), cfg.get("kernel_size"),
                 cfg.get("strides"), cfg.get("activation")))
  return rows


def test_article_recipe_builds_the_articles_discriminator(tmp_path):
  # ../shared/SPEC.md section 3: Conv(64,3) relu, Conv(128,3) relu, Flatten, Dense(1) (its sigmoid: the loss).
  discriminator = autoencoder_gan.build_discriminator(resolved(tmp_path, recipe="article"), MNIST_SHAPE)
  assert _layer_list(discriminator) == [
      ("Conv2D", 64, (3, 3), (1, 1), "relu"), ("Conv2D", 128, (3, 3), (1, 1), "relu"),
      ("Flatten", None, None, None, None), ("Dense", 1, None, None, "linear")]


def test_default_discriminator_is_strided_with_batchnorm(tmp_path):
  discriminator = autoencoder_gan.build_discriminator(resolved(tmp_path), MNIST_SHAPE)
  assert _layer_list(discriminator) == [
      ("Conv2D", 64, (4, 4), (2, 2), "linear"), ("LeakyReLU", None, None, None, None),
      ("Conv2D", 128, (4, 4), (2, 2), "linear"), ("BatchNormalization", None, None, None, None),
      ("LeakyReLU", None, None, None, None), ("Flatten", None, None, None, None),
      ("Dense", 1, None, None, "linear")]
  assert discriminator(tf.zeros((2,) + MNIST_SHAPE)).shape == (2, 1)


def test_image_sides_must_be_multiples_of_four(tmp_path):
  with pytest.raises(ValueError, match="multiples of 4"):
    autoencoder_gan.build_generator(resolved(tmp_path), (30, 30, 1))


@pytest.mark.parametrize("penalty", ["r1_gamma", "r2_gamma", "gp_weight"])
def test_penalties_on_the_batchnorm_discriminator_are_refused_in_one_line(tmp_path, penalty):
  with pytest.raises(ValueError, match=f"--{penalty} penalise.*--nodiscriminator_batchnorm"):
    autoencoder_gan.check_options(resolved(tmp_path, **{penalty: 1.0}), MNIST_SHAPE)
  for plain in ({"discriminator_batchnorm": False}, {"discriminator": "article"}):
    autoencoder_gan.check_options(resolved(tmp_path, **{penalty: 1.0}, options=plain), MNIST_SHAPE)
  without_norm = resolved(tmp_path, options={"discriminator_batchnorm": False})
  assert not any(type(layer).__name__ == "BatchNormalization"
                 for layer in autoencoder_gan.build_discriminator(without_norm, MNIST_SHAPE).layers)


@pytest.mark.parametrize("option,value", [("pretrain_steps", -1), ("pretrain_learning_rate", 0.0)])
def test_bad_pretraining_options_are_refused(tmp_path, option, value):
  with pytest.raises(ValueError, match=f"--{option} must be"):
    autoencoder_gan.check_options(resolved(tmp_path, options={option: value}), MNIST_SHAPE)


def test_reconstruction_loss_is_per_example_binary_cross_entropy():
  real = tf.concat([tf.ones((1,) + MNIST_SHAPE), tf.zeros((1,) + MNIST_SHAPE)], 0)
  reconstructed = tf.concat([tf.fill((1,) + MNIST_SHAPE, 0.5), tf.fill((1,) + MNIST_SHAPE, 0.9)], 0)
  loss = autoencoder_gan.reconstruction_loss(real, reconstructed).numpy()
  np.testing.assert_allclose(loss, [np.log(2.0), -np.log(0.1)], rtol=1e-5)


@pytest.mark.parametrize("init_from_decoder", [True, False])
def test_pretrained_decoder_weights_land_in_the_generator(tmp_path, init_from_decoder):
  config = resolved(tmp_path, options={"init_from_decoder": init_from_decoder})
  keras.utils.set_random_seed(0)
  autoencoder = autoencoder_gan.build_autoencoder(config, MNIST_SHAPE)
  generator = autoencoder_gan.build_generator(config, MNIST_SHAPE)
  for variable in autoencoder.get_layer("decoder").weights:  # stand-in for training: biases leave zero too
    variable.assign(tf.random.normal(variable.shape, seed=7))
  dense_before = generator.layers[1].get_weights()
  autoencoder_gan.initialize_generator(config, autoencoder, generator)
  source = decoder_weights(autoencoder.get_layer("decoder"))
  target = decoder_weights(generator)
  for name in autoencoder_gan.DECODER_LAYER_NAMES:
    for s, t in zip(source[name], target[name]):
      assert np.array_equal(s, t) == init_from_decoder, name
  for before, after in zip(dense_before, generator.layers[1].get_weights()):
    np.testing.assert_array_equal(before, after)  # the Dense seed layer has no pretrained counterpart


def test_autoencoder_loss_falls_on_a_small_batch(data_dir):
  """Phase 1's learning signal, outside the trainer: 30 Adam steps on one batch of real digits."""
  keras.utils.set_random_seed(0)
  autoencoder = autoencoder_gan.build_autoencoder(None, MNIST_SHAPE)
  optimizer = keras.optimizers.Adam(autoencoder_gan.OPTIONS["pretrain_learning_rate"].default)
  batch = real_images(data_dir)

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(autoencoder_gan.reconstruction_loss(batch, autoencoder(batch, training=True)))
    optimizer.apply_gradients(zip(tape.gradient(loss, autoencoder.trainable_variables),
                                  autoencoder.trainable_variables))
    return loss
  first = float(step())
  for _ in range(29):
    last = float(step())
  assert last < 0.6 * first, (first, last)


# ---- both phases through the shared trainer -------------------------------------------------------

def small_validation(spec):
  """The registered model with a 64-image validation set, so logging every step stays cheap."""
  return dataclasses.replace(spec, pretraining=dataclasses.replace(spec.pretraining, validation_examples=64))


def tiny_run(logdir, data_dir, pretrain_steps=4, steps=4, **overrides):
  values = dict(data_dir=data_dir, train_split="train[:512]", batch_size=16, steps=steps, log_every=1,
                image_every=2, checkpoint_every=100, steps_per_call=1, num_grid_images=4,
                options={"pretrain_steps": pretrain_steps})
  values.update(overrides)
  return config_lib.resolve("autoencoder_gan", str(logdir), values)


def progress_lines(lines):
  """The "<phase> step i/n" part of the trainer's progress lines."""
  return [line.split(" |")[0] for line in lines if line.startswith(("step ", "autoencoder step "))]


def restored_models(config):
  """The generator and autoencoder of a run's latest checkpoint."""
  spec = autoencoder_gan.SPEC
  generator = spec.build_generator(config, MNIST_SHAPE)
  autoencoder = spec.pretraining.build(config, MNIST_SHAPE)
  latest = tf.train.latest_checkpoint(os.path.join(config.logdir, "checkpoints"))
  tf.train.Checkpoint(generator=generator, **{spec.pretraining.name: autoencoder}).restore(
      latest).expect_partial()
  return generator, autoencoder


@pytest.mark.slow
@pytest.mark.parametrize("init_from_decoder", [True, False])
def test_one_run_pretrains_then_starts_g_from_the_decoder(tmp_path, data_dir, init_from_decoder):
  # g_learning_rate=0 freezes G during its one adversarial step, so the checkpoint shows G as initialised
  # (set past the flag check, which refuses it from the command line).
  config = dataclasses.replace(
      tiny_run(tmp_path, data_dir, pretrain_steps=12, steps=1, log_every=4,
               options={"pretrain_steps": 12, "init_from_decoder": init_from_decoder}),
      g_learning_rate=0.0)
  lines = []
  training.fit(config, spec=small_validation(autoencoder_gan.SPEC), log=lines.append)
  assert progress_lines(lines) == [
      "autoencoder step 4/12", "autoencoder step 8/12", "autoencoder step 12/12", "step 1/1"]
  # (the prefix names the scalar alone: autoencoder/reconstructions is an image summary)
  validation = figures.read_scalars(config.logdir, prefix=VALIDATION_TAG)[VALIDATION_TAG][1]
  assert validation[-1] < 0.8 * validation[0], validation  # held-out reconstruction improves
  assert os.path.exists(os.path.join(config.logdir, "samples", "autoencoder_step_00000012.png"))
  generator, autoencoder = restored_models(config)
  source, target = decoder_weights(autoencoder.get_layer("decoder")), decoder_weights(generator)
  for name in autoencoder_gan.DECODER_LAYER_NAMES:
    for s, t in zip(source[name], target[name]):
      assert np.array_equal(s, t) == init_from_decoder, name


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  from tests.conftest import DATA_DIR
  config = tiny_run(tmp_path_factory.mktemp("whole"), DATA_DIR)
  training.fit(config, spec=small_validation(autoencoder_gan.SPEC), log=lambda *_: None)
  return checkpoint_values(config.logdir)


def sigterm_at(line_start, lines):
  """A log function that records lines and sends this process SIGTERM after the one given."""
  def log(line):
    lines.append(line)
    if line.startswith(line_start):
      signal.raise_signal(signal.SIGTERM)
  return log


@pytest.mark.slow
@pytest.mark.parametrize("stop_after", ["autoencoder step 2/4", "autoencoder step 4/4", "step 2/4"])
def test_resume_in_either_phase_or_at_the_boundary_equals_an_uninterrupted_run(
    tmp_path, data_dir, uninterrupted, stop_after):
  config = tiny_run(tmp_path, data_dir)
  spec = small_validation(autoencoder_gan.SPEC)
  first, second = [], []
  with pytest.raises(training.TrainingInterrupted):
    training.fit(config, spec=spec, log=sigterm_at(stop_after, first))
  training.fit(config, spec=spec, log=second.append)
  assert first[-1].startswith(stop_after)
  steps_logged = progress_lines(first + second)
  all_steps = [f"autoencoder step {i}/4" for i in range(1, 5)] + [f"step {i}/4" for i in range(1, 5)]
  assert steps_logged == all_steps  # nothing is redone, nothing skipped
  resumed = checkpoint_values(config.logdir)
  assert resumed.keys() == uninterrupted.keys()
  compared = [name for name in uninterrupted if not name.startswith("save_counter")]  # one more save
  assert_same_training_state({name: resumed[name] for name in compared},
                             {name: uninterrupted[name] for name in compared})
