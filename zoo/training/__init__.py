"""The one shared GAN trainer, cut by concern.

  loop.py         fit(): the run checked and locked, phases of compiled calls, resume, hooks in between
  hooks.py        what runs between calls: progress, grids, evaluation, checkpoints
  trainer.py      GANTrainer: a run's state, steps, input pipeline and grids put together
  state.py        the variables a checkpoint holds (G, D, EMA G, optimisers, ADA, step counters)
  objective.py    what D and G minimise: loss family, penalties, D's input path (DiffAugment or ADA)
  step.py         the GAN step: the objective's gradients and the optimiser updates, one metrics dict
  phases.py       a phase as a plain value, and the compiled multi-step loop
  pretraining.py  a model's supervised phase before the GAN phase
  grids.py        the sample and reconstruction grids

The recipe the objective applies (loss family, penalties, EMA, DiffAugment, ADA, spectral norm) is
zoo/recipe/.
"""
from zoo.training.loop import NonFiniteLossError, TrainingInterrupted, fit
from zoo.training.trainer import GANTrainer

__all__ = ["GANTrainer", "NonFiniteLossError", "TrainingInterrupted", "fit"]
