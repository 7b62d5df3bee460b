"""`dense_gan`: the MLP GAN of article 001 (../shared/SPEC.md section 1), with its training bugs fixed.

Generator: z(100) -> Dense(128, relu) -> Dense(128, relu) -> Dense(1024, relu) -> Dense(784, sigmoid).
Discriminator: 784 -> Dense(128, relu) -> Dense(128, relu) -> Dense(1). The article's D ends in a
sigmoid; here D returns the logit and the loss applies the sigmoid (same model, stable loss).
Images enter flattened and leave reshaped, so the trainer sees [B, 28, 28, 1] like every other model.

The defaults depart from the article where measurement said so (docs/dense_gan.md): BatchNorm before
each hidden ReLU of G (without it the article's G collapses to one speckled image within a few hundred
steps), wider networks (G 256-512-1024; D 512-256, LeakyReLU, dropout 0.3: the article's 128-unit D
cannot tell speckled digits from clean ones), Adam 2e-4 and a moving average of G. `--recipe=article`
restores the article's layers and settings.

There is no class-conditional dense_gan: given a label, this G ignores its noise and draws one image per
class (docs/conditional.md), so `--conditional` is refused; conditional dcgan covers each class.
"""
import math

from zoo.models.registry import ModelSpec, Option, register
from zoo.models.registry import keras, layers  # imported when the first network is built

DEFAULTS = {
    "dataset": "mnist",
    "latent_dim": 100,
    "batch_size": 128,           # the article's batch
    "steps": 20000,              # ~43 epochs: recognisable digits in minutes on a 2-core CPU
    "g_learning_rate": 2e-4,     # at 600,000 images: FID 84 against 137 at 1e-4 (docs/recipe.md)
    "d_learning_rate": 2e-4,
    "beta_1": 0.5,
    "ema_decay": 0.999,
    "log_every": 200,
    "image_every": 500,
    "checkpoint_every": 1000,
}
# The article's exact configuration (../shared/SPEC.md section 1). It names Adam without settings, so the
# learning rates stay the zoo's first choice, 1e-4.
ARTICLE = {"g_learning_rate": 1e-4, "d_learning_rate": 1e-4, "ema_decay": 0.0,
           "options": {"generator_batch_norm": False, "generator_units": (128, 128, 1024),
                       "discriminator_units": (128, 128), "discriminator_activation": "relu",
                       "discriminator_dropout": 0.0}}
LEAKY_SLOPE = 0.2
TUNING = {
    "steps_per_call": 20,  # small layers: per-call overhead dominates, so amortise it
    # float32 whatever --precision=auto would pick. On the AVX512-BF16 EPYC the default run took 5.8 min
    # in float32 (FID 10.3, recall 0.71) against 19.9 min in mixed bfloat16 (FID 12.0, recall 0.72; the
    # other core busy in both): oneDNN's bfloat16 is slower for these small matrices, and its rounding
    # cost quality (docs/dense_gan.md).
    "precision": "float32",
}
OPTIONS = {
    "generator_batch_norm": Option(True, "BatchNorm before each hidden ReLU of G (not the article's; "
                                   "without it G collapses, docs/dense_gan.md)."),
    "generator_units": Option((256, 512, 1024),
                              "Units of G's hidden layers (the article's: 128, 128, 1024)."),
    "discriminator_units": Option((512, 256), "Units of D's hidden layers (the article's: 128, 128)."),
    "discriminator_activation": Option("leaky_relu", "Activation of D's hidden layers: the article's relu, "
                                       "or leaky_relu (slope 0.2).", choices=("relu", "leaky_relu")),
    "discriminator_dropout": Option(0.3, "Dropout after each hidden layer of D (the article has none)."),
    # Kept as an option, not dropped, so that asking for it says why not (check_options), and so that
    # run folders and packages written when it was offered still read. Its name is zoo.data's LABELS_OPTION.
    "conditional": Option("none", "Not offered for dense_gan (its G ignores the noise when given a "
                          "label, docs/conditional.md); use --model=dcgan --conditional=projection."),
}


def check_options(config, image_shape):
  conditional = config.options["conditional"]
  if conditional != "none":
    raise ValueError(
        f"--conditional={conditional}: dense_gan is not offered class-conditional, because given "
        "a label its G ignores the noise (recall 0.000 within every class at its defaults, measured in "
        "docs/lab/conditional.md#dense_gan-the-label-is-followed-z-is-not); use --model=dcgan "
        "--conditional=projection (recall ~0.75 within classes).")
  for name in ("generator_units", "discriminator_units"):
    units = config.options[name]
    if not units or any(unit < 1 for unit in units):
      raise ValueError(f"--{name}={','.join(map(str, units))} needs one or more positive layer widths, "
                       f"e.g. --{name}={','.join(map(str, OPTIONS[name].default))}.")


def build_generator(config, image_shape):
  z = x = keras.Input([config.latent_dim], name="z")
  for units in config.options["generator_units"]:
    x = _dense_relu(x, units, config.options["generator_batch_norm"])
  x = layers.Reshape(image_shape)(layers.Dense(math.prod(image_shape))(x))  # [B, H, W, C]
  images = layers.Activation("sigmoid", dtype="float32")(x)  # float32 output under mixed precision
  return keras.Model(z, images, name="dense_gan_generator")


def _dense_relu(x, units, batch_norm):
  if not batch_norm:
    return layers.Dense(units, activation="relu")(x)
  x = layers.Dense(units, use_bias=False)(x)  # BN's offset replaces the bias
  # Synchronized: statistics over the global batch, so the update does not depend on the replica count.
  return layers.ReLU()(layers.BatchNormalization(synchronized=True)(x))


def build_discriminator(config, image_shape):
  images = keras.Input(image_shape, name="images")
  x = layers.Flatten()(images)
  for units in config.options["discriminator_units"]:
    x = layers.Dense(units)(x)
    x = (layers.ReLU() if config.options["discriminator_activation"] == "relu" else
         layers.LeakyReLU(LEAKY_SLOPE))(x)
    if config.options["discriminator_dropout"]:
      x = layers.Dropout(config.options["discriminator_dropout"])(x)
  logits = layers.Dense(1, dtype="float32")(x)  # [B, 1]
  return keras.Model(images, logits, name="dense_gan_discriminator")


SPEC = register(ModelSpec(
    name="dense_gan",
    build_generator=build_generator,
    build_discriminator=build_discriminator,
    defaults=DEFAULTS,
    options=OPTIONS,
    tuning=TUNING,
    recipes={"article": ARTICLE},
    check_options=check_options,
    pixel_range="unit",  # the article scales MNIST to [0, 1] and ends G in a sigmoid
    description="MLP GAN on MNIST (article 001)",
))
