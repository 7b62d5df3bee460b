"""Running the real entry points, smoke configs of registered models, and the 1-vs-2-replica check."""
import atexit
import dataclasses
import functools
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf

from tests.conftest import DATA_DIR, REPO, two_replica_strategy

QUICK_FLAGS = ["--model=dense_gan", f"--data_dir={DATA_DIR}", "--train_split=train[:512]",
               "--batch_size=32", "--log_every=5", "--image_every=5", "--checkpoint_every=5",
               "--steps_per_call=1", "--precision=float32"]
# What every smoke run shares: a few steps that log, draw a grid and checkpoint, on small grids.
# float32 whatever --precision=auto would pick on this host, so the suite compares the same numbers
# everywhere; the tests marked `bfloat16` run the contract under mixed_bfloat16.
SMOKE = {"train_split": "train[:256]", "batch_size": 16, "steps": 2, "log_every": 1, "image_every": 2,
         "checkpoint_every": 2, "steps_per_call": 1, "num_grid_images": 4, "eval_samples": 100,
         "precision": "float32"}
# The photo-patch folder that smoke runs of folder datasets read (`python -m zoo.photo_patches` with these).
PHOTO_PATCHES = {"size": 32, "num": 48, "num_test": 16, "seed": 0}


def run_module(module, *args, timeout=300, env=None, check=False):
  full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
  result = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
  if check and result.returncode != 0:
    raise AssertionError(f"{module} {args} failed ({result.returncode}):\n{result.stderr[-3000:]}")
  return result


def popen_module(module, *args, env=None):
  full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
  return subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO, env=full_env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def model_variants():
  """(model, variant) of every registered model: its named variants, else one called "default"."""
  from zoo import models
  return [(name, variant) for name in models.list_models()
          for variant in (models.get_model(name).variants or {"default": {}})]


@functools.lru_cache(maxsize=None)
def photo_patch_dir():
  """A tiny folder of real RGB photo patches, made once per test session by the real zoo.photo_patches tool.

  Its files get one fixed modification time, so the folder's decode cache key (file names, sizes and
  times; the patches are byte-identical for the same arguments) is the same in every session and the
  cache in $ZOO_CACHE_DIR holds one entry for it, not one per session.
  """
  from zoo.data import photos
  root = tempfile.mkdtemp(prefix="zoo-test-photos-")
  atexit.register(shutil.rmtree, root, True)
  out = os.path.join(root, "photo_patches")
  photos.build_patch_folder(out, **PHOTO_PATCHES)
  for folder, _, names in os.walk(out):
    for name in names:
      os.utime(os.path.join(folder, name), ns=(946684800 * 10**9,) * 2)  # 2000-01-01
  return out


def smoke_config(model, variant, logdir, data_dir=DATA_DIR, **overrides):
  """A few cheap steps of `model`'s `variant`: SMOKE, then the model's smoke settings and the variant's.

  A variant on an image folder (`dataset: folder...`) reads the session's photo patches unless a
  `data_dir` is given.
  """
  from zoo import config as config_lib
  from zoo import data
  from zoo import models
  spec = models.get_model(model)
  smoke, chosen = dict(spec.smoke), dict(spec.variants.get(variant, {}))
  options = {**smoke.pop("options", {}), **chosen.pop("options", {}), **overrides.pop("options", {})}
  values = {**SMOKE, "data_dir": data_dir, **smoke, **chosen, **overrides, "options": options}
  if data_dir == DATA_DIR and data.is_folder(values.get("dataset") or spec.defaults.get("dataset", "mnist")):
    values["data_dir"] = photo_patch_dir()
  return config_lib.resolve(model, str(logdir), values)


def checkpoint_values(logdir):
  """Every variable of a run's latest checkpoint (weights, optimiser slots, step counters), by name."""
  from zoo import runs
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(runs.checkpoint_dir(str(logdir))))
  return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
          if name != "_CHECKPOINTABLE_OBJECT_GRAPH"}


def fixed_batches(strategy, batch):
  """A distributed iterator that yields the same global batch forever."""
  return iter(strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch).repeat()))


def assert_one_and_two_replicas_agree(config, spec=None, steps=2):
  """Trains `steps` steps from the same weights on the same global batch with 1 and with 2 replicas
  and checks that metrics and every weight agree, and that the update was not a no-op. D's dropout is
  switched off: each replica draws its own masks (docs/distributed.md), equal in distribution only."""
  from zoo import training
  config = dataclasses.replace(config, options={
      name: 0.0 if name.endswith("_dropout") else value for name, value in config.options.items()})
  reference = training.GANTrainer(config, spec=spec)
  initial = reference.generator.get_weights() + reference.discriminator.get_weights()
  batch = reference.fixed_batch(config.batch_size)
  results = []
  for strategy in (tf.distribute.OneDeviceStrategy("/cpu:0"), two_replica_strategy()):
    trainer = training.GANTrainer(config, strategy, spec)
    metrics, bad_step = trainer.train_steps(fixed_batches(strategy, batch), steps)
    assert bad_step == -1, metrics
    results.append((metrics, trainer.generator.get_weights() + trainer.discriminator.get_weights()))
  (one_metrics, one), (two_metrics, two) = results
  if config.precision == "mixed_bfloat16":
    _assert_bfloat16_updates_agree(one_metrics, two_metrics, one, two, initial)
  else:
    for name in one_metrics:
      np.testing.assert_allclose(two_metrics[name], one_metrics[name], rtol=2e-4, atol=1e-6, err_msg=name)
    for i, (a, b, start) in enumerate(zip(one, two, initial)):
      _assert_updates_agree(a, b, start, f"weight {i} {a.shape}")
  assert any(not np.allclose(a, b) for a, b in zip(one, initial)), "the steps changed no weight"


def _assert_bfloat16_updates_agree(one_metrics, two_metrics, one, two, initial):
  """1 vs 2 replicas under mixed bfloat16: how a batch is split changes how its bfloat16 sums round, and
  Adam turns a gradient's rounding into a step of either sign where the gradient is small (seen: 56% of
  dcgan's G projection differing, by up to 80% of its largest update). What must still hold: the losses
  agree to bfloat16 precision, and each tensor's update points the same way with the same size.
  Unsynchronised statistics or a wrong reduction change the updates' direction or size."""
  for name in one_metrics:
    np.testing.assert_allclose(two_metrics[name], one_metrics[name], rtol=5e-2, atol=1e-3, err_msg=name)
  for i, (a, b, start) in enumerate(zip(one, two, initial)):
    step_one, step_two = (a - start).ravel().astype(np.float64), (b - start).ravel().astype(np.float64)
    norm_one, norm_two = np.linalg.norm(step_one), np.linalg.norm(step_two)
    if norm_one == 0 and norm_two == 0:
      continue
    cosine = float(np.dot(step_one, step_two) / (norm_one * norm_two + 1e-30))
    assert cosine > BFLOAT16_MIN_COSINE and 0.8 < norm_two / (norm_one + 1e-30) < 1.25, (
        f"weight {i} {a.shape}: updates of 1 and 2 replicas at cosine {cosine:.3f}, norms {norm_one:.3g} "
        f"and {norm_two:.3g}")


BFLOAT16_MIN_COSINE = 0.8  # seen: 0.93 at the lowest (compression_gan), 0.98-1.0 elsewhere


def _assert_updates_agree(one, two, initial, what, max_outlier_share=1e-3, max_worst_share=0.1):
  """Weights after the same steps on 1 and 2 replicas agree to rounding, but for a few outliers.

  Adam divides by the root of the squared gradient, so an element whose gradient is near zero moves by
  a share of the learning rate that rounding (which differs with the batch's split) decides. A wrong
  reduction or unsynchronised statistics move most elements instead, so: at most 0.1% of the elements
  may differ beyond rounding, and none by more than a tenth of the largest update of its tensor.
  """
  close = np.isclose(two, one, rtol=2e-4, atol=2e-6)
  largest_update = float(np.max(np.abs(one - initial), initial=0.0))
  worst = float(np.max(np.abs(two - one), initial=0.0))
  assert close.mean() >= 1 - max_outlier_share and worst <= max_worst_share * largest_update + 2e-6, (
      f"{what}: {np.size(close) - close.sum()} of {np.size(close)} elements differ (largest "
      f"difference {worst:.3g}, largest update {largest_update:.3g})")


def assert_same_training_state(got, expected, what="checkpoint"):
  """Checkpoint values (`checkpoint_values`) of two runs that trained the same steps agree: integers
  (step counters, seed states) exactly; floats to float32 rounding.

  TensorFlow's CPU kernels now and then round one process's run differently from the next on the same
  inputs (seen once in ~14 fresh processes: an optimiser slot off in its last bits), and Adam turns
  that rounding, where a gradient is near zero, into up to a learning-rate step of either sign. So a
  float tensor agrees when all but 0.1% of its elements match to a relative 1e-4 and none is further
  off than a tenth of the tensor's largest magnitude. A broken resume (a slot or weight not restored,
  the data or the noise of another step) moves most elements or an integer, and fails.
  """
  assert got.keys() == expected.keys(), (what, sorted(set(got) ^ set(expected)))
  for name in expected:
    a, b = np.asarray(got[name]), np.asarray(expected[name])
    assert a.shape == b.shape and a.dtype == b.dtype, (what, name, a.shape, b.shape, a.dtype, b.dtype)
    if not np.issubdtype(b.dtype, np.floating):
      np.testing.assert_array_equal(a, b, err_msg=f"{what} {name}")
      continue
    scale = float(np.max(np.abs(b), initial=0.0))
    close = np.isclose(a, b, rtol=1e-4, atol=1e-7 * scale + 1e-12)
    worst = float(np.max(np.abs(a - b), initial=0.0))
    assert close.mean() >= 0.999 and worst <= 0.1 * scale + 1e-12, (
        f"{what} {name}: {close.size - close.sum()} of {close.size} elements differ (largest difference "
        f"{worst:.3g}, largest magnitude {scale:.3g})")
