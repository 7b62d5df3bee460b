"""Scores uint8 image sets against a dataset's real test split: the one entry point the zoo calls.

`evaluate_images(images, dataset)` for any array of samples (generators, codecs, restorations);
`training_evaluator(config)` for `zoo.train --eval_every`; `python -m zoo.evaluate` for a run folder.

Like is compared with like: samples of side S, made by a run whose data pipeline brought the images to S
by `image_resize` (area or pad), are scored against the test split sent through that same pipeline to S,
and both then take one way to the extractor's input (features_lib.back_to_side). Real training images
through a run's pipeline therefore score the same floor at every size (docs/metrics.md).
"""
import functools
import os

import numpy as np

from zoo.metrics import classifier as classifier_lib
from zoo.metrics import features as features_lib
from zoo.metrics import inception as inception_lib
from zoo.metrics import scores

EXTRACTORS = ("auto", "classifier", "inception")
BOOTSTRAP_LEVEL = 0.95
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
  precision, recall = scores.precision_recall(*_equal_subsets(real, fake, seed), k)
  result = {"fid": scores.fid(real, fake), "kid": kid_mean, "kid_std": kid_std,
            "precision": precision, "recall": recall}
  if fake_probabilities is not None:
    result["classifier_score"] = scores.classifier_score(fake_probabilities)
    num_classes = fake_probabilities.shape[1]
    result.update(scores.mode_coverage(np.argmax(fake_probabilities, axis=1), num_classes))
  return result


def _equal_subsets(real, fake, seed):
  """Equally many real and fake vectors for precision/recall (the larger set subsampled)."""
  size = min(len(real), len(fake))
  rng = np.random.default_rng(seed)
  return (real[np.sort(rng.choice(len(real), size, replace=False))],
          fake[np.sort(rng.choice(len(fake), size, replace=False))])


def bootstrap_intervals(real, fake, resamples, k=scores.PRECISION_RECALL_K, seed=0,
                        level=BOOTSTRAP_LEVEL) -> dict:
  """Percentile bootstrap intervals of FID and recall, {"fid": [low, high], "recall": [low, high], ...}.

  FID: the samples' features are drawn with replacement `resamples` times against the fixed reference.
  Such replicates sit above the estimate (a resample holds ~63% distinct samples, and FID grows as its
  sample count shrinks), so the percentile interval is moved down by their mean excess over the estimate
  (bias-corrected): it keeps the replicates' spread around the reported FID. Recall: the real points
  whose membership in the samples' k-NN manifold it averages are drawn with replacement, the manifold
  held fixed (drawing the samples themselves would put duplicates at distance 0 and shrink the k-NN
  radii). The intervals show the spread from the finite sample sets, not from
  the generator's training.
  """
  real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
  rng = np.random.default_rng(seed + 1)
  fids = scores.bootstrap_fid(real, fake, resamples, rng)
  fids -= fids.mean() - scores.fid(real, fake)
  real_subset, fake_subset = _equal_subsets(real, fake, seed)
  covered = scores.inside_manifold(real_subset, fake_subset, scores.kth_neighbour_radii(fake_subset, k))
  recalls = [float(covered[rng.integers(0, len(covered), len(covered))].mean()) for _ in range(resamples)]
  tail = 100 * (1 - level) / 2
  def interval(values):
    return [float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))]
  return {"fid": interval(fids), "recall": interval(recalls), "resamples": resamples, "level": level}


def class_scores(real, real_labels, fake, labels, fake_probabilities=None, k=scores.PRECISION_RECALL_K,
                 seed=0):
  """Scores of a class-conditional generator's samples, class by class.

  `fake` [M, D] are the features of samples generated for `labels` [M]; each class's samples are
  compared with the real features [N, D] of that class (`real_labels` [N]). Returns (summary, per_class):
  per class, its sample count, intra-FID (Miyato & Koyama 2018), precision and recall within the class
  (recall: how much of the class's real variety the samples cover), and with the domain classifier's
  probabilities [M, K] the share of the class's samples it assigns to the requested class
  (`label_accuracy`) and the share of all samples it assigns to the class (`predicted_share`, mode
  coverage as in `scores.mode_coverage`). The summary holds the overall label accuracy and the mean and
  worst intra-FID. A class with too few samples for a score gets None there.
  """
  labels, real_labels = np.asarray(labels), np.asarray(real_labels)
  classes = int(max(labels.max(), real_labels.max())) + 1
  predicted = np.argmax(fake_probabilities, axis=1) if fake_probabilities is not None else None
  rng = np.random.default_rng(seed)
  per_class = []
  for label in range(classes):
    real_class, fake_class = real[real_labels == label], fake[labels == label]
    if not len(fake_class):
      continue
    entry = {"label": label, "num_samples": int(len(fake_class)), "num_real": int(len(real_class)),
             "intra_fid": None, "precision": None, "recall": None}
    if len(real_class) >= 2 and len(fake_class) >= 2:
      entry["intra_fid"] = scores.fid(real_class, fake_class)
    size = min(len(real_class), len(fake_class))
    if size > k:
      entry["precision"], entry["recall"] = scores.precision_recall(
          real_class[np.sort(rng.choice(len(real_class), size, replace=False))],
          fake_class[np.sort(rng.choice(len(fake_class), size, replace=False))], k)
    if predicted is not None:
      entry["label_accuracy"] = float(np.mean(predicted[labels == label] == label))
      share = float(np.mean(predicted == label))
      entry["predicted_share"] = share
      entry["covered"] = bool(share >= scores.COVERED_SHARE_OF_UNIFORM / fake_probabilities.shape[1])
    per_class.append(entry)
  fids = [entry["intra_fid"] for entry in per_class if entry["intra_fid"] is not None]
  summary = {}
  if predicted is not None:
    summary["label_accuracy"] = float(np.mean(predicted == labels))
  if fids:
    summary.update({"intra_fid_mean": float(np.mean(fids)), "intra_fid_max": float(np.max(fids))})
  return summary, per_class


def _check_extractor(feature_extractor, dataset):
  if feature_extractor not in EXTRACTORS:
    raise ValueError(f"feature_extractor={feature_extractor!r} is not one of {', '.join(EXTRACTORS)}.")
  if feature_extractor == "auto":
    return "classifier" if dataset in classifier_lib.REQUIRED_ACCURACY else "inception"
  return feature_extractor


class Evaluator:
  """Holds one feature extractor and the real reference features; call it on uint8 sample arrays.

  `image_size`: the side S of the samples, i.e. the run's --image_size; the reference split is sent
  through the data pipeline to S by `image_resize` (the run's --image_resize). 0 takes S from each sample
  array (a reference per side, built when first needed), which is the dataset's own size for a run
  trained without --image_size. A folder dataset needs S before its first scores.
  """

  def __init__(self, dataset, data_dir=None, download=True, feature_extractor="auto",
               inception_weights="default", kid_subset_size=scores.KID_SUBSET_SIZE,
               kid_subsets=scores.KID_NUM_SUBSETS, k=scores.PRECISION_RECALL_K, image_size=0,
               image_resize="area", inception_resize=inception_lib.DEFAULT_RESIZE):
    from zoo import data
    if dataset not in data.DATASETS:
      raise ValueError(f"Unknown dataset {dataset!r}. Valid names: {', '.join(sorted(data.DATASETS))}.")
    data.pipeline.check_resize(image_resize)
    if image_size < 0:
      raise ValueError(f"image_size must be 0 (the samples' own size) or positive, got {image_size}.")
    self.dataset, self.data_dir, self.download = dataset, data_dir, download
    self.image_size, self.image_resize = image_size, image_resize
    self.feature_extractor = _check_extractor(feature_extractor, dataset)
    if self.feature_extractor == "classifier":
      self.extractor = _classifier_features(dataset)
    else:
      try:
        self.extractor = inception_lib.InceptionFeatures(inception_weights, inception_resize)
      except inception_lib.InceptionWeightsUnavailableError as e:
        raise inception_lib.InceptionWeightsUnavailableError(
            f"{dataset!r} has no domain classifier, so its metrics use the FID Inception: {e}") from None
    self.stored_side = data.stored_side(dataset, data_dir)
    self.options = {"kid_subset_size": kid_subset_size, "kid_subsets": kid_subsets, "k": k}
    self._references = {}  # sample side -> (features, probabilities)
    self._reference_labels = None
    # The side last scored; the reference of a known side is built now, so bad data fails here.
    self.side = image_size or self.stored_side
    if self.side:
      self._reference(self.side)

  @property
  def real(self):
    """Reference features [N, D] of the side last scored (or of `image_size`)."""
    return self._reference(self.side)[0]

  def _reference(self, side):
    if side not in self._references:
      size = 0 if side == self.stored_side else side  # 0: the stored images, untouched
      self._references[side] = features_lib.reference_features(
          self.extractor, self.data_dir, self.download, dataset=self.dataset, image_size=size,
          resize=self.image_resize)
    return self._references[side]

  def reference_name(self) -> str:
    """E.g. 'mnist:test (10000 images) via area 28->64->28': the split and the path its images took."""
    split = features_lib.REFERENCE_SPLIT
    if not self.side:
      return f"{self.dataset}:{split} (at the samples' size)"
    name = f"{self.dataset}:{split} ({len(self.real)} images)"
    if self.side == self.stored_side:
      return name
    source = self.stored_side or "square"
    return f"{name} via {self.image_resize} {source}->{self.side}->{self.extractor.input_side}"

  def describe(self) -> dict:
    """What the numbers were computed with, for the JSON record."""
    record = {"dataset": self.dataset, "feature_extractor": self.feature_extractor,
              "reference": self.reference_name(), "image_size": self.side,
              "image_resize": self.image_resize, **self.options}
    if self.feature_extractor == "classifier":
      record["classifier_test_accuracy"] = classifier_lib.read_sidecar(self.dataset)["test_accuracy"]
    else:
      record["inception_weights"] = self.extractor.weights
    return record

  def protocol(self, num_samples, noise_seed) -> dict:
    """What makes two reports comparable: the feature network and its weights, the resize to its input,
    the reference set, the number of samples and the noise they were drawn from (None: not known, as
    for samples read from a file). `zoo.evaluate --compare` refuses reports whose protocols differ."""
    if self.feature_extractor == "classifier":
      network = {"feature_network": f"domain classifier ({self.dataset})",
                 "weights_sha256": classifier_lib.read_sidecar(self.dataset)["weights_sha256"],
                 "resize": f"{self.image_resize} to {self.extractor.input_side}x{self.extractor.input_side}"}
    else:
      network = {"feature_network": inception_lib.NETWORK, "weights_sha256": self.extractor.weights_sha256,
                 "resize": self.extractor.resize}
    reference = {"dataset": self.dataset, "split": features_lib.REFERENCE_SPLIT, "size": int(len(self.real)),
                 "image_size": self.side, "image_resize": self.image_resize}
    return {**network, "reference": reference, "num_samples": int(num_samples), "noise_seed": noise_seed}

  def reference_labels(self):
    """The class labels [N] of the reference split, in the order of its features."""
    if self._reference_labels is None:
      from zoo import data
      size = self.side if data.is_folder(self.dataset) else 0  # a TFDS split's labels need no resize
      self._reference_labels = features_lib.split_labels(
          self.dataset, features_lib.REFERENCE_SPLIT, self.data_dir, self.download, size, self.image_resize)
    return self._reference_labels

  def __call__(self, images, seed=0) -> dict:
    return self.score(images, seed=seed)[0]

  def score(self, images, labels=None, seed=0):
    """(metrics, per_class): the metrics of `__call__`; for samples generated for class `labels` [N],
    also the summary of `class_scores` among the metrics, and its per-class list (else None)."""
    metrics, per_class, _ = self.score_with_intervals(images, labels, seed)
    return metrics, per_class

  def score_with_intervals(self, images, labels=None, seed=0, bootstrap=0):
    """(metrics, per_class, intervals): `score` plus, with `bootstrap` resamples, the bootstrap
    intervals of FID and recall (`bootstrap_intervals`; None without).

    The domain classifier's classes are the TFDS labels it was trained on, so label agreement is only
    measured with it; intra-FID works with any extractor on any labelled dataset.
    """
    images = features_lib.check_images(images, channels=self.extractor.channels)
    height, width = images.shape[1:3]
    if height != width:
      raise ValueError(f"samples are {height}x{width}; the metrics compare square images.")
    if self.image_size and height != self.image_size:
      raise ValueError(f"samples are {height}x{width} but this evaluator compares images of side "
                       f"{self.image_size} (image_size={self.image_size}); pass the size the samples were "
                       "made at (--image_size).")
    real, _ = self._reference(height)
    self.side = height
    fake, fake_probabilities = self.extractor.extract(images, self.image_resize)
    result = score_features(real, fake, fake_probabilities, seed=seed, **self.options)
    intervals = bootstrap_intervals(real, fake, bootstrap, self.options["k"], seed) if bootstrap else None
    if self.image_resize == "pad" and height > self.extractor.input_side:
      # The crop back to the classifier's size ignores the padded border, so report what is drawn there.
      result["pad_border_mean"] = features_lib.pad_border_mean(images, self.extractor.input_side)
    if labels is None:
      return result, None, intervals
    labels = np.asarray(labels)
    if labels.shape != (len(images),):
      raise ValueError(f"{labels.shape[0] if labels.ndim else 0} labels for {len(images)} images.")
    summary, per_class = class_scores(real, self.reference_labels(), fake, labels, fake_probabilities,
                                      self.options["k"], seed)
    return {**result, **summary}, per_class, intervals


@functools.lru_cache(maxsize=None)
def _classifier_features(dataset):
  """One classifier per dataset and process, shared by the evaluators of every size (it is stateless)."""
  return features_lib.ClassifierFeatures(dataset)


@functools.lru_cache(maxsize=4)
def get_evaluator(dataset, data_dir=None, download=True, feature_extractor="auto",
                  inception_weights="default", kid_subsets=scores.KID_NUM_SUBSETS, image_size=0,
                  image_resize="area", inception_resize=inception_lib.DEFAULT_RESIZE) -> Evaluator:
  """A shared Evaluator per setting: the extractor and reference features load once per process."""
  return Evaluator(dataset, data_dir, download, feature_extractor, inception_weights,
                   kid_subsets=kid_subsets, image_size=image_size, image_resize=image_resize,
                   inception_resize=inception_resize)


def evaluate_images(images, dataset, data_dir=None, feature_extractor="auto", download=True,
                    image_resize="area") -> dict:
  """Scores uint8 images [N, S, S, C] against `dataset`'s test split; returns {metric: float}.

  The test split is sent to S by `image_resize` ("area" or "pad", as the images were made), then both go
  back to the extractor's input size alike. Keys: fid, kid, kid_std, precision, recall, and for
  MNIST-like data classifier_score, modes_covered, mode_coverage, max_class_share, min_class_share.
  See docs/metrics.md.
  """
  return get_evaluator(dataset, data_dir, download, feature_extractor, image_resize=image_resize)(images)


def training_evaluator(config):
  """`evaluator(generator, step) -> {metric: float}` for zoo.training.fit, on `config.eval_samples`.

  Built at once, so a dataset that cannot be scored (no reference split, FID Inception weights missing
  offline) stops the run at startup, not at its first evaluation.
  """
  from zoo import data, sampling
  if config.eval_samples < 2:
    raise ValueError(f"--eval_samples must be at least 2 (better thousands), got {config.eval_samples}.")
  try:
    evaluator = get_evaluator(config.dataset, config.data_dir, kid_subsets=TRAINING_KID_SUBSETS,
                              image_size=config.image_size, image_resize=data.image_resize(config))
  except inception_lib.InceptionWeightsUnavailableError as e:
    if os.environ.get(inception_lib.WEIGHTS_ENV):  # the error is about that file
      raise inception_lib.InceptionWeightsUnavailableError(f"--eval_every: {e}") from None
    raise inception_lib.InceptionWeightsUnavailableError(
        f"--eval_every on {config.dataset!r} scores with the FID Inception (there is no domain classifier), "
        f"whose weights are not available: set {inception_lib.WEIGHTS_ENV}=FILE, FILE being a local copy "
        f"of {inception_lib.WEIGHTS_FILE} from {inception_lib.WEIGHTS_URL}, or train without --eval_every "
        "and score the run later with python -m zoo.evaluate --logdir=RUN --inception_weights=FILE."
    ) from None
  except ValueError as e:
    raise ValueError(f"--eval_every: {e}") from None

  classes = sampling.num_classes(config)

  def evaluate(generator, step):
    del step  # the same noise (and labels) at every step, see EVAL_NOISE_SEED
    labels = sampling.cycling_labels(config.eval_samples, classes) if classes else None
    samples = sampling.generate(generator, config, config.eval_samples, seed=EVAL_NOISE_SEED, labels=labels)
    return evaluator.score(samples, labels)[0]
  return evaluate
