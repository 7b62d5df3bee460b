"""The shared trainer: learning signal, replica invariance, D:G ratio, steps per call, NaN handling."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import config as config_lib
from zoo import runs
from zoo import training
from zoo import pixels


def tiny_config(tmp_path, data_dir, **overrides):
  values = dict(data_dir=data_dir, train_split="train[:512]", batch_size=32, steps=20, log_every=10,
                image_every=10, checkpoint_every=10, steps_per_call=1, num_grid_images=4, precision="float32")
  values.update(overrides)
  return config_lib.resolve("dense_gan", str(tmp_path), values)


def fixed_batches(strategy, batch):
  """A distributed iterator that yields the same global batch forever."""
  return iter(strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch).repeat()))


def real_batch(data_dir, size=32):
  from zoo import data
  images = data.load_images("mnist", "train[:64]", data_dir).batch(size).take(1).get_single_element()
  return pixels.to_model_range(images, "unit")


def weights(model):
  return [v.numpy() for v in model.weights]


def test_discriminator_loss_falls_when_overfitting_one_batch(tmp_path, data_dir):
  config = tiny_config(tmp_path, data_dir, d_learning_rate=1e-3)
  tf.keras.utils.set_random_seed(0)
  trainer = training.GANTrainer(config)
  iterator = fixed_batches(trainer.strategy, real_batch(data_dir))
  first, _ = trainer.train_steps(iterator, 1)
  later, _ = trainer.train_steps(iterator, 30)
  assert later["d_loss"] < 0.5 * first["d_loss"], (first, later)
  assert later["d_real"] > first["d_real"]


def test_d_steps_updates_discriminator_that_many_times_per_generator_update(tmp_path, data_dir):
  config = tiny_config(tmp_path, data_dir, d_steps=3)
  trainer = training.GANTrainer(config)
  trainer.train_steps(trainer.distributed_batches(0), 4)
  assert int(trainer.state.d_optimizer.iterations) == 12
  assert int(trainer.state.g_optimizer.iterations) == 4
  assert int(trainer.step) == 4


@pytest.mark.slow
def test_steps_per_call_does_not_change_the_result(tmp_path, data_dir):
  results = []
  for steps_per_call in (1, 4):
    config = tiny_config(tmp_path / str(steps_per_call), data_dir, steps=8, steps_per_call=steps_per_call)
    tf.keras.utils.set_random_seed(0)
    training.fit(config, log=lambda *_: None)
    generator, _ = runs.restore_generator(config.logdir)
    results.append(weights(generator))
  for a, b in zip(*results):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_jit_compiled_step_runs_and_learns(tmp_path, data_dir):
  config = tiny_config(tmp_path, data_dir, jit_compile=True, d_learning_rate=1e-3)
  trainer = training.GANTrainer(config)
  iterator = fixed_batches(trainer.strategy, real_batch(data_dir))
  first, _ = trainer.train_steps(iterator, 1)
  later, _ = trainer.train_steps(iterator, 20)
  assert later["d_loss"] < first["d_loss"]


def test_bfloat16_step_keeps_float32_variables_and_finite_losses(tmp_path, data_dir):
  config = tiny_config(tmp_path, data_dir, precision="mixed_bfloat16")
  trainer = training.GANTrainer(config)
  metrics, bad = trainer.train_steps(trainer.distributed_batches(0), 3)
  assert bad == -1 and all(np.isfinite(list(metrics.values())))
  assert all(v.dtype == "float32" for v in trainer.generator.trainable_variables)
  assert trainer.generator.layers[1].compute_dtype == "bfloat16"


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, data_dir):
  import dataclasses
  from zoo import models
  poisoned = tf.Variable(False)

  def poison(config, batch, outputs):
    del config, outputs  # a NaN gradient would poison step 0 already, so the switch is a variable
    return {"poison": tf.where(poisoned, np.nan, 0.0) * tf.ones([tf.shape(batch["real"])[0]])}

  def poison_after_first_checkpoint(generator, step):
    poisoned.assign(True)
    return {}

  spec = dataclasses.replace(models.get_model("dense_gan"), extra_generator_losses=poison,
                             generator_terms=("poison",))
  config = tiny_config(tmp_path, data_dir, steps=30, checkpoint_every=10, eval_every=10)
  with pytest.raises(training.NonFiniteLossError, match=r"Non-finite loss at step 10\b"):
    training.fit(config, spec=spec, evaluator=poison_after_first_checkpoint, log=lambda *_: None)
  latest = tf.train.latest_checkpoint(str(tmp_path / "checkpoints"))
  assert latest.endswith("ckpt-10")
  reader = tf.train.load_checkpoint(latest)
  for name in reader.get_variable_to_shape_map():
    value = reader.get_tensor(name)
    if np.issubdtype(np.asarray(value).dtype, np.floating):
      assert np.isfinite(value).all(), f"{name} in the latest checkpoint is not finite"


def _adam_updates(optimizer_class, initial, gradients):
  variables = [keras.Variable(x) for x in initial]
  optimizer = optimizer_class(1e-3, beta_1=0.5)
  optimizer.build(variables)
  step = tf.function(lambda grads: optimizer.apply_gradients(zip(grads, variables)))
  for grads in gradients:
    step([tf.constant(g) for g in grads])
  return [v.numpy() for v in variables]


def test_fused_adam_matches_keras_adam():
  from zoo.accel import FusedAdam
  rng = np.random.default_rng(0)
  initial = [rng.normal(size=shape).astype("float32") for shape in [(100, 128), (128,), (64, 32)]]
  gradients = [[rng.normal(size=x.shape).astype("float32") for x in initial] for _ in range(5)]
  keras_result = _adam_updates(keras.optimizers.Adam, initial, gradients)
  fused_result = _adam_updates(FusedAdam, initial, gradients)
  for start, keras_values, fused_values in zip(initial, keras_result, fused_result):
    assert np.abs(keras_values - start).max() > 1e-3  # the updates did happen
    np.testing.assert_allclose(fused_values, keras_values, rtol=1e-5, atol=1e-6)
