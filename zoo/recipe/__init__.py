"""The modern GAN recipe, one small module each, chosen per run by config (docs/recipe.md):

  losses.py         loss families: non_saturating, hinge, wasserstein, least_squares, relativistic
  regularizers.py   R1, R2 and the WGAN-GP gradient penalty, computed from D and its inputs
  augment.py        DiffAugment: translation, cutout, color, drawn statelessly from (seed, step)
  ada.py            adaptive discriminator augmentation: the StyleGAN2-ADA pipeline and its p controller
  ema.py            the exponential moving average of G's weights
  spectral_norm.py  spectral normalisation of D's layers

They import nothing else from the zoo; zoo/training/step.py and state.py put them together.
"""
