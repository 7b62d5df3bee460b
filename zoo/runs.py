"""A run folder, read in one place: its config, its checkpoints, how far it got, its generator.

  <logdir>/config.json            the resolved TrainConfig (zoo/config.py)
  <logdir>/checkpoints/ckpt-N.*   N counts steps over all phases (pretraining + GAN steps)
  <logdir>/samples/step_N.png     sample grids
  <logdir>/codecs/<model id>/     compression_gan codecs that encoded files (zoo.compress), never rotated
  <logdir>/train.lock             held while a trainer runs (zoo/runlock.py)
  <logdir>/events.out.tfevents.*  TensorBoard

Every command-line tool goes through these functions; none parses checkpoint internals itself.
"""
import os
import re
from typing import NamedTuple

import tensorflow as tf

from zoo import checkpoints
from zoo import config as config_lib
from zoo import data
from zoo import hardware
from zoo import models

CHECKPOINTS = "checkpoints"
SAMPLES = "samples"
CODECS = "codecs"
# Names of the objects in a training checkpoint (zoo/training/state.py writes them).
GENERATOR = "generator"
GENERATOR_EMA = "generator_ema"
GAN_STEP_KEY = "step/.ATTRIBUTES/VARIABLE_VALUE"
VANISHED_RETRIES = 3  # a trainer rotates one checkpoint per save, so a few retries always find a newer one


def checkpoint_dir(logdir: str) -> str:
  return os.path.join(logdir, CHECKPOINTS)


def codec_dir(logdir: str) -> str:
  return os.path.join(logdir, CODECS)


def checkpoint_paths(logdir: str) -> list:
  """Prefixes of the run's checkpoints that have an index file, newest (highest N) first."""
  found = []
  for name in os.listdir(checkpoint_dir(logdir)) if os.path.isdir(checkpoint_dir(logdir)) else []:
    match = re.fullmatch(r"ckpt-(\d+)\.index", name)
    if match:
      found.append((int(match.group(1)), os.path.join(checkpoint_dir(logdir), name[:-len(".index")])))
  return [path for _, path in sorted(found, reverse=True)]


def checkpoint_path(logdir: str, checkpoint: str) -> str:
  """The prefix `checkpoint` names: N (ckpt-N of the run), ckpt-N, or a path; a ValueError if it has none."""
  checkpoint = str(checkpoint).strip()
  if checkpoint.isdigit():
    checkpoint = f"ckpt-{checkpoint}"
  path = checkpoint if os.sep in checkpoint else os.path.join(checkpoint_dir(logdir), checkpoint)
  path = path[:-len(".index")] if path.endswith(".index") else path
  if not os.path.exists(path + ".index"):
    kept = ", ".join(os.path.basename(p) for p in checkpoint_paths(logdir)) or "none"
    raise ValueError(f"--checkpoint={checkpoint!r}: {path}.index does not exist (the run's checkpoints: "
                     f"{kept}).")
  return path


def load_config(logdir: str):
  if not os.path.isdir(logdir):
    raise FileNotFoundError(f"--logdir={logdir!r} is not a folder; pass a run folder written by zoo.train.")
  config_path = os.path.join(logdir, config_lib.CONFIG_FILE)
  if not os.path.exists(config_path) and os.path.isdir(checkpoint_dir(logdir)):
    raise FileNotFoundError(f"{config_path} is missing, though {logdir} "
                            "holds checkpoints: the run's config was deleted or never copied; restore it "
                            "from a backup (its checkpoints cannot be read without it).")
  config = config_lib.load(logdir)
  if config.model not in models.list_models():
    raise ValueError(f"{config_path} names model {config.model!r}, which this zoo does not have (its "
                     f"models: {', '.join(models.list_models())}); was the run folder edited by hand?")
  return config


def package_config(name: str, data_dir=None):
  """The TrainConfig of pretrained package `name` (zoo/pretrained.py), reading its dataset from `data_dir`
  (default: $TFDS_DATA_DIR or TFDS's own) instead of the folder of the machine that trained it."""
  import dataclasses
  from zoo import pretrained
  return dataclasses.replace(config_lib.load(pretrained.locate(name)), data_dir=data_dir)


def latest_checkpoint(logdir: str, log=print, doing: str = "using", vanished=()):
  """The newest readable checkpoint of a run, or None if it has none.

  An unreadable newer one (a crash during a save, a truncated copy) is named in a warning and skipped;
  when every checkpoint is unreadable, a ValueError says so rather than silently starting over. The
  checkpoints in `vanished` are skipped silently: the caller has already said they are gone.
  """
  path, skipped = checkpoints.newest_readable(checkpoint_dir(logdir))
  skipped = [s for s in skipped if os.path.normpath(s.path) not in {os.path.normpath(v) for v in vanished}]
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
  restored = restore_generator_and_path(logdir, use_ema, spec, log, checkpoint)
  return restored.generator, restored.config


class Restored(NamedTuple):
  generator: object
  config: object
  path: str          # the checkpoint it came from
  step: int | None   # the GAN step stored in it (None for a checkpoint without one)


def restore_generator_and_path(logdir: str, use_ema: bool = True, spec=None, log=print, checkpoint=None,
                               doing: str = "restoring G from") -> Restored:
  """As restore_generator, with the checkpoint it was restored from and its GAN step.

  A trainer still running in the folder rotates its checkpoints, so the newest one can vanish between
  being picked and being read: then the then-newest is tried, and a vanished `checkpoint` given by the
  caller is one line. The step is read with the weights, so both come from the same checkpoint.
  """
  config = load_config(logdir)
  spec = spec or models.get_model(config.model)
  generator = build_generator(config, spec)
  name = GENERATOR_EMA if use_ema and has_ema(config) else GENERATOR
  steps = {}

  def restore(path):
    reader = tf.train.load_checkpoint(path)
    has_step = GAN_STEP_KEY in reader.get_variable_to_shape_map()
    steps[path] = int(reader.get_tensor(GAN_STEP_KEY)) if has_step else None
    tf.train.Checkpoint(**{name: generator}).restore(path).expect_partial()
  path = with_checkpoint(logdir, restore, log, doing, checkpoint)
  return Restored(generator, config, path, steps[path])


def with_checkpoint(logdir: str, use, log=print, doing: str = "using", checkpoint=None):
  """Calls `use(path)` on the run's newest readable checkpoint (or on `checkpoint`); returns the path.

  When the checkpoint vanishes while `use` reads it (NotFoundError, a missing file), the then-newest is
  used instead, up to VANISHED_RETRIES times; a vanished `checkpoint` of the caller's is one line.
  """
  tried = []
  for _ in range(VANISHED_RETRIES + 1):
    path = checkpoint or latest_checkpoint(logdir, log, doing, vanished=tried)
    if path is None:
      raise FileNotFoundError(f"No checkpoint in {checkpoint_dir(logdir)}: train the model first.")
    if path in tried:
      break
    try:
      use(path)
      return path
    except (tf.errors.NotFoundError, FileNotFoundError):
      tried.append(path)
      if checkpoint:
        raise FileNotFoundError(f"Checkpoint {checkpoint} vanished while it was being read (a trainer "
                                "rotating its checkpoints?); give one that exists.") from None
      log(f"warning: {os.path.basename(path)} vanished while it was being read (a trainer is rotating "
          "checkpoints); trying the newest one left.")
  raise FileNotFoundError(f"The checkpoints of {checkpoint_dir(logdir)} vanished while being read "
                          f"({', '.join(os.path.basename(p) for p in tried)}): is a trainer deleting them? "
                          "Try again when it has finished.")


def build_generator(config, spec):
  """A freshly initialised G of the run's architecture and precision."""
  image_shape = data.image_shape(config.dataset, config.image_size, config.data_dir)
  with hardware.precision_policy(config.precision):
    return spec.build_generator(config, image_shape)
