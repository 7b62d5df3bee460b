"""Reference values for docs/metrics.md: what the metrics give for real, noisy, blurred and collapsed sets.

  python experiments/metrics_reference.py --data_dir=../shared/tensorflow_datasets

Prints one markdown table per dataset (about 3 minutes for both on 2 CPU cores). Every set is scored
against the test split exactly as a generator's samples are (zoo.metrics.Evaluator).
"""
import os
import sys

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from zoo.metrics import classifier as classifier_lib  # noqa: E402
from zoo.metrics import evaluation, features  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "TFDS data_dir with the prepared datasets.")
flags.DEFINE_list("datasets", ["mnist", "fashion_mnist"], "Datasets to tabulate.")
flags.DEFINE_integer("num_images", 10000, "Images per set (a single class holds only ~6,000).")

COLUMNS = ("fid", "kid", "precision", "recall", "classifier_score", "modes_covered", "max_class_share")


def gaussian_blur(images, sigma):
  """Separable Gaussian blur of uint8 [N, H, W, C] images (radius 3 sigma, edges repeated)."""
  radius = int(np.ceil(3 * sigma))
  offsets = np.arange(-radius, radius + 1)
  kernel = np.exp(-offsets ** 2 / (2 * sigma ** 2))
  kernel /= kernel.sum()
  x = np.pad(images.astype(np.float64), [(0, 0), (radius, radius), (radius, radius), (0, 0)], mode="edge")
  height, width = images.shape[1:3]
  x = sum(w * x[:, radius + o:radius + o + height] for o, w in zip(offsets, kernel))
  x = sum(w * x[:, :, radius + o:radius + o + width] for o, w in zip(offsets, kernel))
  return np.round(x).astype(np.uint8)


def reference_sets(dataset, data_dir, num_images):
  """(name, uint8 images) pairs: the floor, degraded and collapsed sets."""
  train, labels = classifier_lib.labelled_split(dataset, "train", data_dir)
  test = features.load_split_images(dataset, "test", data_dir)
  rng = np.random.default_rng(0)
  return [
      (f"{num_images:,} real train images (the floor)", train[:num_images]),
      ("test images blurred, Gaussian sigma 1 px", gaussian_blur(test[:num_images], 1.0)),
      ("test images blurred, Gaussian sigma 2 px", gaussian_blur(test[:num_images], 2.0)),
      ("uniform noise", rng.integers(0, 256, (num_images,) + train.shape[1:], dtype=np.uint8)),
      ("train images of classes 0-4 only", train[labels < 5][:num_images]),
      ("train images of class 0 only (collapsed)", train[labels == 0][:num_images]),
      ("train images of class 1 only (collapsed)", train[labels == 1][:num_images]),
  ]


def format_value(name, value):
  if name == "modes_covered":
    return f"{value}/10"
  if name == "kid":
    return f"{value:.4f}"
  return f"{value:.2f}" if name in ("fid", "classifier_score") else f"{value:.3f}"


def main(argv):
  del argv
  for dataset in FLAGS.datasets:
    evaluator = evaluation.Evaluator(dataset, FLAGS.data_dir)
    print(f"\n{dataset} (reference: {evaluator.describe()['reference']}, classifier test accuracy "
          f"{evaluator.describe()['classifier_test_accuracy']})\n")
    print("| set | images | " + " | ".join(COLUMNS) + " |")
    print("|---|---:|" + "---:|" * len(COLUMNS))
    for name, images in reference_sets(dataset, FLAGS.data_dir, FLAGS.num_images):
      scores = evaluator(images)
      cells = " | ".join(format_value(column, scores[column]) for column in COLUMNS)
      print(f"| {name} | {len(images):,} | {cells} |", flush=True)


if __name__ == "__main__":
  app.run(main)
