"""The domain classifiers whose penultimate features the metrics on MNIST-like data and emoji use.

A compact CNN per dataset, trained by the zoo itself with a fixed seed so that no metric needs the
internet (TF-GAN's MNIST classifier is fetched from a hub at run time). Its weights are committed in
`zoo/metrics/classifiers/<dataset>.weights.h5` beside a JSON sidecar that records the test accuracy.
`spec(dataset)` gives a classifier's input shape and classes: 28x28x1 and 10 for MNIST and
Fashion-MNIST, 64x64x3 and the 8 Unicode emoji groups for `emoji` (zoo/data/emoji.py).

Rebuild one:  python -m zoo.metrics.classifier --dataset=mnist --data_dir=../shared/tensorflow_datasets
              python -m zoo.metrics.classifier --dataset=emoji     (renders the emoji set if needed)
"""
import dataclasses
import hashlib
import json
import os
import sys
import time
from typing import Tuple

import numpy as np

CLASSIFIER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "classifiers")
FEATURE_LAYER = "features"  # the 128-d penultimate layer every metric reads
FEATURE_DIM = 128
ARCHITECTURE_VERSION = 1  # bump when build_classifier changes; old weight files then refuse to load


@dataclasses.dataclass(frozen=True)
class ClassifierSpec:
  image_shape: Tuple[int, int, int]
  num_classes: int
  filters: Tuple[int, ...]  # one 3x3 convolution and 2x2 max-pooling per entry
  required_accuracy: float  # test accuracy a rebuilt classifier must reach before it is saved
  epochs: int  # with the peak learning rate: enough for the floor with a margin, in a few CPU minutes
  peak_lr: float
  max_shift: int  # random translation while training, in pixels
  flip_and_zoom: bool = False  # random horizontal flips and +-10% zooms while training (emoji)
  batch_size: int = 128


SPECS = {
    # Floors from issue 3, section 1.
    "mnist": ClassifierSpec((28, 28, 1), 10, (32, 64, 128), 0.992, 5, 1e-3, max_shift=2),
    "fashion_mnist": ClassifierSpec((28, 28, 1), 10, (32, 64, 128), 0.91, 12, 1e-3, max_shift=2),
    # 1,108 training images: small batches, many epochs and flips, shifts and zooms against memorising;
    # the narrower last block keeps the weight file small (a 4x4x64 map into the 128-d features).
    "emoji": ClassifierSpec((64, 64, 3), 8, (32, 64, 128, 64), 0.6, 150, 2e-3, max_shift=6,
                            flip_and_zoom=True, batch_size=32),
}
REQUIRED_ACCURACY = {name: spec.required_accuracy for name, spec in SPECS.items()}
# The MNIST-like classifiers' input and classes; other datasets' are in `spec(dataset)`.
IMAGE_SHAPE = SPECS["mnist"].image_shape
NUM_CLASSES = SPECS["mnist"].num_classes


class ClassifierUnavailableError(ValueError):
  """No trained classifier for this dataset (it is not MNIST-like, or its weight file is missing)."""


def weights_path(dataset: str) -> str:
  return os.path.join(CLASSIFIER_DIR, f"{dataset}.weights.h5")


def sidecar_path(dataset: str) -> str:
  return os.path.join(CLASSIFIER_DIR, f"{dataset}.json")


def spec(dataset: str) -> ClassifierSpec:
  if dataset not in SPECS:
    raise ClassifierUnavailableError(
        f"No domain classifier for dataset {dataset!r}; there are classifiers for "
        f"{', '.join(sorted(SPECS))}. For other data use the Inception-v3 features "
        "(feature_extractor='inception').")
  return SPECS[dataset]


def build_classifier(dataset: str = "mnist"):
  """uint8 [B, H, W, C] -> logits (`spec(dataset)`); the layer named `features` is the 128-d embedding.

  MNIST-like: [B, 28, 28, 1] -> 14x14x32 -> 7x7x64 -> 3x3x128 -> 10 logits.
  Emoji: [B, 64, 64, 3] -> 32x32x32 -> 16x16x64 -> 8x8x128 -> 4x4x64 -> 8 logits.
  """
  import keras
  from keras import layers
  chosen = spec(dataset)
  images = keras.Input(chosen.image_shape, name="images")
  x = layers.Rescaling(1.0 / 255.0)(images)
  # One conv per resolution and no batch norm: training stays at a few minutes on two CPU cores.
  for filters in chosen.filters:
    x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
  x = layers.Flatten()(x)
  features = layers.Dense(FEATURE_DIM, activation="relu", name=FEATURE_LAYER)(x)
  x = layers.Dropout(0.3)(features)
  logits = layers.Dense(chosen.num_classes, name="logits", dtype="float32")(x)
  return keras.Model(images, logits, name="domain_classifier")


def load_classifier(dataset: str):
  """The committed classifier of `dataset` (float32), ready for inference; no network needed."""
  path, sidecar = weights_path(dataset), sidecar_path(dataset)
  spec(dataset)
  if not (os.path.exists(path) and os.path.exists(sidecar)):
    raise ClassifierUnavailableError(
        f"The {dataset} classifier ({path}) is missing. Rebuild it with: python -m zoo.metrics.classifier "
        f"--dataset={dataset} --data_dir=../shared/tensorflow_datasets")
  version = read_sidecar(dataset).get("architecture_version")
  if version != ARCHITECTURE_VERSION:
    raise ClassifierUnavailableError(
        f"{path} was trained for classifier architecture {version}, the code builds version "
        f"{ARCHITECTURE_VERSION}: rebuild it with python -m zoo.metrics.classifier --dataset={dataset}.")
  model = build_classifier(dataset)
  model.load_weights(path)
  return model


def read_sidecar(dataset: str) -> dict:
  with open(sidecar_path(dataset)) as f:
    return json.load(f)


def file_sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def labelled_split(dataset: str, split: str, data_dir=None, download=True):
  """(uint8 images [N, H, W, C], int labels [N]) of one split, in the dataset's stored order.

  Emoji come from the rendered folder (`zoo.data.folder_root`: --data_dir, else the cache)."""
  import tensorflow_datasets as tfds
  from zoo import data
  if data.is_folder(dataset):
    side = spec(dataset).image_shape[0]
    images, labels = zip(*data.load_examples(dataset, split, data_dir, side).as_numpy_iterator())
    return np.stack(images), np.asarray(labels, np.int64)
  ds = data.builder(dataset, data_dir, download).as_dataset(
      split=split, as_supervised=True, shuffle_files=False, read_config=tfds.ReadConfig(try_autocache=False))
  images, labels = zip(*tfds.as_numpy(ds.batch(10000)))
  return np.concatenate(images), np.concatenate(labels).astype(np.int64)


def _training_model(classifier, chosen: ClassifierSpec):
  """The classifier behind random shifts (and for emoji flips and zooms), which only act while training."""
  import keras
  from keras import layers
  side = chosen.image_shape[0]
  images = keras.Input(chosen.image_shape)
  if not chosen.flip_and_zoom:  # the MNIST-like classifiers: black background
    augment = layers.RandomTranslation(chosen.max_shift / side, chosen.max_shift / side, fill_mode="constant",
                                       seed=1)
    return keras.Model(images, classifier(augment(images)))
  x = layers.RandomFlip("horizontal", seed=1)(images)
  x = layers.RandomZoom(0.1, fill_mode="constant", fill_value=255.0, seed=2)(x)  # emoji sit on white
  x = layers.RandomTranslation(chosen.max_shift / side, chosen.max_shift / side, fill_mode="constant",
                               fill_value=255.0, seed=3)(x)
  return keras.Model(images, classifier(x))


def train_classifier(dataset: str, data_dir=None, seed: int = 0, download: bool = True, log=print):
  """Trains the domain classifier from scratch; returns (model, test accuracy)."""
  import keras
  if dataset not in SPECS:
    raise ValueError(f"Unknown dataset {dataset!r}: classifiers exist for {', '.join(sorted(SPECS))}.")
  chosen = SPECS[dataset]
  keras.utils.set_random_seed(seed)
  train_x, train_y = labelled_split(dataset, "train", data_dir, download)
  test_x, test_y = labelled_split(dataset, "test", data_dir, download)
  classifier = build_classifier(dataset)
  steps = chosen.epochs * (len(train_x) // chosen.batch_size)
  schedule = keras.optimizers.schedules.CosineDecay(0.0, steps, warmup_target=chosen.peak_lr,
                                                    warmup_steps=steps // 20)
  model = _training_model(classifier, chosen)
  model.compile(optimizer=keras.optimizers.Adam(schedule),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
  model.fit(train_x.astype(np.float32), train_y, batch_size=chosen.batch_size, epochs=chosen.epochs,
            shuffle=True, verbose=2)
  accuracy = measure_accuracy(classifier, test_x, test_y)
  log(f"{dataset}: test accuracy {accuracy:.4f}")
  return classifier, accuracy


def measure_accuracy(model, images, labels) -> float:
  logits = model.predict(images, batch_size=1000, verbose=0)
  return float(np.mean(np.argmax(logits, axis=1) == labels))


def save_classifier(model, dataset: str, accuracy: float, seed: int, seconds: float) -> None:
  import keras
  import tensorflow as tf
  os.makedirs(CLASSIFIER_DIR, exist_ok=True)
  model.save_weights(weights_path(dataset))
  record = {
      "dataset": dataset,
      "test_accuracy": round(accuracy, 4),
      "required_test_accuracy": REQUIRED_ACCURACY[dataset],
      "architecture_version": ARCHITECTURE_VERSION,
      "feature_layer": FEATURE_LAYER,
      "feature_dim": FEATURE_DIM,
      "epochs": SPECS[dataset].epochs,
      "seed": seed,
      "training_seconds": round(seconds),
      "weights_sha256": file_sha256(weights_path(dataset)),
      "tensorflow": tf.__version__,
      "keras": keras.__version__,
      "command": f"python -m zoo.metrics.classifier --dataset={dataset} --seed={seed}",
  }
  with open(sidecar_path(dataset), "w") as f:
    json.dump(record, f, indent=2)
    f.write("\n")


def main(argv):
  del argv
  from absl import flags
  from zoo import data
  options = flags.FLAGS
  began = time.time()
  try:
    model, accuracy = train_classifier(options.dataset, options.data_dir, options.seed, options.download)
  except (ValueError, data.DataUnavailableError) as e:
    sys.exit(f"error: {e}")
  required = REQUIRED_ACCURACY[options.dataset]
  if accuracy < required:
    sys.exit(f"error: test accuracy {accuracy:.4f} is below the required {required}; nothing saved.")
  save_classifier(model, options.dataset, accuracy, options.seed, time.time() - began)
  print(f"Saved {weights_path(options.dataset)} ({os.path.getsize(weights_path(options.dataset))} bytes) "
        f"and {sidecar_path(options.dataset)}.")


if __name__ == "__main__":
  from absl import app, flags
  flags.DEFINE_enum("dataset", "mnist", sorted(SPECS), "Dataset whose classifier to train.")
  flags.DEFINE_string("data_dir", None, "TFDS data_dir with the prepared dataset (else $TFDS_DATA_DIR); "
                      "for emoji, a folder rendered by zoo.emoji (else the set rendered into the cache).")
  flags.DEFINE_integer("seed", 0, "Seed for weights, shuffling and augmentation.")
  flags.DEFINE_boolean("download", True, "Allow TFDS to download a dataset that is not prepared.")
  app.run(main)
