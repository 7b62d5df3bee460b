"""Scores uint8 image sets against a dataset's real test split: the one entry point the zoo calls.

`evaluate_images(images, dataset)` for any array of samples (generators, codecs, restorations);
`training_evaluator(config)` for `zoo.train --eval_every`; `python -m zoo.evaluate` for a run folder.
"""
import functools
import os

import numpy as np

from zoo.metrics import classifier as classifier_lib
from zoo.metrics import features as features_lib
from zoo.metrics import scores

EXTRACTORS = ("auto", "classifier", "inception")
EVAL_NOISE_SEED = 1234  # the same z at every evaluation of a run, so its curve shows G, not the noise
# KID's subset loop dominates an evaluation's cost; during training 10 subsets keep an evaluation of
# 5,000 samples to seconds, and the mean stays unbiased (only its std is coarser).
TRAINING_KID_SUBSETS = 10


def score_features(real, fake, fake_probabilities=None, kid_subset_size=scores.KID_SUBSET_SIZE,
                   kid_subsets=scores.KID_NUM_SUBSETS, k=scores.PRECISION_RECALL_K, seed=0) -> dict:
  """Every metric of one fake feature set [M, D] against the real set [N, D], as {name: float}.

  With the fake set's class probabilities [M, K] it adds the classifier score and mode coverage.

  Precision/recall compare equally many vectors (the larger set is subsampled), because the k-NN
  radii shrink as a set grows and the paper's numbers assume equal sizes.
  """
  kid_mean, kid_std = scores.kid(real, fake, kid_subset_size, kid_subsets, seed)
  size = min(len(real), len(fake))
  rng = np.random.default_rng(seed)
  real_subset = real[np.sort(rng.choice(len(real), size, replace=False))]
  fake_subset = fake[np.sort(rng.choice(len(fake), size, replace=False))]
  precision, recall = scores.precision_recall(real_subset, fake_subset, k)
  result = {"fid": scores.fid(real, fake), "kid": kid_mean, "kid_std": kid_std,
            "precision": precision, "recall": recall}
  if fake_probabilities is not None:
    result["classifier_score"] = scores.classifier_score(fake_probabilities)
    num_classes = fake_probabilities.shape[1]
    result.update(scores.mode_coverage(np.argmax(fake_probabilities, axis=1), num_classes))
  return result


def _check_extractor(feature_extractor, dataset):
  if feature_extractor not in EXTRACTORS:
    raise ValueError(f"feature_extractor={feature_extractor!r} is not one of {', '.join(EXTRACTORS)}.")
  if feature_extractor == "auto":
    return "classifier" if dataset in classifier_lib.REQUIRED_ACCURACY else "inception"
  return feature_extractor


class Evaluator:
  """Holds one feature extractor and the real reference features; call it on uint8 sample arrays."""

  def __init__(self, dataset, data_dir=None, download=True, feature_extractor="auto",
               inception_weights="imagenet", kid_subset_size=scores.KID_SUBSET_SIZE,
               kid_subsets=scores.KID_NUM_SUBSETS, k=scores.PRECISION_RECALL_K):
    from zoo import data
    if dataset not in data.DATASETS:
      raise ValueError(f"Unknown dataset {dataset!r}. Valid names: {', '.join(sorted(data.DATASETS))}.")
    self.dataset = dataset
    self.feature_extractor = _check_extractor(feature_extractor, dataset)
    if self.feature_extractor == "classifier":
      self.extractor = features_lib.ClassifierFeatures(dataset)
      self.real, _ = features_lib.reference_features(self.extractor, data_dir, download)
    else:
      from zoo.metrics import inception
      self.extractor = inception.InceptionFeatures(inception_weights)
      self.real = _inception_reference(self.extractor, dataset, data_dir, download)
    self.options = {"kid_subset_size": kid_subset_size, "kid_subsets": kid_subsets, "k": k}

  def describe(self) -> dict:
    """What the numbers were computed with, for the JSON record."""
    record = {"dataset": self.dataset, "feature_extractor": self.feature_extractor,
              "reference": f"{self.dataset}:{features_lib.REFERENCE_SPLIT} ({len(self.real)} images)",
              **self.options}
    if self.feature_extractor == "classifier":
      record["classifier_test_accuracy"] = classifier_lib.read_sidecar(self.dataset)["test_accuracy"]
    else:
      record["inception_weights"] = self.extractor.weights
    return record

  def __call__(self, images, seed=0) -> dict:
    if self.feature_extractor == "classifier":
      fake, fake_probabilities = self.extractor(images)
    else:
      fake, fake_probabilities = self.extractor(images), None
    return score_features(self.real, fake, fake_probabilities, seed=seed, **self.options)


def _inception_reference(extractor, dataset, data_dir, download):
  """Inception features of the real reference split, cached on disk like the classifier's."""
  key = f"{dataset}_{features_lib.REFERENCE_SPLIT}_inception_{extractor.weights}_{extractor.input_size}"
  path = os.path.join(features_lib.cache_dir(), f"{key}.npz")
  if os.path.exists(path):
    with np.load(path) as cached:
      return cached["features"]
  real = extractor(features_lib.load_split_images(dataset, features_lib.REFERENCE_SPLIT, data_dir, download))
  os.makedirs(features_lib.cache_dir(), exist_ok=True)
  np.savez(path, features=real)
  return real


@functools.lru_cache(maxsize=4)
def get_evaluator(dataset, data_dir=None, download=True, feature_extractor="auto",
                  inception_weights="imagenet", kid_subsets=scores.KID_NUM_SUBSETS) -> Evaluator:
  """A shared Evaluator per setting: the classifier and reference features load once per process."""
  return Evaluator(dataset, data_dir, download, feature_extractor, inception_weights,
                   kid_subsets=kid_subsets)


def evaluate_images(images, dataset, data_dir=None, feature_extractor="auto", download=True) -> dict:
  """Scores uint8 images [N, H, W, C] against `dataset`'s test split; returns {metric: float}.

  Keys: fid, kid, kid_std, precision, recall, and for MNIST-like data classifier_score, modes_covered,
  mode_coverage, max_class_share, min_class_share. See docs/metrics.md.
  """
  return get_evaluator(dataset, data_dir, download, feature_extractor)(images)


def training_evaluator(config):
  """`evaluator(generator, step) -> {metric: float}` for zoo.training.fit, on `config.eval_samples`."""
  from zoo import sampling
  if config.eval_samples < 2:
    raise ValueError(f"--eval_samples must be at least 2 (better thousands), got {config.eval_samples}.")
  evaluator = get_evaluator(config.dataset, config.data_dir, kid_subsets=TRAINING_KID_SUBSETS)

  def evaluate(generator, step):
    del step  # the same noise at every step, see EVAL_NOISE_SEED
    samples = sampling.generate(generator, config, config.eval_samples, seed=EVAL_NOISE_SEED)
    return evaluator(samples)
  return evaluate
