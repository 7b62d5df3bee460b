"""The training loop: phases of compiled multi-step calls, with hooks in between, resumable at any step.

`fit(config)` trains (or resumes) the run in `config.logdir` to `config.steps`. A model with a
pretraining phase runs it first, then the adversarial phase; both share one checkpoint, and checkpoint
numbers and TensorBoard steps count steps over both.
"""
import contextlib
import os
import time

import tensorflow as tf

from zoo import checkpoints
from zoo import config as config_lib
from zoo import distribute
from zoo import models
from zoo import runlock
from zoo import runs
from zoo import signals as signals_lib
from zoo.training import hooks as hooks_lib
from zoo.training import phases as phases_lib
from zoo.training import trainer as trainer_lib


class NonFiniteLossError(RuntimeError):
  pass


class TrainingInterrupted(Exception):
  """Raised after SIGINT/SIGTERM once a checkpoint of the current step is written."""


def _checkpoint_dir(config, strategy):
  """Where this worker writes checkpoints: the chief into the run, others into their own folder.

  Non-chief workers keep theirs (checkpoints/.worker_<id>) so their weights can be checked against
  the chief's; only the chief's are read on resume.
  """
  directory = runs.checkpoint_dir(config.logdir)
  if distribute.is_chief(strategy):
    return directory
  _, task_id = distribute.task(strategy)
  return os.path.join(directory, f".worker_{task_id}")


def _check_resumable(config, log):
  """Refuses settings that would change what an existing checkpoint means; returns its path or None."""
  latest = (runs.latest_checkpoint(config.logdir, log, doing="resuming from")
            if os.path.isdir(config.logdir) else None)
  if latest is not None:
    config_lib.check_resumable(config_lib.load(config.logdir), config)
  return latest


def fit(config, strategy=None, spec=None, download=True, evaluator=None, log=print):
  """Trains (or resumes) the run in `config.logdir` to `config.steps`; returns the last logged values.

  `evaluator(generator, step) -> {name: value}` is called every `config.eval_every` GAN steps and its
  values go to TensorBoard under `eval/`. The run's settings are checked first (one-line ValueErrors),
  then the chief takes the run folder's lock (zoo/runlock.py); nothing is written to the run folder
  before the data has been opened.
  """
  strategy = strategy or tf.distribute.get_strategy()
  spec = spec or models.get_model(config.model)
  chief = distribute.is_chief(strategy)
  image_shape = trainer_lib.check(config, spec, download)
  with runlock.hold(config.logdir, log) if chief else contextlib.nullcontext():
    latest = _check_resumable(config, log)
    log(f"Training {config.model} on {config.dataset} with --strategy={config.strategy} "
        f"({strategy.num_replicas_in_sync} replica(s)) into {config.logdir}")
    trainer = trainer_lib.GANTrainer(config, strategy, spec, image_shape=image_shape)
    return _train(config, trainer, latest, chief, download, evaluator, log)


def _train(config, trainer, latest, chief, download, evaluator, log):
  manager = tf.train.CheckpointManager(trainer.checkpoint, _checkpoint_dir(config, trainer.strategy),
                                       max_to_keep=config.keep_checkpoints)
  if chief:  # what a save killed midway left behind (no save runs yet)
    checkpoints.remove_interrupted_saves(runs.checkpoint_dir(config.logdir))
  if latest is not None:
    if not trainer.state.restore(latest):
      log(f"{latest} predates saved Dropout seeds: resuming with fresh masks, so not bit-exactly.")
    log(f"Resumed from {latest} at step {int(trainer.step.numpy())}"
        + (f" (pretraining step {int(trainer.state.pretrain_step.numpy())})" if trainer.pretrained else "")
        + ".")
  phases = [p for p in trainer.phases() if int(trainer.counter(p).numpy()) < p.total_steps]
  if not phases:
    log(f"{config.logdir} has already reached step {int(trainer.step.numpy())} of {config.steps}; "
        "nothing to do.")
    return {}
  began, first_step = time.time(), trainer.state.global_step
  last = {}
  writer = None
  with signals_lib.SaveThenStop() as signals:
    for phase in phases:
      start = int(trainer.counter(phase).numpy())
      iterator = trainer.distributed_batches(start, download, phase.batches_per_step)
      if writer is None:  # the data is readable: now the run folder may be written
        writer = _open_run_folder(config, chief)
      if start == 0:
        trainer.start(phase)
      phase_hooks = _hooks(config, trainer, phase, start, manager, chief, evaluator, log)
      with writer.as_default():
        last = _run_phase(trainer, phase, iterator, start, phase_hooks, signals, manager)
  steps = trainer.state.global_step - first_step
  log(_summary(config, steps, time.time() - began))
  return last


def _open_run_folder(config, chief):
  if not chief:
    return tf.summary.create_noop_writer()
  config_lib.save(config)
  os.makedirs(os.path.join(config.logdir, runs.SAMPLES), exist_ok=True)
  return tf.summary.create_file_writer(config.logdir)


def _hooks(config, trainer, phase, start, manager, chief, evaluator, log):
  samples_dir = os.path.join(config.logdir, runs.SAMPLES)
  hooks = [hooks_lib.Progress(config, trainer, phase, start, log),
           hooks_lib.Grid(config, trainer, phase, samples_dir, chief)]
  if phase.evaluate and evaluator and config.eval_every:
    hooks.append(hooks_lib.Evaluation(config.eval_every,
                                      lambda step: evaluator(trainer.state.sampling_generator, step), log))
  hooks.append(hooks_lib.Checkpoint(config, manager))
  return hooks


def _next_stop(step, phase, phase_hooks):
  """The first step after `step` at which some hook is due, or the phase's end."""
  return min([phase.total_steps] + [(step // h.every + 1) * h.every for h in phase_hooks if h.every])


def _run_phase(trainer, phase, iterator, start, phase_hooks, signals, manager):
  """Runs one phase from its saved step to its end; returns the values of its last moment."""
  config = trainer.config
  label = "step" if phase.name == phases_lib.GAN else f"{phase.name} step"
  values = {}
  step = start
  while step < phase.total_steps:
    num_steps = min(config.steps_per_call, _next_stop(step, phase, phase_hooks) - step)
    began = time.time()
    metrics, bad_step = trainer.run(phase, iterator, num_steps)
    seconds = time.time() - began
    for hook in phase_hooks:
      hook.record(metrics, num_steps, seconds)
    if bad_step >= 0:
      kept = (f"the latest checkpoint, {manager.latest_checkpoint}, is the last good state"
              if manager.latest_checkpoint else "no checkpoint had been written yet")
      raise NonFiniteLossError(
          f"Non-finite loss at {label} {bad_step} (means of that call: {metrics}). Training "
          f"stopped; {kept}. Try lower learning rates or --precision=float32.")
    step += num_steps
    moment = hooks_lib.Moment(phase, step, trainer.state.global_step, step == phase.total_steps,
                              lambda: signals.received is not None, {})
    for hook in phase_hooks:
      if hook.due(moment):
        hook.run(moment)
    if moment.values:
      values = moment.values
    tf.summary.flush()
    if signals.received and not (moment.done and phase.name == phases_lib.GAN):
      _save_unless_saved(manager, trainer.state.global_step)
      raise TrainingInterrupted(f"{signals.received} received: saved {label} {step} to "
                                f"{manager.latest_checkpoint}; run the same command to resume.")
  return values


def _save_unless_saved(manager, global_step):
  """The stop is decided here, once: a signal that came after the checkpoint hook had decided not to
  save (during a later hook, or the summary flush) still gets this step saved before the loop stops."""
  latest = manager.latest_checkpoint
  if latest is None or latest.rsplit("-", 1)[-1] != str(global_step):
    hooks_lib.save_checkpoint(manager, global_step)


def _summary(config, steps, seconds):
  images = steps * config.batch_size
  return (f"Done: {steps} steps in {hooks_lib.duration(seconds)} ({images / max(seconds, 1e-9):.0f} img/s "
          f"overall); checkpoints in {runs.checkpoint_dir(config.logdir)}, samples in "
          f"{os.path.join(config.logdir, runs.SAMPLES)}, TensorBoard: tensorboard --logdir={config.logdir}")
