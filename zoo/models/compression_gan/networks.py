"""compression_gan's networks: encoder, straight-through quantiser, factorized entropy prior, decoder.

The generator of the trainer is the whole codec (`CodecGenerator`); zoo/models/compression_gan/model.py
registers it and holds its losses, and codec.py turns a trained one into real files.
"""
import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers

LEAKY_SLOPE = 0.2               # tf.nn.leaky_relu's default, which the article's code uses
HIDDEN_UNITS = (128, 256, 512)  # the article's G; its D and our encoder use them reversed
MIXTURE_COMPONENTS = 3
LIKELIHOOD_FLOOR = 1e-9         # keeps -log2 p finite for codes far in the prior's tails


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


def inference_model(generator):
  """images [B, H, W, C] -> decoded images: the codec's inference as stock Keras layers and ops.

  The encoder and decoder are the generator's own layers (same weights); the code is rounded as the
  bitstream carries it, and the entropy model, which only sizes the bitstream, is left out. The model
  loads with Keras alone, so an export runs without the zoo.
  """
  images = keras.Input(generator.image_shape, name="images")
  codes = generator.encoder(layers.Flatten()(images))
  if generator.mode == "codec":
    codes = keras.ops.round(codes)
  decoded = layers.Reshape(generator.image_shape)(generator.decoder(codes))
  if generator.mode == "jpeg_restore":
    decoded = keras.ops.clip(images + decoded, 0.0, 1.0)
  return keras.Model(images, decoded, name="compression_gan_decoder")


def build_discriminator(image_shape):
  """The article's D: images -> Dense(512) -> Dense(256) -> Dense(128) (LReLU 0.2) -> Dense(1) logit."""
  images = keras.Input(image_shape, name="images")
  x = layers.Flatten()(images)
  for units in HIDDEN_UNITS[::-1]:
    x = layers.LeakyReLU(LEAKY_SLOPE)(layers.Dense(units)(x))
  logits = layers.Dense(1, dtype="float32")(x)  # [B, 1]
  return keras.Model(images, logits, name="compression_gan_discriminator")
