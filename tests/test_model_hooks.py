"""The trainer's hooks for models beyond z -> image: conditional batches, extra generator losses,
grid rows, and a pretraining phase with exact resume across the phase boundary."""
import os
import signal

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from tests.helpers import assert_one_and_two_replicas_agree, assert_same_training_state, checkpoint_values
from zoo import config as config_lib
from zoo import data
from zoo import training
from zoo.models.registry import ModelSpec, Option, Pretraining


def _dense_image_model(image_shape, name, activation="sigmoid"):
  images = keras.Input(image_shape)
  x = layers.Dense(32, activation="relu")(layers.Flatten()(images))
  x = layers.Dense(int(np.prod(image_shape)), activation=activation)(x)
  return keras.Model(images, layers.Reshape(image_shape)(x), name=name)


def _noisy_copy(config, real, seed):
  return {"real": real, "noisy": real + 0.3 * tf.random.stateless_normal(tf.shape(real), seed)}


def _pair_discriminator(config, image_shape):
  pair = keras.Input(image_shape[:2] + (2 * image_shape[2],))
  x = layers.Dense(16, activation="relu")(layers.Flatten()(pair))
  return keras.Model(pair, layers.Dense(1)(x))


CONDITIONAL = ModelSpec(
    name="toy_denoiser",
    build_generator=lambda config, shape: _dense_image_model(shape, "denoiser"),
    build_discriminator=_pair_discriminator,
    defaults={},
    prepare_batch=_noisy_copy,
    generator_input=lambda batch, z: batch["noisy"],
    discriminator_input=lambda batch, images: tf.concat([batch["noisy"], images], -1),
    extra_generator_losses=lambda config, batch, fake: {
        "l1": 10.0 * tf.reduce_mean(tf.abs(fake - batch["real"]), axis=[1, 2, 3])},
    generator_terms=("l1",),
    grid_rows=lambda batch, fake: [batch["noisy"], fake, batch["real"]],
)


def _copy_last_layer(config, pretrained, generator):
  if config.options["init_from_pretraining"]:
    generator.layers[-2].set_weights(pretrained.layers[-2].get_weights())


def _noise_generator(config, image_shape):
  z = keras.Input([config.latent_dim])
  x = layers.Dense(32, activation="relu")(z)
  x = layers.Dense(int(np.prod(image_shape)), activation="sigmoid")(x)
  return keras.Model(z, layers.Reshape(image_shape)(x))


PRETRAINED = ModelSpec(
    name="toy_pretrained",
    build_generator=_noise_generator,
    build_discriminator=lambda config, shape: keras.Sequential(
        [keras.Input(shape), layers.Flatten(), layers.Dense(1)]),
    defaults={},
    options={"pretrain_steps": Option(6, "steps"), "pretrain_learning_rate": Option(3e-3, "rate"),
             "init_from_pretraining": Option(True, "copy")},
    pretraining=Pretraining(
        name="autoencoder",
        build=lambda config, shape: _dense_image_model(shape, "autoencoder"),
        loss=lambda real, out: tf.reduce_mean(keras.losses.binary_crossentropy(real, out), [1, 2]),
        initialize_generator=_copy_last_layer,
        validation_examples=200),
)


def _config(tmp_path, data_dir, spec, **overrides):
  # float32 on every host: the replica and resume checks compare numbers to float32 rounding
  values = dict(data_dir=data_dir, train_split="train[:512]", batch_size=32, steps=4, log_every=2,
                image_every=2, checkpoint_every=2, steps_per_call=1, num_grid_images=4, latent_dim=8,
                precision="float32")
  options = overrides.pop("options", {})
  values.update(overrides)
  return config_lib.resolve(spec.name, str(tmp_path), {**values, "options": options}, spec=spec)


def test_prepared_batches_follow_the_seed_and_the_step(tmp_path, data_dir):
  config = _config(tmp_path, data_dir, CONDITIONAL)
  prepare = lambda real, seed: _noisy_copy(config, real, seed)
  from_start = list(data.training_batches(config, 0, prepare=prepare).take(4).as_numpy_iterator())
  resumed = list(data.training_batches(config, 2, prepare=prepare).take(2).as_numpy_iterator())
  for expected, got in zip(from_start[2:], resumed):
    np.testing.assert_array_equal(expected["noisy"], got["noisy"])
  assert not np.array_equal(from_start[0]["noisy"] - from_start[0]["real"],
                            from_start[1]["noisy"] - from_start[1]["real"])


def test_extra_generator_loss_is_trained_and_logged(tmp_path, data_dir):
  trainer = training.GANTrainer(_config(tmp_path, data_dir, CONDITIONAL, g_learning_rate=3e-3),
                                   spec=CONDITIONAL)
  batch = trainer.fixed_batch(32)
  iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
  first, _ = trainer.train_steps(iterator, 1)
  later, _ = trainer.train_steps(iterator, 40)
  assert set(first) == {"d_loss", "g_loss", "d_real", "d_fake", "l1"}
  assert later["l1"] < 0.6 * first["l1"], (first, later)


def test_conditional_step_is_the_same_on_one_and_two_replicas(tmp_path, data_dir):
  assert_one_and_two_replicas_agree(_config(tmp_path, data_dir, CONDITIONAL), spec=CONDITIONAL)


def test_conditional_grid_shows_one_row_per_grid_entry(tmp_path, data_dir):
  trainer = training.GANTrainer(_config(tmp_path, data_dir, CONDITIONAL), spec=CONDITIONAL)
  grid = trainer.sample_grid()
  rows, columns, padding = 3, 4, 2
  assert grid.shape == (rows * (28 + padding) + padding, columns * (28 + padding) + padding, 1)


def test_pretraining_runs_first_logs_and_initialises_the_generator(tmp_path, data_dir):
  lines = []
  config = _config(tmp_path, data_dir, PRETRAINED, steps=2)
  training.fit(config, spec=PRETRAINED, log=lines.append)
  assert lines[0].startswith("Training toy_pretrained on mnist"), lines
  assert lines[1].startswith("autoencoder step 2/6") and "validation_loss" in lines[1], lines
  assert lines[-2].startswith("step 2/2") and lines[-1].startswith("Done: 8 steps"), lines
  assert os.path.exists(os.path.join(config.logdir, "samples", "autoencoder_step_00000006.png"))
  values = checkpoint_values(config.logdir)
  assert int(values["pretrain_step/.ATTRIBUTES/VARIABLE_VALUE"]) == 6
  assert int(values["step/.ATTRIBUTES/VARIABLE_VALUE"]) == 2


def test_the_generator_starts_from_the_pretrained_weights(tmp_path, data_dir):
  config = _config(tmp_path, data_dir, PRETRAINED, steps=2)
  trainer = training.GANTrainer(config, spec=PRETRAINED)
  trainer.start(trainer.phases()[-1])
  for a, b in zip(trainer.generator.layers[-2].get_weights(), trainer.pretrained.layers[-2].get_weights()):
    np.testing.assert_array_equal(a, b)


def _interrupt_at(line_prefixes):
  """A log callback that sends this process SIGTERM when a progress line starts with a prefix."""
  def log(line):
    if any(line.startswith(prefix) for prefix in line_prefixes):
      os.kill(os.getpid(), signal.SIGTERM)
  return log


@pytest.mark.slow
@pytest.mark.parametrize("stop_at", ["autoencoder step 2/", "autoencoder step 6/", "step 2/"])
def test_resume_in_either_phase_equals_an_uninterrupted_run(tmp_path, data_dir, stop_at):
  quiet = lambda *_: None
  whole = _config(tmp_path / "whole", data_dir, PRETRAINED)
  training.fit(whole, spec=PRETRAINED, log=quiet)
  split = _config(tmp_path / "split", data_dir, PRETRAINED)
  with pytest.raises(training.TrainingInterrupted):
    training.fit(split, spec=PRETRAINED, log=_interrupt_at([stop_at]))
  training.fit(split, spec=PRETRAINED, log=quiet)
  resumed, expected = checkpoint_values(split.logdir), checkpoint_values(whole.logdir)
  assert resumed.keys() == expected.keys()
  assert_same_training_state(resumed, expected)
