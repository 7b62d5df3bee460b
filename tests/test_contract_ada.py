"""--augment=ada in the shared step: what D sees, the controller's statistic and update on a real D,
exact resume with p and its accumulators in the checkpoint, 1 vs 2 replicas, logging, settings."""
import dataclasses
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import (assert_one_and_two_replicas_agree, assert_same_training_state, checkpoint_values,
                           fixed_batches, smoke_config)
from zoo import config as config_lib
from zoo import training
from zoo.recipe import ada

# kimg=0.05: p moves by 16 / 50 = 0.32 per 16-image step, so a few steps move it visibly.
ADA = {"augment": "ada", "ada_kimg": 0.05}
QUIET = {"log": lambda *_: None}
P_KEY = "ada/p/.ATTRIBUTES/VARIABLE_VALUE"


def _ada_config(logdir, **overrides):
  return smoke_config("dcgan", "default", logdir, **{**ADA, **overrides})


def _trainer_on_one_batch(config):
  trainer = training.GANTrainer(config, tf.distribute.OneDeviceStrategy("/cpu:0"))
  batch = trainer.fixed_batch(config.batch_size)
  return trainer, batch, fixed_batches(trainer.strategy, batch)


def test_d_sees_reals_fakes_and_penalty_images_through_ada_with_the_controllers_p(tmp_path):
  config = _ada_config(tmp_path, options={"conditional": "projection"})
  trainer = training.GANTrainer(config)
  objective, controller = trainer.gan_step.objective, trainer.state.ada
  batch = trainer.fixed_batch(8)
  seed = tf.constant([5, 6], tf.int64)
  unaugmented = objective.discriminator_input(batch, batch["real"], seed)
  np.testing.assert_array_equal(unaugmented["images"], batch["real"])  # p starts at 0
  controller.p.assign(0.7)
  seen = objective.discriminator_input(batch, batch["real"], seed)
  expected = ada.ada_augment(batch["real"], 0.7, seed, pixel_bounds=(-1.0, 1.0))  # dcgan: tanh range
  np.testing.assert_array_equal(seen["images"], expected)
  np.testing.assert_array_equal(seen["label"], unaugmented["label"])
  assert not np.allclose(seen["images"], batch["real"])


def test_r_t_is_the_mean_sign_of_d_on_reals_and_p_follows_it(tmp_path):
  # With R1, whose input gradient (and its gradient) passes through the augmentation.
  config = _ada_config(tmp_path, ada_interval=1, r1_gamma=1.0)
  trainer, batch, batches = _trainer_on_one_batch(config)
  controller = trainer.state.ada
  # Step 0 augments nothing (p = 0): r_t is the mean sign of the initial D's logits on the batch's reals.
  logits = trainer.discriminator(trainer.spec.discriminator_input(batch, batch["real"]), training=True)
  expected_r_t = float(np.mean(np.sign(logits.numpy())))
  metrics, bad_step = trainer.train_steps(batches, 1)
  assert bad_step == -1 and metrics["r1"] > 0, metrics
  assert controller.r_t.numpy() == pytest.approx(expected_r_t, abs=1e-6)
  step_size = 16 / 50
  assert controller.p.numpy() == pytest.approx(np.clip(np.sign(expected_r_t - 0.6) * step_size, 0, 1))
  # A D that calls every (augmented) real real, as an overfitting D does: p rises by one step size...
  bias = trainer.discriminator.layers[-1].bias
  controller.p.assign(0.5)
  bias.assign(tf.fill(bias.shape, 10.0))
  trainer.train_steps(batches, 1)
  assert controller.r_t.numpy() == 1.0 and controller.p.numpy() == pytest.approx(0.5 + step_size)
  # ... and one that calls every real fake lowers it, down to 0 and no further.
  bias.assign(tf.fill(bias.shape, -10.0))
  expected_p = [0.5, 0.5 - step_size, 0.0]
  for p in expected_p:
    _, bad_step = trainer.train_steps(batches, 1)
    assert bad_step == -1
    assert controller.r_t.numpy() == -1.0 and controller.p.numpy() == pytest.approx(p, abs=1e-6)
  assert controller.sign_sum.numpy() == 0.0 and controller.count.numpy() == 0.0


def test_every_d_update_counts_toward_r_t(tmp_path):
  config = _ada_config(tmp_path, d_steps=2, ada_interval=2, ada_set="b")
  trainer, _, batches = _trainer_on_one_batch(config)
  bias = trainer.discriminator.layers[-1].bias
  bias.assign(tf.fill(bias.shape, 10.0))  # every real scored positive, in both D updates
  trainer.train_steps(batches, 1)
  controller = trainer.state.ada
  assert controller.count.numpy() == 2 * 16 and controller.sign_sum.numpy() == 2 * 16
  assert controller.p.numpy() == 0  # no update before step 1


def test_resume_is_exact_with_p_and_its_accumulators_in_the_checkpoint(tmp_path):
  # interval 3: the run stops at step 2 with an interval partly accumulated, p moves at step 2 and
  # step 3 augments with it. Target 0: any net positive sign raises p.
  def config(logdir, steps):
    return _ada_config(logdir, steps=steps, ada_interval=3, ada_target=0.0)
  lines = []
  last = training.fit(config(tmp_path / "whole", 4), log=lines.append)
  training.fit(config(tmp_path / "split", 2), **QUIET)
  split_at_2 = checkpoint_values(tmp_path / "split")
  assert split_at_2["ada/count/.ATTRIBUTES/VARIABLE_VALUE"] == 2 * 16 and split_at_2[P_KEY] == 0
  training.fit(config(tmp_path / "split", 4), **QUIET)
  expected, resumed = checkpoint_values(tmp_path / "whole"), checkpoint_values(tmp_path / "split")
  assert_same_training_state(resumed, expected, "resumed vs uninterrupted")
  assert expected[P_KEY] > 0, "p never moved: the test does not cover augmented steps"
  for name in ("p", "r_t", "sign_sum", "count"):
    key = f"ada/{name}/.ATTRIBUTES/VARIABLE_VALUE"
    assert resumed[key] == expected[key], name
  assert expected["ada/count/.ATTRIBUTES/VARIABLE_VALUE"] == 16  # step 3, into the next interval
  # p and r_t on the progress line, in fit's values and in TensorBoard.
  assert "| ada_p " in lines[-2] and "| ada_r_t " in lines[-2], lines[-2]
  assert last["ada_p"] == pytest.approx(float(expected[P_KEY]))
  assert {"train/ada_p", "train/ada_r_t"} <= _tensorboard_tags(tmp_path / "whole")


def _tensorboard_tags(logdir):
  tags = set()
  for name in os.listdir(logdir):
    if name.startswith("events.out"):
      for event in tf.compat.v1.train.summary_iterator(os.path.join(logdir, name)):
        tags.update(value.tag for value in event.summary.value)
  return tags


def test_one_and_two_replicas_agree_with_ada(tmp_path, monkeypatch):
  trainers = []

  class Recorded(training.GANTrainer):
    def __init__(self, *args, **kwargs):
      super().__init__(*args, **kwargs)
      trainers.append(self)

  monkeypatch.setattr(training, "GANTrainer", Recorded)  # to read p after the helper's runs
  # p moves after step 0 and step 1 augments with it.
  config = _ada_config(tmp_path, ada_interval=1, ada_target=0.0, precision="float32")
  assert_one_and_two_replicas_agree(config, steps=2)
  _, one, two = (trainer.state.ada for trainer in trainers)
  assert one.p.numpy() > 0, "p never moved: the replicas did not augment"
  for name in ("p", "r_t", "sign_sum", "count"):
    assert getattr(two, name).numpy() == getattr(one, name).numpy(), name


def test_ada_settings_are_checked_and_fixed_on_resume(tmp_path):
  with pytest.raises(ValueError, match=r"^--ada_set: Unknown ADA augmentation\(s\) \['x'\]"):
    _ada_config(tmp_path, ada_set="x")
  for overrides, message in (({"ada_target": 1.5}, "--ada_target must be in"),
                             ({"ada_interval": 0}, "--ada_interval must be"),
                             ({"ada_kimg": 0}, "--ada_kimg must be positive"),
                             ({"ada_set": ""}, "--ada_set is empty")):
    with pytest.raises(ValueError, match=message):
      _ada_config(tmp_path, **overrides)
  with pytest.raises(ValueError, match="Unknown DiffAugment.*--augment=ada"):
    smoke_config("dcgan", "default", tmp_path, augment="adaptive")
  config = _ada_config(tmp_path)
  assert (config.ada_target, config.ada_interval, config.ada_set) == (0.6, 4, "bgc")
  for changed in ({"augment": "translation"}, {"ada_kimg": 500.0}, {"ada_set": "bg"}):
    with pytest.raises(ValueError, match="different settings"):
      config_lib.check_resumable(config, dataclasses.replace(config, **changed))


def test_without_ada_the_step_reports_no_statistics(tmp_path):
  trainer = training.GANTrainer(smoke_config("dcgan", "default", tmp_path))
  assert trainer.state.ada is None and trainer.gan_step.objective.statistic_names == ()
  batch = trainer.fixed_batch(8)
  zero = tf.constant(0, tf.int64)
  metrics = trainer.gan_step.losses_and_gradients(batch, zero, zero, 8)[2]
  assert set(metrics) == set(trainer.metric_names)
