"""Sample validation, batched feature extraction and the cached statistics of the real test split."""
import os

import numpy as np

from zoo.metrics import classifier as classifier_lib

CACHE_ENV = "ZOO_METRICS_CACHE"
REFERENCE_SPLIT = "test"
BATCH_SIZE = 1000


def cache_dir() -> str:
  return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "gan_zoo", "metrics")


def check_images(images, channels=None, name="images") -> np.ndarray:
  """Returns `images` as a uint8 array [N, H, W, C], or raises a ValueError that says how to fix it."""
  if isinstance(images, np.ndarray):
    array = images
  else:
    try:
      array = np.asarray(images)
    except Exception as e:
      raise ValueError(f"{name} must be a numpy array of uint8 images [N, H, W, C]: {e}") from e
  if array.dtype != np.uint8:
    hint = ""
    if np.issubdtype(array.dtype, np.floating):
      hint = (" Float images must be converted first, e.g. zoo.pixels.to_uint8(x, pixel_range) or "
              "np.round(np.clip(x, 0, 1) * 255).astype(np.uint8) for [0, 1] images.")
    elif np.issubdtype(array.dtype, np.integer) and array.size and (array.min() < 0 or array.max() > 255):
      hint = f" Its values span [{array.min()}, {array.max()}], outside the 0..255 of 8-bit pixels."
    elif np.issubdtype(array.dtype, np.integer):
      hint = " Convert with images.astype(np.uint8)."
    raise ValueError(f"{name} must have dtype uint8 (pixel values 0..255), got {array.dtype}.{hint}")
  if array.ndim == 3:
    raise ValueError(f"{name} has shape {array.shape}; expected [N, H, W, C]. For grayscale images add "
                     "the channel axis: images[..., None].")
  if array.ndim != 4:
    raise ValueError(f"{name} has shape {array.shape}; expected 4 axes [N, H, W, C].")
  if len(array) < 2:
    raise ValueError(f"{name} holds {len(array)} image(s); the metrics need at least 2 (better thousands).")
  if channels is not None and array.shape[-1] != channels:
    raise ValueError(f"{name} have {array.shape[-1]} channels (shape {array.shape}) but the reference "
                     f"images have {channels}; NHWC layout is expected.")
  return array


class ClassifierFeatures:
  """Penultimate features and class probabilities of a dataset's domain classifier, in batches."""

  def __init__(self, dataset: str):
    import keras
    import tensorflow as tf
    self.dataset = dataset
    model = classifier_lib.load_classifier(dataset)
    # Build an explicit two-output model so one pass yields both the features and the logits.
    self._model = keras.Model(model.input, [model.get_layer(classifier_lib.FEATURE_LAYER).output,
                                            model.output])
    self._forward = tf.function(lambda x: self._model(x, training=False), reduce_retracing=True)
    self.image_shape = classifier_lib.IMAGE_SHAPE
    self.num_classes = classifier_lib.NUM_CLASSES
    self.fingerprint = classifier_lib.read_sidecar(dataset)["weights_sha256"][:16]

  def _fit_to_input(self, images):
    """Images of another size (e.g. a model trained with --image_size) are area-resized to 28x28."""
    if images.shape[1:3] == self.image_shape[:2]:
      return images
    import tensorflow as tf
    resized = tf.image.resize(images, self.image_shape[:2], method="area", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8).numpy()

  def __call__(self, images):
    """uint8 [N, H, W, 1] -> (features [N, 128] float32, class probabilities [N, 10] float64)."""
    images = check_images(images, channels=self.image_shape[2])
    features, probabilities = [], []
    for start in range(0, len(images), BATCH_SIZE):
      batch = self._fit_to_input(images[start:start + BATCH_SIZE])
      batch_features, logits = self._forward(batch)
      features.append(batch_features.numpy())
      probabilities.append(_softmax(logits.numpy().astype(np.float64)))
    return np.concatenate(features), np.concatenate(probabilities)


def _softmax(logits):
  shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
  return shifted / shifted.sum(axis=1, keepdims=True)


def load_split_images(dataset, split, data_dir=None, download=True, limit=None) -> np.ndarray:
  """uint8 images [N, H, W, C] of one split, in TFDS's stored order (the first `limit` of them)."""
  import tensorflow_datasets as tfds
  from zoo import data
  ds = data.load_images(dataset, split, data_dir, download=download)
  if limit:
    ds = ds.take(limit)
  return np.concatenate(list(tfds.as_numpy(ds.batch(BATCH_SIZE))))


def reference_features(extractor, data_dir=None, download=True, split=REFERENCE_SPLIT):
  """(features, probabilities) of the real reference split, cached on disk per classifier version.

  The key holds the classifier's weight hash, so rebuilding the classifier invalidates the cache.
  """
  key = f"{extractor.dataset}_{split}_{extractor.fingerprint}"
  path = os.path.join(cache_dir(), f"{key}.npz")
  if os.path.exists(path):
    with np.load(path) as cached:
      return cached["features"], cached["probabilities"]
  features, probabilities = extractor(load_split_images(extractor.dataset, split, data_dir, download))
  os.makedirs(cache_dir(), exist_ok=True)
  temporary = f"{path}.{os.getpid()}.tmp.npz"  # written whole, then renamed: parallel runs never see half
  np.savez(temporary, features=features, probabilities=probabilities)
  os.replace(temporary, path)
  return features, probabilities
