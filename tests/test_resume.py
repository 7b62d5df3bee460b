"""Exact resume, and SIGTERM saving a checkpoint before the process exits."""
import os
import signal

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import QUICK_FLAGS, assert_same_training_state, checkpoint_values, popen_module, run_module
from tests.test_trainer import tiny_config
from zoo import training


def test_n_steps_then_n_more_equals_2n_uninterrupted(tmp_path, data_dir):
  quiet = dict(log=lambda *_: None)
  split = tiny_config(tmp_path / "split", data_dir, steps=12, checkpoint_every=6, d_steps=2)
  training.fit(tiny_config(tmp_path / "split", data_dir, steps=6, checkpoint_every=6, d_steps=2),
                  **quiet)
  training.fit(split, **quiet)  # a new trainer: restores step 6, continues to 12
  training.fit(tiny_config(tmp_path / "whole", data_dir, steps=12, checkpoint_every=6, d_steps=2),
                  **quiet)
  resumed, whole = checkpoint_values(split.logdir), checkpoint_values(str(tmp_path / "whole"))
  assert resumed.keys() == whole.keys() and len(whole) > 20
  assert_same_training_state(resumed, whole)
  assert int(whole["step/.ATTRIBUTES/VARIABLE_VALUE"]) == 12


def test_dropout_seeds_are_checkpointed_and_an_older_checkpoint_without_them_still_resumes(
    tmp_path, data_dir, monkeypatch):
  from zoo.training import state
  config = tiny_config(tmp_path / "run", data_dir, steps=6, checkpoint_every=6)
  assert config.options["discriminator_dropout"] > 0  # dense_gan's D drops units by default
  with monkeypatch.context() as patch:  # a checkpoint as written before the seeds were saved
    patch.setattr(state, "seed_states", lambda model: [])
    training.fit(config, log=lambda *_: None)
  assert not any(name.startswith("random_states") for name in checkpoint_values(config.logdir))
  lines = []
  training.fit(tiny_config(tmp_path / "run", data_dir, steps=12, checkpoint_every=6), log=lines.append)
  assert any("predates saved Dropout seeds" in line for line in lines)
  values = checkpoint_values(config.logdir)
  assert int(values["step/.ATTRIBUTES/VARIABLE_VALUE"]) == 12
  assert any(name.startswith("random_states") for name in values)


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_the_run_resumes(tmp_path):
  logdir = str(tmp_path / "run")
  process = popen_module("zoo.train", *QUICK_FLAGS, f"--logdir={logdir}", "--steps=1000000")
  for line in process.stdout:  # wait until training is under way
    if line.startswith("step 5/"):
      break
  process.send_signal(signal.SIGTERM)
  output = process.communicate(timeout=120)[0]
  assert process.returncode == 0, output
  assert "SIGTERM received: saved step" in output
  step = int(tf.train.latest_checkpoint(os.path.join(logdir, "checkpoints")).rsplit("-", 1)[1])
  assert 5 <= step < 1000000
  resumed = run_module("zoo.train", *QUICK_FLAGS, f"--logdir={logdir}", f"--steps={step + 5}", check=True)
  assert "Resumed from" in resumed.stdout and f"step {step + 5}/{step + 5}" in resumed.stdout


def test_a_signal_after_the_checkpoint_hook_still_saves_the_step_it_stops_at(tmp_path, data_dir, monkeypatch):
  # SIGTERM arrives during the summary flush that follows the hooks of step 2, after the checkpoint
  # hook (every 100 steps) has decided not to save: the loop must save step 2 before it stops.
  flushes = []

  def flush_then_signal(*args, **kwargs):
    flushes.append(1)
    if len(flushes) == 2:
      os.kill(os.getpid(), signal.SIGTERM)

  monkeypatch.setattr(tf.summary, "flush", flush_then_signal)
  config = tiny_config(tmp_path, data_dir, steps=6, checkpoint_every=100, log_every=1)
  with pytest.raises(training.TrainingInterrupted) as stop:
    training.fit(config, log=lambda *_: None)
  latest = tf.train.latest_checkpoint(os.path.join(config.logdir, "checkpoints"))
  assert latest is not None and latest.endswith("-2"), latest
  assert f"saved step 2 to {latest}" in str(stop.value)


def test_the_training_state_comparison_fails_on_a_broken_resume():
  rng = np.random.default_rng(0)
  expected = {"generator/kernel": rng.normal(size=(64, 32)).astype(np.float32),
              "g_optimizer/velocity": rng.uniform(1e-8, 1e-6, size=(64, 32)).astype(np.float32),
              "step": np.int64(12)}
  rounded = {**expected, "g_optimizer/velocity": np.nextafter(expected["g_optimizer/velocity"], 1.0)}
  assert_same_training_state(rounded, expected)  # every element of a slot off in its last bit
  broken = [{**expected, "g_optimizer/velocity": expected["g_optimizer/velocity"] / 2},  # slot not restored
            {**expected, "generator/kernel": expected["generator/kernel"] + 2e-4},  # another step's update
            {**expected, "step": np.int64(13)}]
  for state in broken:
    with pytest.raises(AssertionError):
      assert_same_training_state(state, expected)
