"""image_gan's networks: the U-Net generator and the pair discriminator (see model.py for the maths)."""
import keras
import tensorflow as tf
from keras import layers

from zoo import pixels

LEAKY_SLOPE = 0.2


@keras.saving.register_keras_serializable(package="zoo")
class ClipWhenInferring(layers.Layer):
  """G's output layer: linear while training, clipped to the pixel range when restoring.

  Not pix2pix's tanh: on MNIST the L1 term first drives every pixel towards the black background, tanh
  saturates there and its vanishing gradient left G stuck at an all-black image (docs/image_gan.md).
  Linear training keeps the full L1 gradient; clipping at inference keeps restorations valid images.
  """

  def __init__(self, low, high, **kwargs):
    super().__init__(**kwargs)
    self.low, self.high = low, high

  def call(self, images, training=False):
    return images if training else tf.clip_by_value(images, self.low, self.high)

  def get_config(self):
    return {**super().get_config(), "low": self.low, "high": self.high}

  def to_stock(self):
    """The clip as stock layers (clip(x) = ReLU(x - low, max = high - low) + low), for exports."""
    return keras.Sequential([layers.Rescaling(1.0, offset=-self.low),
                             layers.ReLU(max_value=self.high - self.low),
                             layers.Rescaling(1.0, offset=self.low)], name=self.name)


def stock_generator(config, generator):
  """A copy of G with its clip as stock layers and the same weights, for exports that load without the
  zoo."""
  del config

  def clone(layer):
    return layer.to_stock() if isinstance(layer, ClipWhenInferring) else type(layer).from_config(
        layer.get_config())
  copy = keras.models.clone_model(generator, clone_function=clone)
  copy.set_weights(generator.get_weights())
  return copy


def _conv(filters, kernel, strides=1):
  return layers.Conv2D(filters, kernel, strides=strides, padding="same")


def build_generator(image_shape, filters, pixel_range):
  """The U-Net G from a degraded image [B, H, W, C] to its restoration, `filters` = f."""
  degraded = keras.Input(image_shape, name="degraded")
  full = layers.LeakyReLU(LEAKY_SLOPE)(_conv(filters, 3)(degraded))               # [B, H, W, f]
  half = layers.LeakyReLU(LEAKY_SLOPE)(_conv(2 * filters, 4, 2)(full))            # [B, H/2, W/2, 2f]
  quarter = layers.LeakyReLU(LEAKY_SLOPE)(_conv(4 * filters, 4, 2)(half))         # [B, H/4, W/4, 4f]
  x = layers.ReLU()(_conv(4 * filters, 3)(quarter))
  x = layers.ReLU()(layers.Conv2DTranspose(2 * filters, 4, strides=2, padding="same")(x))
  x = layers.Concatenate()([x, half])  # skips carry the input's detail past the bottleneck
  x = layers.ReLU()(layers.Conv2DTranspose(filters, 4, strides=2, padding="same")(x))
  x = layers.Concatenate()([x, full])
  x = layers.Activation("linear", dtype="float32")(_conv(image_shape[-1], 3)(x))
  restored = ClipWhenInferring(*pixels.bounds(pixel_range), dtype="float32", name="restored")(x)
  return keras.Model(degraded, restored, name="image_gan_generator")


def build_discriminator(image_shape, filters, kind):
  """D of a channel-concatenated (degraded, image) pair: one logit per image, or per patch."""
  height, width, channels = image_shape
  pair = keras.Input((height, width, 2 * channels), name="degraded_and_image")
  x = layers.LeakyReLU(LEAKY_SLOPE)(_conv(filters, 4, 2)(pair))
  x = layers.LeakyReLU(LEAKY_SLOPE)(_conv(2 * filters, 4, 2)(x))
  if kind == "patch":
    # [B, H/4, W/4, 1]: one logit per overlapping 18x18 patch; the losses average them per image.
    logits = layers.Conv2D(1, 3, padding="same", dtype="float32")(x)
  else:
    logits = layers.Dense(1, dtype="float32")(layers.Flatten()(x))               # [B, 1]
  return keras.Model(pair, logits, name="image_gan_discriminator")
