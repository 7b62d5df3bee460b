"""The domain classifier whose penultimate features the MNIST-like metrics are computed on.

A compact CNN per dataset, trained by the zoo itself with a fixed seed so that no metric needs the
internet (TF-GAN's MNIST classifier is fetched from a hub at run time). Its weights are committed in
`zoo/metrics/classifiers/<dataset>.weights.h5` beside a JSON sidecar that records the test accuracy.

Rebuild one:  python -m zoo.metrics.classifier --dataset=mnist --data_dir=../shared/tensorflow_datasets
"""
import hashlib
import json
import os
import sys
import time

import numpy as np

CLASSIFIER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "classifiers")
FEATURE_LAYER = "features"  # the 128-d penultimate layer every metric reads
FEATURE_DIM = 128
NUM_CLASSES = 10
IMAGE_SHAPE = (28, 28, 1)
ARCHITECTURE_VERSION = 1  # bump when build_classifier changes; old weight files then refuse to load

# Test accuracy a rebuilt classifier must reach before it is saved (issue 3, section 1).
REQUIRED_ACCURACY = {"mnist": 0.992, "fashion_mnist": 0.91}
# (epochs, peak learning rate): enough for the accuracy floors above with a margin, in a few CPU minutes.
TRAINING = {"mnist": (5, 1e-3), "fashion_mnist": (12, 1e-3)}
BATCH_SIZE = 128


class ClassifierUnavailableError(ValueError):
  """No trained classifier for this dataset (it is not MNIST-like, or its weight file is missing)."""


def weights_path(dataset: str) -> str:
  return os.path.join(CLASSIFIER_DIR, f"{dataset}.weights.h5")


def sidecar_path(dataset: str) -> str:
  return os.path.join(CLASSIFIER_DIR, f"{dataset}.json")


def build_classifier():
  """uint8 [B, 28, 28, 1] -> 10 logits; the layer named `features` is the 128-d embedding."""
  import keras
  from keras import layers

  # One conv per resolution and no batch norm: training stays at a few minutes on two CPU cores.
  def conv_block(x, filters):
    x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    return layers.MaxPooling2D()(x)

  images = keras.Input(IMAGE_SHAPE, name="images")
  x = layers.Rescaling(1.0 / 255.0)(images)
  x = conv_block(x, 32)                             # [B, 14, 14, 32]
  x = conv_block(x, 64)                             # [B, 7, 7, 64]
  x = conv_block(x, 128)                            # [B, 3, 3, 128]
  x = layers.Flatten()(x)
  features = layers.Dense(FEATURE_DIM, activation="relu", name=FEATURE_LAYER)(x)
  x = layers.Dropout(0.3)(features)
  logits = layers.Dense(NUM_CLASSES, name="logits", dtype="float32")(x)
  return keras.Model(images, logits, name="domain_classifier")


def load_classifier(dataset: str):
  """The committed classifier of `dataset` (float32), ready for inference; no network needed."""
  path, sidecar = weights_path(dataset), sidecar_path(dataset)
  if dataset not in REQUIRED_ACCURACY:
    raise ClassifierUnavailableError(
        f"No domain classifier for dataset {dataset!r}; there are classifiers for "
        f"{', '.join(sorted(REQUIRED_ACCURACY))}. For RGB data use the Inception-v3 features "
        "(feature_extractor='inception').")
  if not (os.path.exists(path) and os.path.exists(sidecar)):
    raise ClassifierUnavailableError(
        f"The {dataset} classifier ({path}) is missing. Rebuild it with: python -m zoo.metrics.classifier "
        f"--dataset={dataset} --data_dir=../shared/tensorflow_datasets")
  version = read_sidecar(dataset).get("architecture_version")
  if version != ARCHITECTURE_VERSION:
    raise ClassifierUnavailableError(
        f"{path} was trained for classifier architecture {version}, the code builds version "
        f"{ARCHITECTURE_VERSION}: rebuild it with python -m zoo.metrics.classifier --dataset={dataset}.")
  model = build_classifier()
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
  """(uint8 images [N, 28, 28, 1], int labels [N]) of one split, in TFDS's stored order."""
  import tensorflow_datasets as tfds
  from zoo import data
  ds = data.builder(dataset, data_dir, download).as_dataset(
      split=split, as_supervised=True, shuffle_files=False, read_config=tfds.ReadConfig(try_autocache=False))
  images, labels = zip(*tfds.as_numpy(ds.batch(10000)))
  return np.concatenate(images), np.concatenate(labels).astype(np.int64)


def _training_model(classifier):
  """The classifier behind a random ±2 pixel shift, which only acts while training."""
  import keras
  from keras import layers
  augment = layers.RandomTranslation(2 / 28, 2 / 28, fill_mode="constant", seed=1)
  images = keras.Input(IMAGE_SHAPE)
  return keras.Model(images, classifier(augment(images)))


def train_classifier(dataset: str, data_dir=None, seed: int = 0, download: bool = True, log=print):
  """Trains the domain classifier from scratch; returns (model, test accuracy)."""
  import keras
  if dataset not in TRAINING:
    raise ValueError(f"Unknown dataset {dataset!r}: classifiers exist for {', '.join(sorted(TRAINING))}.")
  epochs, peak_lr = TRAINING[dataset]
  keras.utils.set_random_seed(seed)
  train_x, train_y = labelled_split(dataset, "train", data_dir, download)
  test_x, test_y = labelled_split(dataset, "test", data_dir, download)
  classifier = build_classifier()
  steps = epochs * (len(train_x) // BATCH_SIZE)
  schedule = keras.optimizers.schedules.CosineDecay(0.0, steps, warmup_target=peak_lr,
                                                    warmup_steps=steps // 20)
  model = _training_model(classifier)
  model.compile(optimizer=keras.optimizers.Adam(schedule),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
  model.fit(train_x.astype(np.float32), train_y, batch_size=BATCH_SIZE, epochs=epochs, shuffle=True,
            verbose=2)
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
      "epochs": TRAINING[dataset][0],
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
  flags.DEFINE_enum("dataset", "mnist", sorted(REQUIRED_ACCURACY), "Dataset whose classifier to train.")
  flags.DEFINE_string("data_dir", None, "TFDS data_dir with the prepared dataset (else $TFDS_DATA_DIR).")
  flags.DEFINE_integer("seed", 0, "Seed for weights, shuffling and augmentation.")
  flags.DEFINE_boolean("download", True, "Allow TFDS to download a dataset that is not prepared.")
  app.run(main)
