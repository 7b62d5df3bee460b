"""Sample validation, batched feature extraction and the cached statistics of the real test split.

Samples of side S and the real reference images take one path to the extractor: the reference split goes
through the data pipeline to S (`zoo.data.load_images`, resize or pad, exactly as for training), then
both go back to the extractor's input size the same way (`back_to_side`). See docs/metrics.md.
"""
import hashlib
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


def back_to_side(images, side: int, resize: str = "area") -> np.ndarray:
  """uint8 [N, S, S, C] -> [N, side, side, C]: the way from a run's size S to an extractor's input size.

  After `resize="pad"` the inverse of the pipeline's zero-padding, the central crop (the same offsets,
  so 28 -> 32 -> 28 gives the digits back exactly); after "area" the pipeline's own area resize.
  """
  if images.shape[1:3] == (side, side):
    return images
  if resize == "pad":
    height, width = images.shape[1:3]
    if height < side or width < side:
      raise ValueError(f"Images of {height}x{width} cannot come from padding to a side of {side} or more; "
                       "were they made with --image_resize=area?")
    top, left = (height - side) // 2, (width - side) // 2
    return images[:, top:top + side, left:left + side]
  import tensorflow as tf
  from zoo.data import pipeline
  return pipeline.crop_and_resize(tf.constant(images), None, side, "area").numpy()


def pad_border_mean(images, side: int) -> float:
  """Mean pixel value (0..255) of uint8 [N, S, S, C] images outside their central side x side square.

  The central crop of --image_resize=pad's way back discards that border, where real padded images are
  all 0: this says whether a generator draws there.
  """
  height, width = images.shape[1:3]
  border = len(images) * (height * width - side * side) * images.shape[3]
  if border == 0:
    return 0.0
  total = images.sum(dtype=np.float64) - back_to_side(images, side, "pad").sum(dtype=np.float64)
  return float(total / border)


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
    spec = classifier_lib.spec(dataset)
    self.image_shape = spec.image_shape
    self.input_side, self.channels = self.image_shape[0], self.image_shape[2]
    self.num_classes = spec.num_classes
    self.fingerprint = classifier_lib.read_sidecar(dataset)["weights_sha256"][:16]

  def __call__(self, images, resize="area"):
    """uint8 [N, S, S, 1] -> (features [N, 128] float32, class probabilities [N, 10] float64).

    Images of another side than 28 (a model trained with --image_size) go back to 28x28 by
    `back_to_side(images, 28, resize)`, `resize` being the run's --image_resize.
    """
    images = check_images(images, channels=self.channels)
    features, probabilities = [], []
    for start in range(0, len(images), BATCH_SIZE):
      batch = back_to_side(images[start:start + BATCH_SIZE], self.input_side, resize)
      batch_features, logits = self._forward(batch)
      features.append(batch_features.numpy())
      probabilities.append(_softmax(logits.numpy().astype(np.float64)))
    return np.concatenate(features), np.concatenate(probabilities)

  def extract(self, images, resize="area"):
    """(features, probabilities): the interface the Evaluator calls on every extractor."""
    return self(images, resize)


def _softmax(logits):
  shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
  return shifted / shifted.sum(axis=1, keepdims=True)


def load_split_images(dataset, split, data_dir=None, download=True, limit=None, image_size=0,
                      resize="area") -> np.ndarray:
  """uint8 images [N, H, W, C] of one split, in the stored order (the first `limit` of them).

  `image_size` and `resize` send them through the data pipeline exactly as a run's training images
  (`zoo.data.load_images`); a folder needs `image_size`.
  """
  import tensorflow_datasets as tfds
  from zoo import data
  ds = data.load_images(dataset, split, data_dir, image_size, download=download, resize=resize)
  if limit:
    ds = ds.take(limit)
  return np.concatenate(list(tfds.as_numpy(ds.batch(BATCH_SIZE))))


def split_labels(dataset, split, data_dir=None, download=True, image_size=0, resize="area") -> np.ndarray:
  """int64 class labels [N] of one split, in the order of `load_split_images` (a ValueError if the
  dataset has none)."""
  import tensorflow_datasets as tfds
  from zoo import data
  ds = data.load_examples(dataset, split, data_dir, image_size, download=download, resize=resize)
  return np.concatenate([labels for _, labels in tfds.as_numpy(ds.batch(BATCH_SIZE))]).astype(np.int64)


def reference_key(extractor, dataset, split, data_dir=None, image_size=0, resize="area") -> str:
  """The cache file name of a reference: dataset, split, the pipeline's size and method (none at the
  dataset's own size), the extractor's fingerprint, and for a folder the hash of its files."""
  from zoo import data
  parts = [dataset, split]
  if image_size:
    parts.append(f"{resize}{image_size}")
  if data.is_folder(dataset):
    from zoo.data import folder
    layout = folder.scan(data.folder_root(dataset, data_dir))
    digest = folder.cache_key(layout, image_size, data.DATASETS[dataset].channels, resize)
    parts.append(hashlib.sha256(f"{layout.root}:{digest}".encode("utf-8")).hexdigest()[:16])
  return "_".join(parts + [extractor.fingerprint])


def reference_features(extractor, data_dir=None, download=True, split=REFERENCE_SPLIT, *, dataset=None,
                       image_size=0, resize="area"):
  """(features, probabilities or None) of the real reference split, cached on disk.

  The images go through the data pipeline to `image_size` by `resize` (0: the dataset's own size), then
  through `extractor.extract(images, resize)` like samples. `dataset` defaults to the classifier's. The
  key holds the extractor's fingerprint (the classifier's weight hash), so rebuilding the classifier
  invalidates the cache.
  """
  dataset = dataset or extractor.dataset
  key = reference_key(extractor, dataset, split, data_dir, image_size, resize)
  path = os.path.join(cache_dir(), f"{key}.npz")
  if os.path.exists(path):
    with np.load(path) as cached:
      return cached["features"], (cached["probabilities"] if "probabilities" in cached else None)
  images = load_split_images(dataset, split, data_dir, download, image_size=image_size, resize=resize)
  features, probabilities = extractor.extract(images, resize)
  os.makedirs(cache_dir(), exist_ok=True)
  temporary = f"{path}.{os.getpid()}.tmp.npz"  # written whole, then renamed: parallel runs never see half
  arrays = {"features": features}
  if probabilities is not None:
    arrays["probabilities"] = probabilities
  np.savez(temporary, **arrays)
  os.replace(temporary, path)
  return features, probabilities
