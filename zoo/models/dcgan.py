"""`dcgan`: the convolutional GAN of article 003 (../shared/SPEC.md section 4), resolution-flexible.

Generator: z(100) -> Dense(4*4*512, L2) [-> BN] -> ReLU -> Reshape(4, 4, 512) -> [ConvT(f, 4, 2) L2 -> BN
-> ReLU] per doubling, f = 256, 128, 64 at 64x64 -> ConvT(C, 4, 2) -> tanh; L2 is 0.01 in the article,
off by default here; the BN on the projection is not the article's and on by default here. The number
of doublings follows the image size (4 -> 8 -> ... -> size), the last layer's channels the dataset's.
Discriminator: Conv(64, 4, 2) -> LReLU(0.2) -> Dropout(0.3) -> Conv(128, 4, 2) -> LReLU(0.2)
-> Dropout(0.3) -> Flatten -> Dense(1) logit; the discriminator_convolutions option adds stages of the
same pattern (256, 512 filters) as the DCGAN paper's deeper D.
The layers whose Keras kernels are slow on CPUs come from zoo/layers.py (same weights and arithmetic).
Every departure from the article is listed, with its reason, in docs/dcgan.md.
"""
import keras
import tensorflow as tf
from keras import layers

from zoo import layers as zoo_layers
from zoo.models.registry import ModelSpec, Option, register

DEFAULTS = {
    # The article's configuration: 64x64x3 faces (its references point to CelebA), latent 100,
    # Adam(2e-4, beta_1=0.5), tanh output. Offline, pass --dataset=mnist or --dataset=fashion_mnist.
    "dataset": "celeb_a",
    "image_size": 64,
    "latent_dim": 100,
    "batch_size": 64,                 # the article leaves it undefined; 64 is the DCGAN paper's order
    "g_learning_rate": 2e-4,
    "d_learning_rate": 2e-4,
    "beta_1": 0.5,
    "steps": 1000,                    # ~1 MNIST epoch; wall time on this CPU in docs/dcgan.md
    "log_every": 50,
    "image_every": 100,               # frames of the training-progress GIF
    "checkpoint_every": 500,
}
TUNING = {
    # The fastest setting for the tutorial DCGAN on this CPU (docs/performance.md); separate real and
    # fake D passes also keep the discriminator_batchnorm option's statistics apart, as in DCGAN.
    "steps_per_call": 4,
    "joint_discriminator_pass": False,
}

# Dropout can be switched off to compare replica counts exactly (Keras draws each replica's mask from
# the same seed state, so 2 replicas draw different masks).
OPTIONS = {
    "discriminator_dropout": Option(0.3, "Dropout rate after each D convolution (the article's 0.3)."),
    "generator_l2": Option(0.0, "L2 weight on G's kernels; the article's 0.01 shrinks G's kernels ~25x "
                           "in 300 steps under Adam until G ignores z (docs/dcgan.md)."),
    "discriminator_batchnorm": Option(False, "BatchNorm after each D convolution but the first (DCGAN "
                                      "paper)."),
    "discriminator_convolutions": Option(2, "Stride-2 convolutions in D, filters doubling from 64: the "
                                         "article's 2; the DCGAN paper's D has 4 at 64x64."),
    "generator_dense_batchnorm": Option(True, "BatchNorm on G's projection (DCGAN paper, TF tutorial; "
                                        "not the article's): without it G collapses (docs/dcgan.md)."),
    "discriminator_filters": Option(64, "Filters of D's first convolution (the article's 64), doubling "
                                    "per convolution."),
    "generator_filters": Option(512, "Filters of G's 4x4 seed (the article's 512), halving per doubling."),
    "weight_init": Option("glorot_uniform", "Kernel initializer: Keras' default, which the article's code "
                          "gets, or dcgan_normal, N(0, 0.02) as in the DCGAN paper.",
                          choices=("glorot_uniform", "dcgan_normal")),
}
# The article's exact networks: its L2(0.01) on G's kernels and no BatchNorm on G's projection.
ARTICLE = {"options": {"generator_l2": 0.01, "generator_dense_batchnorm": False}}

SEED_SIZE = 4                  # the generator starts from a 4x4 feature map
LEAKY_SLOPE = 0.2


def upsampling_filters(image_size, seed_filters=512):
  """Filters of the BN'd ConvT stages: halving from `seed_filters` per doubling, e.g. (256, 128, 64)
  at 64 from the article's 512."""
  doublings = (image_size // SEED_SIZE).bit_length() - 1
  if image_size < 2 * SEED_SIZE or SEED_SIZE * 2**doublings != image_size:
    raise ValueError(f"dcgan needs a square image of side 4*2^k (8, 16, 32, 64, 128, ...), got "
                     f"{image_size}; set --image_size, e.g. --image_size=64.")
  return tuple(seed_filters // 2**(i + 1) for i in range(doublings - 1))


def check_options(config, image_shape):
  height, width, _ = image_shape
  if height != width:
    raise ValueError(f"dcgan needs square images, got {height}x{width}; set --image_size.")
  upsampling_filters(height)
  convolutions = config.options["discriminator_convolutions"]
  if convolutions < 1 or height % 2**convolutions:
    raise ValueError(f"--discriminator_convolutions={convolutions} needs a positive count whose 2^count "
                     f"divides the image size {height}; the article's is 2.")
  dropout = config.options["discriminator_dropout"]
  if not 0 <= dropout < 1:
    raise ValueError(f"--discriminator_dropout must be in [0, 1), got {dropout}.")
  if config.options["generator_l2"] < 0:
    raise ValueError(f"--generator_l2 must be 0 or more, got {config.options['generator_l2']}.")


def _initializer(config):
  if config.options["weight_init"] == "dcgan_normal":  # N(0, 0.02), the DCGAN paper's
    return keras.initializers.RandomNormal(stddev=0.02)
  return config.options["weight_init"]


def _batch_norm():
  # Replicas must normalise over the global batch, or 2 replicas would train a different model
  # than 1; synchronising costs a cross-replica reduction, so it is only switched on when needed.
  replicas = tf.distribute.get_strategy().num_replicas_in_sync
  return zoo_layers.BatchNormalization(synchronized=replicas > 1)


def build_generator(config, image_shape):
  height, _, channels = image_shape
  l2 = config.options["generator_l2"]
  regularizer = keras.regularizers.l2(l2) if l2 else None
  z = keras.Input([config.latent_dim], name="z")
  init = _initializer(config)
  seed_filters = config.options["generator_filters"]
  if config.options["generator_dense_batchnorm"]:  # BN's offset replaces the Dense bias
    x = layers.Dense(SEED_SIZE * SEED_SIZE * seed_filters, use_bias=False, kernel_initializer=init,
                     kernel_regularizer=regularizer)(z)
    x = layers.Activation("relu")(_batch_norm()(x))
  else:
    x = layers.Dense(SEED_SIZE * SEED_SIZE * seed_filters, activation="relu", kernel_initializer=init,
                     kernel_regularizer=regularizer)(z)
  x = layers.Reshape((SEED_SIZE, SEED_SIZE, seed_filters))(x)  # [B, 4, 4, 512] in the article
  for filters in upsampling_filters(height, seed_filters):
    x = zoo_layers.Conv2DTranspose(filters, 4, strides=2, padding="same", kernel_initializer=init,
                                   kernel_regularizer=regularizer)(x)
    x = _batch_norm()(x)
    x = layers.Activation("relu")(x)
  x = zoo_layers.Conv2DTranspose(channels, 4, strides=2, padding="same", kernel_initializer=init)(x)
  images = layers.Activation("tanh", dtype="float32")(x)  # float32 output under mixed precision
  return keras.Model(z, images, name="dcgan_generator")


def build_discriminator(config, image_shape):
  dropout_rate = config.options["discriminator_dropout"]
  images = keras.Input(image_shape, name="images")
  init = _initializer(config)
  x = images
  for i in range(config.options["discriminator_convolutions"]):
    filters = config.options["discriminator_filters"] * 2**i
    x = layers.Conv2D(filters, 4, strides=2, padding="same", kernel_initializer=init)(x)
    if i > 0 and config.options["discriminator_batchnorm"]:
      x = _batch_norm()(x)
    x = zoo_layers.LeakyReLU(negative_slope=LEAKY_SLOPE)(x)
    x = zoo_layers.Dropout(dropout_rate)(x)
  x = layers.Flatten()(x)
  # [B, 1]; the article's sigmoid moves into the loss
  logits = layers.Dense(1, dtype="float32", kernel_initializer=init)(x)
  return keras.Model(images, logits, name="dcgan_discriminator")


SPEC = register(ModelSpec(
    name="dcgan",
    build_generator=build_generator,
    build_discriminator=build_discriminator,
    defaults=DEFAULTS,
    options=OPTIONS,
    tuning=TUNING,
    recipes={"article": ARTICLE},
    check_options=check_options,
    # Dropout off: Keras draws each replica's masks from the same seed state, so 2 replicas would draw
    # different masks and the 1-vs-2-replica test could not compare them.
    smoke={"dataset": "mnist", "image_size": 16, "options": {"discriminator_dropout": 0.0}},
    pixel_range="symmetric",  # tanh output
    description="DCGAN, 64x64 by default (article 003)",
))
