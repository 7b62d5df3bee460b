"""A run folder, read in one place: its config, its checkpoints, how far it got, its generator.

  <logdir>/config.json            the resolved TrainConfig (zoo/config.py)
  <logdir>/checkpoints/ckpt-N.*   N counts steps over all phases (pretraining + GAN steps)
  <logdir>/samples/step_N.png     sample grids
  <logdir>/events.out.tfevents.*  TensorBoard

Every command-line tool goes through these functions; none parses checkpoint internals itself.
"""
import os
import re

import tensorflow as tf

from zoo import checkpoints
from zoo import config as config_lib
from zoo import data
from zoo import layers
from zoo import models

CHECKPOINTS = "checkpoints"
SAMPLES = "samples"
# Names of the objects in a training checkpoint (zoo/training/state.py writes them).
GENERATOR = "generator"
GENERATOR_EMA = "generator_ema"
GAN_STEP_KEY = "step/.ATTRIBUTES/VARIABLE_VALUE"


def checkpoint_dir(logdir: str) -> str:
  return os.path.join(logdir, CHECKPOINTS)


def load_config(logdir: str):
  if not os.path.isdir(logdir):
    raise FileNotFoundError(f"--logdir={logdir!r} is not a folder; pass a run folder written by zoo.train.")
  return config_lib.load(logdir)


def latest_checkpoint(logdir: str, log=print, doing: str = "using"):
  """The newest readable checkpoint of a run, or None if it has none.

  An unreadable newer one (a crash during a save, a truncated copy) is named in a warning and skipped;
  when every checkpoint is unreadable, a ValueError says so rather than silently starting over.
  """
  path, skipped = checkpoints.newest_readable(checkpoint_dir(logdir))
  if skipped:
    if path is None:
      raise ValueError(f"{checkpoints.fallback_warning(path, skipped)} Move {checkpoint_dir(logdir)} "
                       "aside to start over, or restore it from a backup.")
    log(f"warning: {checkpoints.fallback_warning(path, skipped, doing)}")
  return path


def checkpoint_number(path: str) -> int:
  """N of ".../ckpt-N": steps over all phases when the checkpoint was written."""
  match = re.search(r"ckpt-(\d+)$", path)
  if not match:
    raise ValueError(f"{path} is not a checkpoint path of the form .../ckpt-N.")
  return int(match.group(1))


def gan_step(path: str) -> int:
  """The GAN step stored in a checkpoint (its number also counts pretraining steps)."""
  return int(tf.train.load_checkpoint(path).get_tensor(GAN_STEP_KEY))


def images_seen(config, step: int) -> int:
  """Real images shown to D in `step` GAN steps: one batch per D update."""
  return step * config.batch_size * config.d_steps


def has_ema(config) -> bool:
  return getattr(config, "ema_decay", 0.0) > 0


def restore_generator(logdir: str, use_ema: bool = True, spec=None, log=print, checkpoint=None):
  """(generator, config) of a run's newest readable checkpoint (or of `checkpoint`).

  With `use_ema` (the default) a run trained with --ema_decay gives its EMA generator, the one its
  grids show; `use_ema=False` gives the raw G.
  """
  config = load_config(logdir)
  spec = spec or models.get_model(config.model)
  path = checkpoint or latest_checkpoint(logdir, log, doing="restoring G from")
  if path is None:
    raise FileNotFoundError(f"No checkpoint in {checkpoint_dir(logdir)}: train the model first.")
  generator = build_generator(config, spec)
  name = GENERATOR_EMA if use_ema and has_ema(config) else GENERATOR
  tf.train.Checkpoint(**{name: generator}).restore(path).expect_partial()
  return generator, config


def build_generator(config, spec):
  """A freshly initialised G of the run's architecture and precision."""
  image_shape = data.image_shape(config.dataset, config.image_size, config.data_dir)
  with layers.dtype_policy(config.precision):
    return spec.build_generator(config, image_shape)
