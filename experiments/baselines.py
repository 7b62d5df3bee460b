"""What `image_gan` is compared with on the same degraded test images: classical filters and a VAE.

Every restorer maps uint8 degraded images [N, H, W, C] to uint8 restorations of the same shape.

- Classical: median (3x3) or Gaussian (sigma 1 px) filtering for denoise; bicubic interpolation for
  superres (which is exactly what zoo/degradations.py hands the generator); for inpaint, the hole
  filled with the per-pixel mean of the training images (mean imputation); for colorize, the luma
  itself as a grey picture (the input), and the luma with the training images' mean chroma (BT.601
  YCbCr, the colour space whose Y is colorize's luma: one global tint for every image).
- VAE (the article's comparison): trained on the same task, i.e. it encodes the degraded image and
  decodes the clean one, maximising the ELBO of p(clean | z) with q(z | degraded):
  Conv(32, 4, 2) -> Conv(64, 4, 2) -> Dense(2 x latent) | z | Dense(H/4 * W/4 * 64) -> ConvT(32, 4, 2)
  -> ConvT(C, 4, 2) -> sigmoid, Bernoulli likelihood (binary cross-entropy on [0, 1] pixels), restoring
  with the posterior mean. No skip connections: the bottleneck is what makes it a VAE. It is not a GAN,
  so it trains with a plain loop here rather than on the GAN trainer.
"""
import dataclasses
import json
import os
import time
from typing import Optional

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from zoo import data
from zoo import pixels
from zoo.models.image_gan import degradations

MEDIAN_SIZE = 3
GAUSSIAN_SIGMA = 1.0


_unit = pixels.uint8_to_unit_np
quantise = pixels.unit_to_uint8_np  # [0, 1] float images to uint8 pixels, rounded as a saved PNG would be


def median_filter(degraded):
  from scipy import ndimage
  return ndimage.median_filter(np.asarray(degraded), size=(1, MEDIAN_SIZE, MEDIAN_SIZE, 1), mode="reflect")


def gaussian_filter(degraded):
  from scipy import ndimage
  blurred = ndimage.gaussian_filter(_unit(degraded), sigma=(0, GAUSSIAN_SIGMA, GAUSSIAN_SIGMA, 0),
                                    mode="reflect")
  return quantise(blurred)


def mean_fill(degraded, mean_image):
  """Pixels of the mid-grey hole replaced by the training set's mean image [H, W, C] (uint8 or float).

  The hole is found as the square of exact `MASK_VALUE` pixels the degradation painted; an image pixel
  that happens to be exactly grey 128 outside the hole is also replaced, which changes it by at most
  the mean's distance from 128.
  """
  degraded = np.asarray(degraded)
  hole = degraded == round(degradations.MASK_VALUE * 255)
  mean = np.broadcast_to(np.round(np.asarray(mean_image, np.float32)).astype(np.uint8), degraded.shape)
  return np.where(hole, mean, degraded)


# BT.601 full-range YCbCr (JPEG's): Y is exactly colorize's luma (degradations.LUMA_WEIGHTS).
_RGB_TO_CHROMA = np.array([[-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])  # [Cb, Cr] x RGB
_CHROMA_TO_RGB = np.array([[0.0, 1.402], [-0.344136, -0.714136], [1.772, 0.0]])       # RGB x [Cb, Cr]


def chroma(images):
  """BT.601 (Cb, Cr) - 128 of uint8 RGB images [..., 3], float64 [..., 2]: zero for a grey pixel."""
  return np.asarray(images, np.float64) @ _RGB_TO_CHROMA.T


def luma_with_chroma(gray, cb_cr):
  """uint8 RGB images of luma `gray` [N, H, W, 3] (its three channels equal) and chroma `cb_cr` [..., 2]."""
  luma = np.asarray(gray, np.float64)[..., :1]
  rgb = luma + np.broadcast_to(cb_cr, luma.shape[:-1] + (2,)) @ _CHROMA_TO_RGB.T
  return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def mean_train_chroma(dataset, data_dir=None, image_size=0):
  """The mean (Cb, Cr) - 128 over every pixel of the train split, [2]."""
  return chroma(mean_train_image(dataset, data_dir, image_size)).mean(axis=(0, 1))


def mean_train_image(dataset, data_dir=None, image_size=0):
  """Per-pixel mean [H, W, C] in 0..255 of the whole train split."""
  images = data.load_images(dataset, "train", data_dir, image_size).batch(10000)
  total, count = 0.0, 0
  for batch in images.as_numpy_iterator():
    total = total + batch.astype(np.float64).sum(axis=0)
    count += len(batch)
  return (total / count).astype(np.float32)


# ---- the VAE baseline ----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class VAEConfig:
  dataset: str
  task: str
  data_dir: Optional[str] = None
  image_size: int = 0                 # 0: the dataset's own; an image folder needs it (the GAN run's)
  steps: int = 1000                   # the GAN's default budget: same batches, same images seen
  batch_size: int = 64
  learning_rate: float = 1e-3
  latent_dim: int = 32
  seed: int = 0
  noise_sigma: float = 0.3            # the degradation's settings, as image_gan's options
  mask_size: int = 14
  scale: int = 4


class TaskVAE(keras.Model):
  """q(z | degraded) and p(clean | z); `call` returns the restoration from the posterior mean."""

  def __init__(self, image_shape, latent_dim, **kwargs):
    super().__init__(**kwargs)
    height, width, channels = image_shape
    self.latent_dim = latent_dim
    self.encoder = keras.Sequential([
        keras.Input(image_shape),
        layers.Conv2D(32, 4, strides=2, padding="same", activation="relu"),
        layers.Conv2D(64, 4, strides=2, padding="same", activation="relu"),
        layers.Flatten(),
        layers.Dense(2 * latent_dim),  # mean and log-variance
    ], name="encoder")
    self.decoder = keras.Sequential([
        keras.Input([latent_dim]),
        layers.Dense(height // 4 * width // 4 * 64, activation="relu"),
        layers.Reshape((height // 4, width // 4, 64)),
        layers.Conv2DTranspose(32, 4, strides=2, padding="same", activation="relu"),
        layers.Conv2DTranspose(channels, 4, strides=2, padding="same"),  # logits of p(clean | z)
    ], name="decoder")

  def posterior(self, degraded):
    mean, log_variance = tf.split(self.encoder(degraded), 2, axis=-1)
    return mean, log_variance

  def call(self, degraded):
    mean, _ = self.posterior(degraded)
    return tf.sigmoid(self.decoder(mean))

  def negative_elbo(self, degraded, clean, seed):
    """Per-example -ELBO in nats [B] and its reconstruction part."""
    mean, log_variance = self.posterior(degraded)
    eps = tf.random.stateless_normal(tf.shape(mean), seed=seed)
    z = mean + tf.exp(0.5 * log_variance) * eps
    logits = self.decoder(z)
    reconstruction = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=clean, logits=logits),
                                   axis=[1, 2, 3])
    kl = 0.5 * tf.reduce_sum(tf.square(mean) + tf.exp(log_variance) - 1.0 - log_variance, axis=1)
    return reconstruction + kl, reconstruction


def _degrade(config, clean, seed):
  return degradations.degrade(clean, seed, config.task, config.noise_sigma, config.mask_size, config.scale)


def vae_batches(config):
  """Endless (degraded, clean) unit-range batches of the train split, seeded like the GAN's."""
  images = data.load_images(config.dataset, "train", config.data_dir, config.image_size).cache()
  batches = images.shuffle(10000, seed=config.seed).repeat().batch(config.batch_size, drop_remainder=True)
  batches = batches.enumerate().map(
      lambda index, uint8: _with_degraded(config, pixels.to_model_range(uint8, "unit"), index))
  return batches.prefetch(tf.data.AUTOTUNE)


def _with_degraded(config, clean, index):
  seed = tf.stack([tf.cast(config.seed, tf.int64), index])
  # The pixels the degraded input carries are quantised like any saved image, as at test time.
  degraded = pixels.quantize_unit(_degrade(config, clean, seed))
  return degraded, clean


def _image_shape(config):
  return data.image_shape(config.dataset, config.image_size, config.data_dir)


def build_vae(config):
  image_shape = _image_shape(config)
  model = TaskVAE(image_shape, config.latent_dim)
  model(tf.zeros((1,) + image_shape))  # a subclassed model has no variables until its first call
  return model


def train_vae(config, log=print):
  """Trains a TaskVAE for `config.steps` steps; returns (model, {"seconds", "final_loss"})."""
  degradations.check_task(config.task, _image_shape(config)[-1])
  keras.utils.set_random_seed(config.seed)
  model = build_vae(config)
  optimizer = keras.optimizers.Adam(config.learning_rate)

  @tf.function
  def train_step(degraded, clean, step):
    with tf.GradientTape() as tape:
      loss, reconstruction = model.negative_elbo(degraded, clean, tf.stack([config.seed + 1, step]))
      loss, reconstruction = tf.reduce_mean(loss), tf.reduce_mean(reconstruction)
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                  model.trainable_variables))
    return loss, reconstruction

  began = time.time()
  for step, (degraded, clean) in enumerate(vae_batches(config).take(config.steps)):
    loss, reconstruction = train_step(degraded, clean, tf.constant(step, tf.int64))
    if (step + 1) % 250 == 0 or step + 1 == config.steps:
      log(f"vae {config.dataset}/{config.task} step {step + 1}/{config.steps} | -ELBO {float(loss):.1f} "
          f"| reconstruction {float(reconstruction):.1f} nats")
  return model, {"seconds": round(time.time() - began, 1), "final_loss": float(loss)}


def save_vae(model, config, record, directory):
  os.makedirs(directory, exist_ok=True)
  model.save_weights(os.path.join(directory, "vae.weights.h5"))
  with open(os.path.join(directory, "vae.json"), "w") as f:
    json.dump({"config": dataclasses.asdict(config), **record}, f, indent=2)


def load_vae(directory, config):
  """The TaskVAE saved in `directory`, or None when there is none trained with this exact config."""
  path = os.path.join(directory, "vae.json")
  if not os.path.exists(path):
    return None
  with open(path) as f:
    saved = json.load(f)["config"]
  if _training_settings(saved) != _training_settings(dataclasses.asdict(config)):
    return None
  model = build_vae(config)
  model.load_weights(os.path.join(directory, "vae.weights.h5"))
  return model


def _training_settings(values):
  # data_dir says where, not what; VAEs saved before image_size existed were trained at size 0.
  return {"image_size": 0, **{name: value for name, value in values.items() if name != "data_dir"}}


def vae_restore(model, degraded, batch_size=1000):
  """uint8 restorations of uint8 degraded images by the VAE's posterior-mean decoding."""
  restore = tf.function(lambda x: model(x))
  chunks = [restore(tf.constant(_unit(degraded[i:i + batch_size]))).numpy()
            for i in range(0, len(degraded), batch_size)]
  return quantise(np.concatenate(chunks))
