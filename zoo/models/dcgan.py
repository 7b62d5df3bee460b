"""`dcgan`: the convolutional GAN of article 003 (../shared/SPEC.md section 4), resolution-flexible.

Generator: z(100) -> Dense(4*4*F) [-> BN] -> ReLU -> Reshape(4, 4, F) -> [ConvT(f, 4, 2) -> BN -> ReLU]
per doubling, f halving from F -> ConvT(C, 4, 2) -> tanh. The number of doublings follows the image size
(4 -> 8 -> ... -> size), the last layer's channels the dataset's.
Discriminator: [Conv(64 * 2^i, 4, 2) [-> BN] -> LReLU(0.2) [-> Dropout]] per convolution -> Flatten
-> Dense(1) logit.

Two configurations (docs/dcgan.md says why):
- the default, the standard DCGAN recipe that trains well here: 32x32 MNIST, F = 256, BN on G's
  projection, a 3-convolution D with BN, N(0, 0.02) init, no dropout, G's moving average;
- `--recipe=article`, the article's exact networks: 64x64, F = 512, no BN on the projection, L2(0.01)
  on G's kernels, a 2-convolution D with dropout 0.3 and no BN, Keras' default init.
"""
from zoo.models import conditioning
from zoo.models.registry import ModelSpec, Option, images_and_label, noise_and_label, register
from zoo.models.registry import keras, layers  # imported when the first network is built
from zoo.recipe import regularizers

DEFAULTS = {
    # What trains well on a 2-core CPU (docs/recipe.md): the standard DCGAN recipe (pytorch/examples, the
    # DCGAN paper's D) on 28x28 digits zero-padded to 32x32, with G's moving average. 600,000 images seen,
    # as the reference recipe. The article's 64x64 faces are --recipe=article.
    "dataset": "mnist",
    "image_size": 32,
    "image_resize": "pad",
    "latent_dim": 100,
    "batch_size": 64,
    "g_learning_rate": 2e-4,
    "d_learning_rate": 2e-4,
    "beta_1": 0.5,
    "ema_decay": 0.999,
    "steps": 9375,                    # 600,000 images
    "log_every": 100,
    "image_every": 500,               # frames of the training-progress GIF
    "checkpoint_every": 1000,
}
TUNING = {
    # The fastest setting for the tutorial DCGAN on this CPU (docs/performance.md); separate real and
    # fake D passes also keep the BatchNorm statistics of real and fake batches apart, as in DCGAN.
    "steps_per_call": 4,
    "joint_discriminator_pass": False,
}

OPTIONS = {
    "discriminator_dropout": Option(0.0, "Dropout rate after each D convolution (the article's 0.3)."),
    "generator_l2": Option(0.0, "L2 weight on G's kernels; the article's 0.01 shrinks G's kernels ~25x "
                           "in 300 steps under Adam until G ignores z (docs/dcgan.md)."),
    "discriminator_batchnorm": Option(True, "BatchNorm after each D convolution but the first (DCGAN "
                                      "paper; not the article's)."),
    "discriminator_convolutions": Option(0, "Stride-2 convolutions in D, filters doubling; 0: down to "
                                         "4x4 as in the DCGAN paper's D (3 at 32x32, 4 at 64x64); the "
                                         "article's 2."),
    "generator_conv_bias": Option(False, "Biases on G's BatchNorm'd transposed convolutions: the "
                                  "article's; BN's offset makes them redundant, as in the DCGAN reference."),
    "generator_dense_batchnorm": Option(True, "BatchNorm on G's projection (DCGAN paper, TF tutorial; "
                                        "not the article's): without it G collapses (docs/dcgan.md)."),
    "discriminator_filters": Option(64, "Filters of D's first convolution (the article's 64), doubling "
                                    "per convolution."),
    "generator_filters": Option(256, "Filters of G's 4x4 seed, halving per doubling: 256 as the DCGAN "
                                "reference at 32x32; the article's 512 costs ~4x the FLOPs."),
    "weight_init": Option("dcgan_normal", "Kernel initializer: dcgan_normal, N(0, 0.02) as in the DCGAN "
                          "paper, or glorot_uniform, Keras' default, which the article's code gets.",
                          choices=("glorot_uniform", "dcgan_normal")),
}
# The article's exact configuration (../shared/SPEC.md, seed 003): 64x64 faces, a 512-channel seed, no
# BatchNorm on G's projection, L2(0.01) on G's kernels, a 2-convolution D with dropout 0.3 and no
# BatchNorm, Keras' default init, no moving average of G.
ARTICLE = {"dataset": "celeb_a", "image_size": 64, "image_resize": "area", "ema_decay": 0.0,
           "options": {"discriminator_dropout": 0.3, "generator_l2": 0.01, "discriminator_batchnorm": False,
                       "discriminator_convolutions": 2, "generator_dense_batchnorm": False,
                       "generator_filters": 512, "weight_init": "glorot_uniform",
                       "generator_conv_bias": True}}

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
  if convolutions < 0 or height % 2**convolutions:
    raise ValueError(f"--discriminator_convolutions={convolutions} needs 0 (down to 4x4) or a count whose "
                     f"2^count divides the image size {height}; the article's is 2.")
  dropout = config.options["discriminator_dropout"]
  if not 0 <= dropout < 1:
    raise ValueError(f"--discriminator_dropout must be in [0, 1), got {dropout}.")
  if config.options["generator_l2"] < 0:
    raise ValueError(f"--generator_l2 must be 0 or more, got {config.options['generator_l2']}.")
  options = config.options
  if options["discriminator_batchnorm"] and discriminator_convolutions(config, height) > 1:
    regularizers.refuse_with_batchnorm(config, "add --nodiscriminator_batchnorm (docs/recipe.md)")
  conditioning.check_options(config, image_shape)


def _initializer(config):
  if config.options["weight_init"] == "dcgan_normal":  # N(0, 0.02), the DCGAN paper's
    return keras.initializers.RandomNormal(stddev=0.02)
  return config.options["weight_init"]


def _generator_batch_norm(config, x, label):
  """G's BatchNorm; per-class scale and offset in a conditional run with conditional_batchnorm."""
  from zoo import distribute  # it loads TensorFlow: imported when a network is built, as Keras is
  if label is None or not config.options["conditional_batchnorm"]:
    return distribute.replica_batch_norm()(x)
  return conditioning.conditional_batch_norm(x, label, conditioning.num_classes(config),
                                            distribute.replica_batch_norm)


def build_generator(config, image_shape):
  height, _, channels = image_shape
  l2 = config.options["generator_l2"]
  regularizer = keras.regularizers.l2(l2) if l2 else None
  inputs, z, label = conditioning.generator_inputs(config)  # z, or z joined with the label's embedding
  init = _initializer(config)
  seed_filters = config.options["generator_filters"]
  if config.options["generator_dense_batchnorm"]:  # BN's offset replaces the Dense bias
    x = layers.Dense(SEED_SIZE * SEED_SIZE * seed_filters, use_bias=False, kernel_initializer=init,
                     kernel_regularizer=regularizer)(z)
    x = layers.Activation("relu")(_generator_batch_norm(config, x, label))
  else:
    x = layers.Dense(SEED_SIZE * SEED_SIZE * seed_filters, activation="relu", kernel_initializer=init,
                     kernel_regularizer=regularizer)(z)
  x = layers.Reshape((SEED_SIZE, SEED_SIZE, seed_filters))(x)  # [B, 4, 4, 512] in the article
  for filters in upsampling_filters(height, seed_filters):
    x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", kernel_initializer=init,
                               kernel_regularizer=regularizer,
                               use_bias=config.options["generator_conv_bias"])(x)
    x = _generator_batch_norm(config, x, label)
    x = layers.Activation("relu")(x)
  x = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", kernel_initializer=init)(x)
  images = layers.Activation("tanh", dtype="float32")(x)  # float32 output under mixed precision
  return keras.Model(inputs, images, name="dcgan_generator")


def discriminator_convolutions(config, image_size):
  """D's stride-2 convolutions: the option, or with 0 as many as bring the image down to 4x4."""
  return config.options["discriminator_convolutions"] or (image_size // SEED_SIZE).bit_length() - 1


def build_discriminator(config, image_shape):
  from zoo import distribute  # it loads TensorFlow: imported when a network is built, as Keras is
  dropout_rate = config.options["discriminator_dropout"]
  inputs, images, label = conditioning.discriminator_inputs(config, image_shape)
  init = _initializer(config)
  x = conditioning.join_label(config, images, label)  # --conditional=concat: K one-hot planes appended
  for i in range(discriminator_convolutions(config, image_shape[0])):
    filters = config.options["discriminator_filters"] * 2**i
    normalized = i > 0 and config.options["discriminator_batchnorm"]
    # BatchNorm's offset makes a bias before it redundant (its gradient is rounding noise, which Adam
    # turns into steps of random sign).
    x = layers.Conv2D(filters, 4, strides=2, padding="same", kernel_initializer=init,
                      use_bias=not normalized)(x)
    if normalized:
      x = distribute.replica_batch_norm()(x)
    x = layers.LeakyReLU(negative_slope=LEAKY_SLOPE)(x)
    x = layers.Dropout(dropout_rate)(x)
  x = layers.Flatten()(x)
  # [B, 1]; the article's sigmoid moves into the loss
  logits = layers.Dense(1, dtype="float32", kernel_initializer=init)(x)
  logits = conditioning.projection(config, x, label, logits)  # --conditional=projection
  return keras.Model(inputs, logits, name="dcgan_discriminator")


SPEC = register(ModelSpec(
    name="dcgan",
    build_generator=build_generator,
    build_discriminator=build_discriminator,
    defaults=DEFAULTS,
    options={**OPTIONS, **conditioning.OPTIONS, **conditioning.BATCH_NORM_OPTIONS},
    tuning=TUNING,
    recipes={"article": ARTICLE},
    check_options=check_options,
    # 16x16 by area (padding cannot shrink 28x28 digits); D without BatchNorm, so that the recipe tests
    # can turn its penalties on (the "batchnorm_d" variant covers the default D).
    smoke={"image_size": 16, "image_resize": "area", "options": {"discriminator_batchnorm": False}},
    # Class-conditional (zoo/models/conditioning.py): projection D with conditional BatchNorm in G, and
    # the one-hot input concatenation with G's plain BatchNorm.
    variants={"default": {}, "batchnorm_d": {"options": {"discriminator_batchnorm": True}},
              "projection": {"options": {"conditional": "projection"}},
              "concat": {"options": {"conditional": "concat", "conditional_batchnorm": False}}},
    generator_input=noise_and_label,
    discriminator_input=images_and_label,
    classes=conditioning.num_classes,
    pixel_range="symmetric",  # tanh output
    description="DCGAN (article 003): 32x32 MNIST by default, --recipe=article for its 64x64 faces",
))
