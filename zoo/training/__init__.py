"""The one shared GAN trainer, cut by concern.

  loop.py         fit(): phases of compiled multi-step calls, resume, signals, hooks in between
  hooks.py        what runs between calls: progress, grids, evaluation, checkpoints
  trainer.py      GANTrainer: a run's state, steps, input pipeline and grids put together
  state.py        the variables a checkpoint holds (G, D, EMA G, optimisers, step counters)
  step.py         the GAN step itself: D and G losses, penalties, augmentation, gradients and updates
  pretraining.py  a model's supervised phase before the GAN phase
  grids.py        the sample and reconstruction grids

The recipe the step applies (loss family, penalties, EMA, DiffAugment, spectral norm) is zoo/recipe/.
"""
from zoo.training.loop import NonFiniteLossError, TrainingInterrupted, fit
from zoo.training.trainer import GANTrainer

__all__ = ["GANTrainer", "NonFiniteLossError", "TrainingInterrupted", "fit"]
