"""Behaviour pinned across refactors: each model's weights after 3 training steps, recorded before a move.

tests/pinned_weights.json holds, per case, the resolved config it ran with and the sum and L2 norm of
every weight of G and D, at initialisation and after 3 steps of `zoo.training.fit` on real MNIST, in
float32. Most cases were written at commit 7e0644e (before the trainer was split into zoo/training/), so
every number in docs/ that those settings produced still reproduces while this test passes; the dcgan
and autoencoder_gan cases, first recorded in bfloat16 (whose rounding differs from CPU to CPU), were
recorded again in float32 when the fast kernels moved to zoo/accel (`python -m tests.test_pinned CASE`),
and dcgan's once more when zoo/accel's 16-bit Dropout was deleted (its case drops at 0.3, and Keras'
masks are other masks).
Settings added since take the values that reproduce the old step (LEGACY below).
"""
import dataclasses
import json
import os
import re

import numpy as np
import pytest


from zoo import config as config_lib
from zoo import runs
from zoo import training

PINNED = os.path.join(os.path.dirname(__file__), "pinned_weights.json")
# What the trainer and the models did before these settings existed, or had other defaults.
LEGACY = {"image_resize": "area", "ema_decay": 0.0}
LEGACY_OPTIONS = {"dcgan": {"generator_filters": 512, "generator_conv_bias": True},
                  "dense_gan": {"generator_units": (128, 128, 1024), "discriminator_units": (128, 128),
                                "discriminator_activation": "relu", "discriminator_dropout": 0.0},
                  "autoencoder_gan": {"discriminator": "article"}}

with open(PINNED) as f:
  CASES = json.load(f)


def weight_stats(model):
  return {w.path: [float(np.sum(np.asarray(w.numpy(), np.float64))),
                   float(np.sqrt(np.sum(np.square(np.asarray(w.numpy(), np.float64)))))]
          for w in model.weights}


def _config(case, logdir, data_dir):
  stored = dict(CASES[case]["config"])
  model, options = stored.pop("model"), stored.pop("options")
  stored.pop("pixel_range")
  overrides = {**LEGACY, **stored, "data_dir": data_dir,
               "options": {**LEGACY_OPTIONS.get(model, {}), **options}}
  return config_lib.resolve(model, logdir, overrides)


def _by_layer_kind(stats):
  """{"dense/kernel": sorted [sum, norm] pairs}: Keras numbers auto-named layers per process
  ("dense_2" or "dense_20"), so weights are matched by kind and value, not by their numbered name."""
  grouped = {}
  for path, values in stats.items():
    kind = "/".join(re.sub(r"_\d+$", "", part) for part in path.split("/"))
    grouped.setdefault(kind, []).append(values)
  return {kind: sorted(values, key=lambda v: (v[1], v[0])) for kind, values in grouped.items()}


def _assert_stats_equal(got, expected, what):
  got, expected = _by_layer_kind(got), _by_layer_kind(expected)
  assert got.keys() == expected.keys(), (what, sorted(set(got) ^ set(expected)))
  for kind in expected:
    # Float sums: the same kernels give the same bits; another CPU's kernel library (oneDNN or Eigen)
    # sums in another order, seen to move these by up to 4e-6 relative. A step with a 1% different
    # learning rate moves them by more than 1e-4 (tested once by hand).
    np.testing.assert_allclose(got[kind], expected[kind], rtol=2e-5, atol=1e-6, err_msg=f"{what} {kind}")


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_weights_after_three_steps_are_the_pinned_ones(case, tmp_path, data_dir):
  config = _config(case, str(tmp_path), data_dir)
  training.fit(config, log=lambda *_: None)
  trainer = training.GANTrainer(config)
  for part, model in (("generator", trainer.generator), ("discriminator", trainer.discriminator)):
    _assert_stats_equal(weight_stats(model), CASES[case]["initial"][part], f"{case} initial {part}")
  trainer.checkpoint.restore(runs.latest_checkpoint(config.logdir)).expect_partial()
  for part, model in (("generator", trainer.generator), ("discriminator", trainer.discriminator)):
    _assert_stats_equal(weight_stats(model), CASES[case]["trained"][part], f"{case} trained {part}")


def record(case, data_dir):
  """Trains `case` for its 3 steps in float32 at the current code and stores its weight statistics."""
  import tempfile
  logdir = tempfile.mkdtemp()
  config = dataclasses.replace(_config(case, logdir, data_dir), precision="float32")
  trainer = training.GANTrainer(config)
  initial = {part: weight_stats(model) for part, model in (("generator", trainer.generator),
                                                            ("discriminator", trainer.discriminator))}
  training.fit(config, log=lambda *_: None)
  trainer.checkpoint.restore(runs.latest_checkpoint(config.logdir)).expect_partial()
  trained = {part: weight_stats(model) for part, model in (("generator", trainer.generator),
                                                            ("discriminator", trainer.discriminator))}
  stored = json.loads(config.to_json())
  stored.pop("logdir")
  stored.pop("data_dir")
  CASES[case] = {"config": stored, "initial": initial, "trained": trained}
  with open(PINNED, "w") as f:
    json.dump(CASES, f, indent=1, sort_keys=True)


if __name__ == "__main__":
  import sys
  from tests.conftest import DATA_DIR
  for name in sys.argv[1:]:
    record(name, DATA_DIR)
