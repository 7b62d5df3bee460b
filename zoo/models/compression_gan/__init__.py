"""`compression_gan`: the GAN image codec of article 000. Importing the package registers the model.

model.py      defaults, options, the trainer's hooks and the registration
networks.py   encoder, quantiser, entropy prior, decoder (the article's G) and D
codec.py      the file format: header, ANS entropy coding, encode/decode of one trained run
"""
from zoo.models.compression_gan import model  # noqa: F401  (registers the model)
