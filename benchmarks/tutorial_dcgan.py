"""The MNIST DCGAN of the TensorFlow DCGAN tutorial, as a ModelSpec for benchmarks (not registered).

Generator: Dense(7*7*256) BN LReLU -> ConvT(128,5,1) BN LReLU -> ConvT(64,5,2) BN LReLU -> ConvT(1,5,2)
tanh. Discriminator: Conv(64,5,2) LReLU Dropout(0.3) -> Conv(128,5,2) LReLU Dropout(0.3) -> Dense(1).
Batch 256, Adam(1e-4) for both, as in the tutorial.
"""
import keras
from keras import layers

from zoo.models.registry import ModelSpec


def _upsample(x, filters, strides):
  x = layers.Conv2DTranspose(filters, 5, strides=strides, padding="same", use_bias=False)(x)
  return layers.LeakyReLU()(layers.BatchNormalization(synchronized=True)(x))


def build_generator(config, image_shape):
  z = keras.Input([config.latent_dim])
  x = layers.Dense(7 * 7 * 256, use_bias=False)(z)
  x = layers.LeakyReLU()(layers.BatchNormalization(synchronized=True)(x))
  x = layers.Reshape((7, 7, 256))(x)
  x = _upsample(x, 128, 1)
  x = _upsample(x, 64, 2)
  x = layers.Conv2DTranspose(image_shape[-1], 5, strides=2, padding="same", use_bias=False)(x)
  return keras.Model(z, layers.Activation("tanh", dtype="float32")(x), name="tutorial_generator")


def build_discriminator(config, image_shape):
  images = keras.Input(image_shape)
  x = images
  for filters in (64, 128):
    x = layers.Conv2D(filters, 5, strides=2, padding="same")(x)
    x = layers.Dropout(0.3)(layers.LeakyReLU()(x))
  logits = layers.Dense(1, dtype="float32")(layers.Flatten()(x))
  return keras.Model(images, logits, name="tutorial_discriminator")


SPEC = ModelSpec(
    name="tutorial_dcgan",
    build_generator=build_generator,
    build_discriminator=build_discriminator,
    defaults={"dataset": "mnist", "batch_size": 256, "g_learning_rate": 1e-4, "d_learning_rate": 1e-4,
              "beta_1": 0.9},
    pixel_range="symmetric",
)
