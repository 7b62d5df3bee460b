"""Inception-v3 pool features (2048-d) for FID/KID on RGB data, the usual choice outside MNIST-like sets.

The ImageNet weights come from Keras applications, which downloads them once into ~/.keras/models.
Offline, point WEIGHTS_ENV (or `weights=`) at a local copy of
`inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5`, or copy it into ~/.keras/models/.
Numbers from this Keras port are comparable with each other, not with the original TF1 graph's FID.
"""
import os

import numpy as np

from zoo.metrics.features import check_images

WEIGHTS_ENV = "ZOO_INCEPTION_WEIGHTS"
WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
INPUT_SIZE = 299
MIN_INPUT_SIZE = 75  # the smallest input InceptionV3's strided stem accepts
BATCH = 50  # 299x299 activations are large: small batches keep host memory modest


class InceptionWeightsUnavailableError(ValueError):
  """The ImageNet weights are neither cached nor downloadable, and no local file was given."""


def resolve_weights(weights="imagenet"):
  """`None` (random), a local .h5 path, or 'imagenet' (then $ZOO_INCEPTION_WEIGHTS wins if set).

  'imagenet' without the file in Keras's cache and without internet fails here, at once, rather than
  after building the network and a download attempt.
  """
  if weights == "imagenet" and os.environ.get(WEIGHTS_ENV):
    weights = os.environ[WEIGHTS_ENV]
  if weights not in (None, "imagenet") and not os.path.exists(weights):
    raise InceptionWeightsUnavailableError(
        f"Inception-v3 weight file {weights!r} does not exist. Give the path of a local "
        f"{WEIGHTS_FILE} (Keras applications' no-top ImageNet weights).")
  if weights == "imagenet" and not _keras_cached():
    from zoo.data import tfds_source
    if not tfds_source.internet_reachable():
      raise unavailable("not in ~/.keras/models, and no internet to download them")
  return weights


def _keras_cached() -> bool:
  """Whether keras.utils.get_file would find the weights without downloading them."""
  # Keras's home is $KERAS_HOME, else ~/.keras; /tmp/.keras when that is not writable.
  home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
  return any(os.path.exists(os.path.join(os.path.expanduser(base), "models", WEIGHTS_FILE))
             for base in (home, os.path.join("/tmp", ".keras")))


def unavailable(reason: str) -> InceptionWeightsUnavailableError:
  """The one-line error for missing ImageNet weights, naming the ways to give a local copy."""
  reason = " ".join(str(reason).split())[:160]
  return InceptionWeightsUnavailableError(
      f"Inception-v3's ImageNet weights are not available ({reason}): pass --inception_weights=FILE to "
      f"python -m zoo.evaluate or set {WEIGHTS_ENV}=FILE, FILE being a local copy of {WEIGHTS_FILE} "
      "(or copy that file into ~/.keras/models/).")


class InceptionFeatures:
  """uint8 images [N, H, W, 1 or 3] -> Inception-v3 average-pool features [N, 2048]."""

  def __init__(self, weights="imagenet", input_size=INPUT_SIZE):
    import keras
    if input_size < MIN_INPUT_SIZE:
      raise ValueError(f"input_size must be at least {MIN_INPUT_SIZE} for Inception-v3, got {input_size}.")
    weights = resolve_weights(weights)
    try:
      self._model = keras.applications.InceptionV3(
          include_top=False, pooling="avg", weights=weights, input_shape=(input_size, input_size, 3))
    except Exception as e:  # Keras raises a bare Exception for a failed download, OSError for a bad file
      if weights is None:
        raise
      raise unavailable(f"{type(e).__name__}: {e}") from e
    self.input_size = self.input_side = input_size
    self.channels = None  # grayscale or RGB
    self.weights = "random" if weights is None else os.path.basename(str(weights))
    self.fingerprint = f"inception_{self.weights}_{input_size}"

  def _features(self, images):
    """Eager on purpose: tracing this 300-layer network costs more than the overhead it saves."""
    import keras
    import tensorflow as tf
    x = tf.image.resize(tf.cast(images, tf.float32), [self.input_size, self.input_size], method="bilinear")
    return self._model(keras.applications.inception_v3.preprocess_input(x), training=False)

  def __call__(self, images):
    images = check_images(images)
    if images.shape[-1] not in (1, 3):
      raise ValueError(f"Inception-v3 takes grayscale or RGB images, got {images.shape[-1]} channels.")
    if images.shape[-1] == 1:
      images = np.repeat(images, 3, axis=-1)  # gray as RGB, as the ImageNet network expects 3 channels
    return np.concatenate([self._features(images[start:start + BATCH]).numpy()
                           for start in range(0, len(images), BATCH)])

  def extract(self, images, resize="area"):
    """(features, None): the Evaluator's interface. Images of every side S reach 299x299 by the same
    bilinear resize, so samples and the reference (brought to S by the pipeline) take one path."""
    del resize
    return self(images), None
