"""`autoencoder_gan`: the GAN of article 002 whose generator is a pretrained decoder (../shared/SPEC.md s3).

Phase 1 trains a convolutional autoencoder on the real images with binary cross-entropy:
  encoder: x [28, 28, 1] -> Conv(32, 3) relu -> Conv(64, 3, 2) relu -> Conv(128, 3, 2) relu [7, 7, 128]
  decoder: [7, 7, 128] -> ConvT(64, 3, 2) relu -> ConvT(32, 3, 2) relu -> Conv(1, 3) sigmoid [28, 28, 1]
Phase 2 trains a GAN whose generator is z(100) -> Dense(7*7*128, relu) -> Reshape(7, 7, 128) followed by
the decoder's three layers, copied from the pretrained decoder when the adversarial phase starts
(`init_from_decoder`, the option the ablation switches off). The article's discriminator is
Conv(64, 3) relu -> Conv(128, 3) relu -> Flatten -> Dense(1), returning the logit; by default the same
filters are strided, with BatchNorm (`discriminator`), because the article's covered 6-7 of 10 classes.

The article's encoder never downsamples although its decoder expects 7x7; the two stride-2 layers on
each side are the fix SPEC names. Every departure from the article is listed in docs/autoencoder_gan.md.
"""
import tensorflow as tf

from zoo.models.registry import ModelSpec, Option, Pretraining, register
from zoo.models.registry import keras, layers  # imported when the first network is built
from zoo.recipe import regularizers

DEFAULTS = {
    "dataset": "mnist",
    "latent_dim": 100,
    # Sized by measurement on one vCPU of a 2-core CPU (docs/autoencoder_gan.md): with the strided D a
    # GAN step at batch 32 costs ~0.12 s, so 6,000 steps take ~13 minutes with the pretraining. Batch 32
    # buys twice the updates of 64 for the same compute, which matters more this early in GAN training.
    "batch_size": 32,
    "steps": 6000,                  # adversarial steps (192,000 images); the pretraining steps come first
    # The article trains its GAN with Keras' default Adam (1e-3); the usual GAN setting is steadier.
    "g_learning_rate": 2e-4,
    "d_learning_rate": 2e-4,
    "beta_1": 0.5,
    "ema_decay": 0.999,
    "log_every": 100,
    "image_every": 250,
    "checkpoint_every": 500,
}
# Separate real and fake D passes are the faster setting for convolutional models on CPUs
# (docs/performance.md); the precision follows the host (--precision=auto).
TUNING = {"joint_discriminator_pass": False, "steps_per_call": 10}

OPTIONS = {
    # The article pretrains for 50 epochs of batch 256 (~10,500 steps), hours on this CPU. The
    # validation loss flattens within a few hundred steps (docs/autoencoder_gan.md), so 300 steps
    # (9,600 images) give a decoder that returns MNIST digits sharp and Fashion-MNIST items without
    # their finest texture.
    "pretrain_steps": Option(300, "Autoencoder pretraining steps before the GAN phase (0: none)."),
    # Keras' Adam default, what the article's compile(optimizer='adam') uses
    "pretrain_learning_rate": Option(1e-3, "Adam learning rate of the pretraining phase."),
    "init_from_decoder": Option(True, "Start G's conv layers from the pretrained decoder (the article's "
                                "idea; false is the ablation's control arm)."),
    "discriminator": Option("strided", "article: Conv(64, 3) relu -> Conv(128, 3) relu at full size; "
                            "strided: the same filters at 4x4 stride 2, LeakyReLU, BatchNorm on the second, "
                            "N(0, 0.02) init (the DCGAN paper's D).", choices=("article", "strided")),
    "discriminator_batchnorm": Option(True, "BatchNorm in the strided D (off for --r1_gamma, --r2_gamma and "
                                      "--gp_weight, which need each image's own input gradient)."),
}

ENCODER_LAYERS = ((32, 1), (64, 2), (128, 2))     # (filters, stride) of each Conv(f, 3) relu
DECODER_LAYERS = ((64, 2), (32, 2))               # (filters, stride) of each ConvT(f, 3) relu
CODE_FILTERS = ENCODER_LAYERS[-1][0]
DOWNSAMPLING = 4                                  # two stride-2 layers: 28x28 <-> 7x7
DISCRIMINATOR_FILTERS = (64, 128)                 # the article's D: no stride, 28x28 throughout
LEAKY_SLOPE = 0.2
# The generator's layers carry the decoder's names, so the copy can match them one to one.
DECODER_LAYER_NAMES = tuple(f"decoder_conv_transpose_{i}" for i in range(len(DECODER_LAYERS))) + (
    "decoder_to_image",)


# The article's networks, as far as it defines them: its D and no moving average. Its GAN optimiser and
# budget are undefined, and its encoder's missing strides are needed to run at all.
ARTICLE = {"ema_decay": 0.0, "options": {"discriminator": "article"}}


def code_shape(image_shape):
  """[H/4, W/4, 128]: the encoder's output and the generator's seed."""
  height, width, _ = image_shape
  if height % DOWNSAMPLING or width % DOWNSAMPLING:
    raise ValueError(f"autoencoder_gan halves the image twice, so its sides must be multiples of "
                     f"{DOWNSAMPLING}; got {height}x{width}. Set --image_size, e.g. --image_size=28.")
  return (height // DOWNSAMPLING, width // DOWNSAMPLING, CODE_FILTERS)


def build_encoder(image_shape):
  images = keras.Input(image_shape, name="images")
  x = images
  for filters, stride in ENCODER_LAYERS:
    x = layers.Conv2D(filters, 3, strides=stride, padding="same", activation="relu")(x)
  return keras.Model(images, x, name="encoder")  # [B, H/4, W/4, 128]


def _decoder_layers(x, channels):
  """The decoder's stack on a [B, H/4, W/4, 128] tensor; shared by the decoder and the generator."""
  for name, (filters, stride) in zip(DECODER_LAYER_NAMES, DECODER_LAYERS):
    x = layers.Conv2DTranspose(filters, 3, strides=stride, padding="same", activation="relu", name=name)(x)
  x = layers.Conv2D(channels, 3, padding="same", name=DECODER_LAYER_NAMES[-1])(x)
  return layers.Activation("sigmoid", dtype="float32")(x)  # float32 images under mixed precision


def build_decoder(image_shape):
  code = keras.Input(code_shape(image_shape), name="code")
  return keras.Model(code, _decoder_layers(code, image_shape[-1]), name="decoder")


def build_autoencoder(config, image_shape):
  del config  # the architecture has no settings
  images = keras.Input(image_shape, name="images")
  encoder, decoder = build_encoder(image_shape), build_decoder(image_shape)
  return keras.Model(images, decoder(encoder(images)), name="autoencoder")


def check_options(config, image_shape):
  """Fails on option values the trainer would otherwise take silently (a negative phase is skipped)."""
  code_shape(image_shape)
  options = config.options
  if options["pretrain_steps"] < 0:
    raise ValueError(f"--pretrain_steps must be 0 (no pretraining) or more, got {options['pretrain_steps']}.")
  if options["pretrain_learning_rate"] <= 0:
    raise ValueError(f"--pretrain_learning_rate must be positive, got {options['pretrain_learning_rate']}.")
  if options["discriminator"] == "strided" and options["discriminator_batchnorm"]:
    regularizers.refuse_with_batchnorm(config, "add --nodiscriminator_batchnorm or --discriminator=article")


def build_generator(config, image_shape):
  seed_shape = code_shape(image_shape)
  z = keras.Input([config.latent_dim], name="z")
  x = layers.Dense(seed_shape[0] * seed_shape[1] * seed_shape[2], activation="relu")(z)
  x = layers.Reshape(seed_shape)(x)  # [B, H/4, W/4, 128], where the decoder expects an encoding
  return keras.Model(z, _decoder_layers(x, image_shape[-1]), name="autoencoder_gan_generator")


def _article_discriminator_layers(x):
  for filters in DISCRIMINATOR_FILTERS:
    x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
  return x


def _strided_discriminator_layers(x, batchnorm):
  """The DCGAN paper's D with the article's filters: 4x less area per layer, and BatchNorm, which is what
  made dcgan cover every class (docs/recipe.md)."""
  from zoo import distribute  # it loads TensorFlow: imported when a network is built, as Keras is
  init = keras.initializers.RandomNormal(stddev=0.02)
  for i, filters in enumerate(DISCRIMINATOR_FILTERS):
    normalised = batchnorm and i > 0
    x = layers.Conv2D(filters, 4, strides=2, padding="same", kernel_initializer=init,
                      use_bias=not normalised)(x)
    if normalised:
      x = distribute.replica_batch_norm()(x)
    x = layers.LeakyReLU(LEAKY_SLOPE)(x)
  return x


def build_discriminator(config, image_shape):
  images = keras.Input(image_shape, name="images")
  if config.options["discriminator"] == "article":
    x = _article_discriminator_layers(images)
  else:
    x = _strided_discriminator_layers(images, config.options["discriminator_batchnorm"])
  x = layers.Flatten()(x)
  logits = layers.Dense(1, dtype="float32")(x)  # [B, 1]; the article's sigmoid moves into the loss
  return keras.Model(images, logits, name="autoencoder_gan_discriminator")


def reconstruction_loss(real, reconstructed):
  """Per-example binary cross-entropy [B], mean over pixels: the article's autoencoder loss."""
  real = tf.cast(real, tf.float32)
  reconstructed = tf.cast(reconstructed, tf.float32)
  per_pixel = keras.losses.binary_crossentropy(real[..., None], reconstructed[..., None])  # [B, H, W, C]
  return tf.reduce_mean(per_pixel, axis=[1, 2, 3])


def copy_decoder_into_generator(autoencoder, generator):
  """Assigns the decoder's conv weights to the generator's matching layers (the Dense stays as built).

  Variables are assigned rather than set from numpy, so this works eagerly, inside a tf.function and in a
  distribution strategy's cross-replica context.
  """
  decoder = autoencoder.get_layer("decoder")
  for name in DECODER_LAYER_NAMES:
    source, target = decoder.get_layer(name).weights, generator.get_layer(name).weights
    if [tuple(v.shape) for v in source] != [tuple(v.shape) for v in target]:
      raise ValueError(f"Layer {name} differs between the decoder and the generator: "
                       f"{[v.shape for v in source]} vs {[v.shape for v in target]}.")
    for source_variable, target_variable in zip(source, target):
      target_variable.assign(source_variable)


def initialize_generator(config, autoencoder, generator):
  if config.options["init_from_decoder"]:
    copy_decoder_into_generator(autoencoder, generator)


SPEC = register(ModelSpec(
    name="autoencoder_gan",
    build_generator=build_generator,
    build_discriminator=build_discriminator,
    defaults=DEFAULTS,
    options=OPTIONS,
    tuning=TUNING,
    recipes={"article": ARTICLE},
    check_options=check_options,
    # The contract tests' penalties need a D without BatchNorm; the variant covers the default D.
    smoke={"options": {"pretrain_steps": 2, "discriminator_batchnorm": False}},
    variants={"default": {}, "batchnorm_d": {"options": {"discriminator_batchnorm": True}}},
    pixel_range="unit",  # the article's sigmoid output and binary cross-entropy need [0, 1]
    pretraining=Pretraining(
        name="autoencoder",
        build=build_autoencoder,
        loss=reconstruction_loss,
        initialize_generator=initialize_generator,
    ),
    description="GAN whose generator starts from a pretrained decoder (article 002)",
))
