"""What the loop does between compiled calls, each a small hook: progress, grids, evaluation, checkpoints.

A hook says how often it runs (`every`, in steps of its phase; it also runs at the end of a phase) and
what it does then (`run(moment)`); `record` sees every call's metrics. The loop returns to Python at
the next step any hook is due, so adding a hook never means editing the loop.
"""
import dataclasses
import os
import time
from typing import Callable

import tensorflow as tf

from zoo import images
from zoo.training import phases

_LABELS = {"d_real": "D(x)", "d_fake": "D(G(z))"}


@dataclasses.dataclass
class Moment:
  """Where the loop is when it returns to Python."""
  phase: "object"         # zoo.training.phases.Phase
  step: int               # the phase's own step
  global_step: int        # steps over all phases: checkpoint numbers and TensorBoard steps
  done: bool              # the phase has reached its last step
  # Whether SIGINT/SIGTERM has arrived (save and stop), asked when needed: a signal may come while
  # an earlier hook runs.
  interrupted: Callable[[], bool]
  values: dict            # what earlier hooks of this moment reported (progress means, eval scores)


class Hook:
  every = 0

  def due(self, moment) -> bool:
    return moment.done or bool(self.every and moment.step % self.every == 0)

  def record(self, metrics, num_steps, seconds):
    """Called after every compiled call with its metrics: {name: mean over the call's steps}."""

  def run(self, moment):
    """Does the hook's job; may add entries to `moment.values`."""


class Progress(Hook):
  """Running means between log points, images/s and the ETA: TensorBoard scalars and the terminal line."""

  def __init__(self, config, trainer, phase, start_step, log):
    self.every = config.log_every
    self.batch_size = config.batch_size
    self.trainer = trainer
    self.phase = phase
    self.start_step = start_step
    self.log = log
    self.start_time = time.time()
    self.traced = False
    self._reset()

  def _reset(self):
    self.sums = {}
    self.steps = 0
    self.timed_steps = 0
    self.busy_seconds = 0.0

  def record(self, metrics, num_steps, seconds):
    for name, value in metrics.items():
      self.sums[name] = self.sums.get(name, 0.0) + value * num_steps
    self.steps += num_steps
    if self.traced:  # the first call of a phase also traces and compiles the step: not its speed
      self.timed_steps += num_steps
      self.busy_seconds += seconds
    self.traced = True

  def run(self, moment):
    means = {name: total / max(self.steps, 1) for name, total in self.sums.items()}
    if self.timed_steps:
      means["images_per_second"] = self.timed_steps * self.batch_size / max(self.busy_seconds, 1e-9)
    means.update(self.trainer.extra_scalars(self.phase))
    for name, value in means.items():
      tf.summary.scalar(f"{self.phase.name}/{name}", value, step=moment.global_step)
    self.log(self._line(moment.step, means))
    moment.values.update(means)
    self._reset()

  def _line(self, step, means):
    elapsed = time.time() - self.start_time
    eta = elapsed / max(step - self.start_step, 1) * (self.phase.total_steps - step)
    values = " ".join(f"{_LABELS.get(name, name)} {means[name]:.4f}" for name in self.sums)
    extra = "".join(f" | {name} {value:.4f}" for name, value in means.items()
                    if name not in self.sums and name != "images_per_second")
    speed = f"{means['images_per_second']:.0f} img/s" if "images_per_second" in means else "tracing"
    prefix = "" if self.phase.name == phases.GAN else f"{self.phase.name} "
    return f"{prefix}step {step}/{self.phase.total_steps} | {values} | {speed} | ETA {duration(eta)}{extra}"


class Grid(Hook):
  """The phase's grid image to TensorBoard and, on the chief, to samples/<prefix>step_N.png."""

  def __init__(self, config, trainer, phase, samples_dir, chief):
    self.every = config.image_every
    self.trainer = trainer
    self.phase = phase
    self.samples_dir = samples_dir
    self.chief = chief

  def run(self, moment):
    grid = self.trainer.grid(self.phase)
    tf.summary.image(self.phase.grid_tag, grid[None], step=moment.global_step)
    if self.chief:
      prefix = "" if self.phase.name == phases.GAN else f"{self.phase.name}_"
      images.write_png(os.path.join(self.samples_dir, f"{prefix}step_{moment.step:08d}.png"), grid)


class Evaluation(Hook):
  """`evaluator(step) -> {name: value}` every --eval_every steps, to TensorBoard under eval/ and one line."""

  SHOWN = ("fid", "precision", "recall", "modes_covered")  # the line's share of what is logged

  def __init__(self, every, evaluator, log):
    self.every = every
    self.evaluator = evaluator
    self.log = log

  def run(self, moment):
    scores = self.evaluator(moment.step)
    for name, value in scores.items():
      tf.summary.scalar(f"eval/{name}", value, step=moment.global_step)
      moment.values[f"eval/{name}"] = value
    shown = " ".join(f"{name} {scores[name]:.4g}" for name in self.SHOWN if name in scores)
    self.log(f"eval at step {moment.step} | {shown}")


class Checkpoint(Hook):
  """A checkpoint every --checkpoint_every steps, at a phase's end, and when a signal arrives."""

  def __init__(self, config, manager):
    self.every = config.checkpoint_every
    self.manager = manager

  def due(self, moment):
    return moment.interrupted() or super().due(moment)

  def run(self, moment):
    save_checkpoint(self.manager, moment.global_step)  # every worker takes part (collectives)


class CheckpointWriteError(OSError):
  """A checkpoint could not be written (a full disk, a read-only folder); the message is one line."""

  def __str__(self):
    return self.args[0]


def save_checkpoint(manager, global_step):
  """Saves a checkpoint numbered `global_step`; on failure, one line naming the folder, the reason and
  the checkpoint that is kept (the manager replaces its index only after the files are written)."""
  try:
    manager.save(checkpoint_number=global_step)
  except (tf.errors.OpError, OSError) as e:
    reason = (getattr(e, "message", None) or str(e)).strip().splitlines()[0]
    kept = (f"{manager.latest_checkpoint} is kept" if manager.latest_checkpoint
            else "no earlier checkpoint exists")
    raise CheckpointWriteError(
        f"could not write the checkpoint of step {global_step} into {manager.directory} ({reason}); "
        f"{kept}. Free space there and run the same command to resume.") from None


def duration(seconds):
  seconds = int(seconds)
  return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else \
      f"{seconds // 60}m{seconds % 60:02d}s"
