"""`image_gan`: image restoration as conditional image-to-image translation (article 004).
Importing the package registers the model.

model.py          defaults, options, the trainer's hooks and the registration
networks.py       the U-Net generator and the (input, output) pair discriminator
degradations.py   the seeded degradations of each task (denoise, inpaint, superres, colorize)
"""
from zoo.models.image_gan import model  # noqa: F401  (registers the model)
