"""`compression_gan`: the GAN image codec of article 000 (../shared/SPEC.md section 2).

The article's generator becomes the decoder of a learned codec, so G here is the whole codec:

  encoder:   784 -> Dense(512, LReLU) -> Dense(256, LReLU) -> Dense(128, LReLU) -> Dense(code_size)
             (the article's G layer sizes mirrored, as an encoder must run them in reverse)
  quantiser: round; in training the decoder sees round(y) with an identity gradient (straight-through)
             and the entropy model sees y + U(-1/2, 1/2), whose density is the rounded code's pmf
  entropy:   a learned factorized prior, one mixture of logistics per code dimension
  decoder:   the article's G, code -> Dense(128) -> Dense(256) -> Dense(512) -> Dense(784) (LReLU 0.2)
  D:         the article's D, 784 -> Dense(512) -> Dense(256) -> Dense(128) -> Dense(1) logit

G minimises distortion + adversarial_weight * adversarial + rate_weight * rate, with distortion the
per-image MSE on [0, 1] pixels and rate the entropy model's bits per pixel; the operating point is
chosen by `rate_weight` (and `code_size`). `zoo/codec.py` turns a trained run into real files.

`mode=jpeg_restore` is the article's literal reading: G (the same encoder and decoder, without
quantiser or entropy model) restores the decode of a low-quality JPEG, whose file is the bitstream.
Every departure from the article and why: docs/compression_gan.md.
"""
import functools
import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from zoo.models.registry import ModelSpec, register

DEFAULTS = {
    "dataset": "mnist",
    "batch_size": 128,
    "steps": 4000,                # ~8.5 epochs; the mid operating point of docs/compression_gan.md
    "g_learning_rate": 5e-4,
    "d_learning_rate": 2e-4,
    "beta_1": 0.5,
    "pixel_range": "unit",
    "steps_per_call": 20,
    "log_every": 200,
    "image_every": 1000,
    "checkpoint_every": 1000,
}
MODES = ("codec", "jpeg_restore")
OPTIONS = {
    "mode": "codec",
    "code_size": 32,              # latent dimensions; the article's code is 100
    "rate_weight": 0.005,         # lambda_rate, per bit per pixel: the operating point
    "adversarial_weight": 1e-3,   # lambda_adv, relative to the MSE distortion
    "jpeg_qualities": "1,5,10,20",  # jpeg_restore: training draws one of these per image
}
LEAKY_SLOPE = 0.2               # tf.nn.leaky_relu's default, which the article's code uses
HIDDEN_UNITS = (128, 256, 512)  # the article's G; its D and our encoder use them reversed
MIXTURE_COMPONENTS = 3
LIKELIHOOD_FLOOR = 1e-9         # keeps -log2 p finite for codes far in the prior's tails


def check_options(options):
  """Raises ValueError naming the option and a valid value when an option cannot work."""
  if options["mode"] not in MODES:
    raise ValueError(f"compression_gan: mode={options['mode']!r} is not one of {', '.join(MODES)}.")
  if not 1 <= int(options["code_size"]) <= 1024:
    raise ValueError(f"compression_gan: code_size={options['code_size']} must be in 1..1024, e.g. 32.")
  if options["rate_weight"] < 0:
    raise ValueError(f"compression_gan: rate_weight={options['rate_weight']} must be >= 0, e.g. 0.01.")
  if options["adversarial_weight"] <= 0:
    raise ValueError(f"compression_gan: adversarial_weight={options['adversarial_weight']} must be > 0 "
                     "(the trainer always adds the adversarial term); use 1e-6 for almost none.")
  jpeg_qualities(options)


def jpeg_qualities(options):
  try:
    qualities = tuple(int(q) for q in str(options["jpeg_qualities"]).split(","))
  except ValueError:
    qualities = ()
  if not qualities or not all(1 <= q <= 95 for q in qualities):
    raise ValueError(f"compression_gan: jpeg_qualities={options['jpeg_qualities']!r} must be "
                     "comma-separated integers in 1..95, e.g. 1,5,10,20.")
  return qualities


# ---- quantiser and entropy model ------------------------------------------------------------------

def straight_through_round(y):
  """round(y) forward, identity backward: the decoder trains on the codes it will really get."""
  return y + tf.stop_gradient(tf.round(y) - y)


def mixture_cdf(y, logits, means, log_scales):
  """CDF of a per-dimension mixture of logistics at y [..., D]; parameters are [D, K]."""
  weights = tf.nn.softmax(logits, axis=-1)
  standardized = (y[..., None] - means) * tf.exp(-log_scales)
  return tf.reduce_sum(weights * tf.sigmoid(standardized), axis=-1)


def mixture_bin_probability(y, logits, means, log_scales):
  """P(Y in [y - 1/2, y + 1/2]) per element, computed on the tail nearest y to avoid cancellation.

  For y above a component's mean, sigmoid(b) - sigmoid(a) is written as sigmoid(-a) - sigmoid(-b),
  which stays accurate where both sigmoids are close to 1.
  """
  weights = tf.nn.softmax(logits, axis=-1)
  inverse_scale = tf.exp(-log_scales)
  upper = (y[..., None] + 0.5 - means) * inverse_scale
  lower = (y[..., None] - 0.5 - means) * inverse_scale
  flip = tf.where(y[..., None] > means, -1.0, 1.0)
  flip = tf.cast(flip, y.dtype)
  per_component = tf.abs(tf.sigmoid(flip * upper) - tf.sigmoid(flip * lower))
  return tf.reduce_sum(weights * per_component, axis=-1)


class FactorizedPrior(layers.Layer):
  """A learned density per code dimension; `bits(y)` is -log2 of the bin masses, summed per example."""

  def __init__(self, code_size, components=MIXTURE_COMPONENTS, **kwargs):
    super().__init__(**kwargs)
    self.code_size = code_size
    self.components = components
    shape = (code_size, components)
    spread = np.linspace(-1.0, 1.0, components, dtype=np.float32)
    self.logits = self.add_weight(shape=shape, initializer="zeros", name="logits")
    self.means = self.add_weight(shape=shape, initializer=keras.initializers.Constant(np.tile(spread, (
        code_size, 1))), name="means")
    self.log_scales = self.add_weight(shape=shape, initializer="zeros", name="log_scales")

  def parameters(self, dtype=tf.float32):
    return [tf.cast(p, dtype) for p in (self.logits, self.means, self.log_scales)]

  def bin_probability(self, y):
    return mixture_bin_probability(y, *self.parameters(y.dtype))

  def bits(self, y):
    """Estimated code length of (noisy or rounded) codes y [B, D] in bits, [B]."""
    probability = tf.maximum(self.bin_probability(tf.cast(y, tf.float32)), LIKELIHOOD_FLOOR)
    return tf.reduce_sum(-tf.math.log(probability), axis=-1) / math.log(2.0)

  def cdf(self, y):
    return mixture_cdf(y, *self.parameters(y.dtype))

  def call(self, y):
    return self.bits(y)


# ---- networks -------------------------------------------------------------------------------------

def _mlp(units, output_units, name, output_activation=None):
  stack = []
  for n in units:
    stack += [layers.Dense(n), layers.LeakyReLU(LEAKY_SLOPE)]
  stack.append(layers.Dense(output_units, activation=output_activation))
  return keras.Sequential(stack, name=name)


class CodecGenerator(keras.Model):
  """G: images [B, H, W, C] (and training noise [B, D]) -> {"images": decoded, "bits": [B]}.

  In `jpeg_restore` mode the input is a JPEG decode, the output that decode plus a learned correction,
  and "bits" is zero (the JPEG file is the bitstream; its size is counted where it is written).
  """

  def __init__(self, image_shape, code_size, mode="codec", **kwargs):
    super().__init__(**kwargs)
    self.image_shape = tuple(image_shape)
    self.mode = mode
    pixels = math.prod(self.image_shape)
    self.encoder = _mlp(HIDDEN_UNITS[::-1], code_size, "encoder")
    # A sigmoid (not the article's linear output) keeps reconstructions in the [0, 1] pixel range.
    self.decoder = _mlp(HIDDEN_UNITS, pixels, "decoder", None if mode == "jpeg_restore" else "sigmoid")
    # jpeg_restore codes nothing, so it has no entropy model (an unused layer would stay unbuilt).
    self.prior = None if mode == "jpeg_restore" else FactorizedPrior(code_size, name="prior")

  def encode(self, images):
    return self.encoder(tf.reshape(images, [tf.shape(images)[0], -1]))

  def decode(self, codes):
    return tf.reshape(self.decoder(codes), (-1,) + self.image_shape)

  def call(self, inputs, training=False):
    images = inputs["images"]
    y = self.encode(images)
    if self.mode == "jpeg_restore":
      restored = tf.clip_by_value(images + self.decode(y), 0.0, 1.0)
      return {"images": restored, "bits": tf.zeros([tf.shape(images)[0]])}
    noisy = y + inputs["noise"] if training else tf.round(y)
    return {"images": self.decode(straight_through_round(y)), "bits": self.prior(noisy)}


def build_generator(config, image_shape):
  check_options(config.options)
  code_size = int(config.options["code_size"])
  generator = CodecGenerator(image_shape, code_size, config.options["mode"], name="compression_gan_codec")
  # Build every variable now, so checkpoints restore into an existing model.
  generator({"images": tf.zeros((1,) + tuple(image_shape)), "noise": tf.zeros([1, code_size])})
  return generator


def build_discriminator(config, image_shape):
  images = keras.Input(image_shape, name="images")
  x = layers.Flatten()(images)
  for units in HIDDEN_UNITS[::-1]:
    x = layers.LeakyReLU(LEAKY_SLOPE)(layers.Dense(units)(x))
  logits = layers.Dense(1, dtype="float32")(x)  # [B, 1]
  return keras.Model(images, logits, name="compression_gan_discriminator")


# ---- trainer hooks --------------------------------------------------------------------------------

def jpeg_round_trip(images, quality):
  """Decode of a JPEG at `quality` of unit-range images [H, W, C] (TF's libjpeg, as in training)."""
  pixels = tf.cast(tf.round(tf.clip_by_value(images, 0.0, 1.0) * 255.0), tf.uint8)
  decoded = tf.io.decode_jpeg(tf.io.encode_jpeg(pixels, quality=quality), channels=images.shape[-1])
  return tf.cast(decoded, tf.float32) / 255.0


def _jpeg_degrade(real, qualities, seed):
  """Each image through a JPEG round trip at a quality drawn (from `seed`) among `qualities`."""
  choices = tf.random.stateless_uniform([tf.shape(real)[0]], seed, 0, len(qualities), tf.int32)

  def degrade_one(args):
    image, choice = args
    return tf.switch_case(choice, [functools.partial(jpeg_round_trip, image, q) for q in qualities])
  return tf.map_fn(degrade_one, (real, choices),
                   fn_output_signature=tf.TensorSpec(real.shape[1:], tf.float32))


def prepare_batch(config, real, seed):
  """Adds the quantisation noise (codec) or the JPEG-degraded input (jpeg_restore), from `seed`."""
  if config.pixel_range != "unit":
    raise ValueError("compression_gan works on [0, 1] pixels: leave --pixel_range at unit.")
  if config.options["mode"] == "jpeg_restore":
    return {"real": real, "degraded": _jpeg_degrade(real, jpeg_qualities(config.options), seed)}
  noise = tf.random.stateless_uniform([tf.shape(real)[0], int(config.options["code_size"])], seed,
                                      -0.5, 0.5)
  return {"real": real, "noise": noise}


def generator_input(batch, z):
  del z  # a codec's only input is the image
  if "degraded" in batch:
    return {"images": batch["degraded"]}
  return {"images": batch["real"], "noise": batch["noise"]}


def distortion(real, decoded):
  """Per-example MSE on unit-range pixels, [B]."""
  return tf.reduce_mean(tf.square(tf.cast(decoded, tf.float32) - real), axis=[1, 2, 3])


def bits_per_pixel(bits, real):
  return bits / tf.cast(tf.reduce_prod(tf.shape(real)[1:]), tf.float32)


def extra_generator_losses(config, batch, outputs):
  """distortion + rate_weight * rate, divided by adversarial_weight.

  The trainer adds the adversarial term with weight 1, so dividing the other two terms by
  adversarial_weight gives G's objective distortion + adversarial_weight * adversarial + rate_weight *
  rate times a constant 1/adversarial_weight, which Adam's updates do not depend on.
  """
  scale = 1.0 / config.options["adversarial_weight"]
  real = batch["real"]
  terms = {"distortion": scale * distortion(real, outputs["images"])}
  terms["rate"] = scale * config.options["rate_weight"] * bits_per_pixel(outputs["bits"], real)
  return terms


def grid_rows(batch, fake):
  """Originals above their reconstructions; in jpeg_restore mode the JPEG decodes in between."""
  if "degraded" in batch:
    return [batch["real"], batch["degraded"], fake]
  return [batch["real"], fake]


SPEC = register(ModelSpec(
    name="compression_gan",
    build_generator=build_generator,
    build_discriminator=build_discriminator,
    defaults=DEFAULTS,
    options=OPTIONS,
    description="GAN image codec: encoder, entropy-coded code, the article's G as decoder (article 000)",
    prepare_batch=prepare_batch,
    generator_input=generator_input,
    extra_generator_losses=extra_generator_losses,
    generator_terms=("distortion", "rate"),
    grid_rows=grid_rows,
))
