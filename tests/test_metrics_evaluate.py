"""The metrics on real data through the committed classifiers, the Inception path, and zoo.evaluate."""
import json
import os

import numpy as np
import pytest

from tests.conftest import DATA_DIR
from tests.helpers import run_module
from zoo.metrics import classifier as classifier_lib
from zoo.metrics import evaluation
from zoo.metrics import features as features_lib
from zoo.metrics import inception




@pytest.fixture(scope="module")
def mnist(cache):
  # 10 KID subsets instead of 100 keep these tests quick; the orderings they check are far apart.
  return evaluation.Evaluator("mnist", DATA_DIR, download=False, kid_subsets=10)


@pytest.fixture(scope="module")
def mnist_train():
  return classifier_lib.labelled_split("mnist", "train[:6000]", DATA_DIR, download=False)


@pytest.fixture(scope="module")
def real_scores(mnist, mnist_train):
  return mnist(mnist_train[0][:2000])


@pytest.fixture(scope="module")
def collapsed_scores(mnist, mnist_train):
  images, labels = mnist_train
  return mnist(images[labels == 1][:2000])  # a generator that only draws ones


@pytest.mark.parametrize("dataset", sorted(classifier_lib.REQUIRED_ACCURACY))
def test_committed_classifier_is_small_and_records_its_accuracy(dataset):
  record = classifier_lib.read_sidecar(dataset)
  assert os.path.getsize(classifier_lib.weights_path(dataset)) < 2_000_000
  assert record["test_accuracy"] >= classifier_lib.REQUIRED_ACCURACY[dataset]
  assert record["weights_sha256"] == classifier_lib.file_sha256(classifier_lib.weights_path(dataset))


@pytest.mark.parametrize("dataset", sorted(classifier_lib.REQUIRED_ACCURACY))
def test_committed_classifier_reaches_its_recorded_accuracy(dataset):
  images, labels = classifier_lib.labelled_split(dataset, "test", DATA_DIR, download=False)
  model = classifier_lib.load_classifier(dataset)
  accuracy = classifier_lib.measure_accuracy(model, images, labels)
  assert accuracy == pytest.approx(classifier_lib.read_sidecar(dataset)["test_accuracy"], abs=1e-3)


def test_real_images_score_near_the_floor(real_scores):
  real = real_scores
  assert real["fid"] < 5.0 and real["modes_covered"] == 10
  assert real["precision"] > 0.6 and real["recall"] > 0.6 and real["classifier_score"] > 9.0


def test_collapsed_samples_score_far_worse_than_real_ones(real_scores, collapsed_scores):
  real, collapsed = real_scores, collapsed_scores
  assert collapsed["fid"] > 20 * real["fid"]
  assert collapsed["kid"] > 20 * real["kid"]
  assert collapsed["recall"] < 0.2 < real["recall"]
  assert collapsed["modes_covered"] == 1 and collapsed["max_class_share"] > 0.95
  assert collapsed["classifier_score"] < 1.5


def test_reference_features_are_cached_and_read_back(mnist, cache, monkeypatch):
  files = os.listdir(cache)
  assert [f for f in files if f.startswith("mnist_test_")], files
  monkeypatch.setattr(features_lib, "load_split_images",
                      lambda *args, **kwargs: pytest.fail("recomputed despite the cache"))
  features, probabilities = features_lib.reference_features(mnist.extractor, DATA_DIR, download=False)
  np.testing.assert_array_equal(features, mnist.real)
  assert features.shape == (10000, classifier_lib.FEATURE_DIM) and probabilities.shape == (10000, 10)


@pytest.mark.parametrize("images, message", [
    (np.zeros((10, 28, 28, 1), np.float32), "dtype uint8.*to_uint8"),
    (np.full((10, 28, 28, 1), 300, np.int64), "outside the 0..255"),
    (np.zeros((10, 28, 28, 1), np.int32), "astype"),
    (np.zeros((10, 28, 28), np.uint8), r"images\[\.\.\., None\]"),
    (np.zeros((10, 28, 28, 3), np.uint8), "3 channels"),
    (np.zeros((1, 28, 28, 1), np.uint8), "at least 2"),
    (np.zeros((28, 28, 1, 1, 1), np.uint8), "4 axes"),
])
def test_bad_sample_arrays_get_a_clear_error(mnist, images, message):
  with pytest.raises(ValueError, match=message):
    mnist(images)


def test_unknown_dataset_and_extractor_are_named(cache):
  with pytest.raises(ValueError, match="Unknown dataset 'mnits'"):
    evaluation.evaluate_images(np.zeros((4, 28, 28, 1), np.uint8), "mnits", DATA_DIR)
  with pytest.raises(ValueError, match="feature_extractor='vgg'"):
    evaluation.Evaluator("mnist", DATA_DIR, feature_extractor="vgg")


@pytest.mark.slow  # the FID Inception's 24M random weights and two batches at 75x75: ~10-20 s
def test_inception_features_with_random_weights():
  extractor = inception.InceptionFeatures(weights=None, input_size=inception.MIN_INPUT_SIZE)
  rng = np.random.default_rng(0)
  rgb = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
  gray = rng.integers(0, 256, (6, 28, 28, 1), dtype=np.uint8)
  rgb_features, gray_features = extractor(rgb), extractor(gray)
  assert rgb_features.shape == gray_features.shape == (6, 2048)
  assert np.all(np.isfinite(rgb_features))
  scores = evaluation.score_features(rgb_features, rgb_features, k=2)
  assert scores["fid"] == pytest.approx(0.0, abs=1e-3) and scores["precision"] == 1.0
  assert extractor.protocol()["weights_sha256"] is None and "random" in extractor.fingerprint


def test_inception_offline_names_the_file_and_where_to_get_it(tmp_path, monkeypatch):
  from zoo.data import tfds_source
  monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
  monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
  monkeypatch.setenv(features_lib.CACHE_ENV, str(tmp_path / "cache"))
  monkeypatch.setattr(tfds_source, "internet_reachable", lambda: False)
  with pytest.raises(inception.InceptionWeightsUnavailableError) as offline:
    inception.InceptionFeatures()
  assert inception.WEIGHTS_FILE in str(offline.value) and inception.WEIGHTS_URL in str(offline.value)
  with pytest.raises(inception.InceptionWeightsUnavailableError, match="does not exist"):
    inception.InceptionFeatures(weights="/nowhere/inception.pth")


@pytest.mark.slow
def test_training_evaluator_and_the_evaluate_cli_on_a_tiny_run(tmp_path, cache):
  from zoo import config as config_lib
  from zoo import training
  logdir = str(tmp_path / "run")
  config = config_lib.resolve("dense_gan", logdir, {
      "data_dir": DATA_DIR, "train_split": "train[:512]", "steps": 50, "batch_size": 32,
      "steps_per_call": 25, "log_every": 25, "image_every": 50, "checkpoint_every": 50,
      "eval_every": 50, "eval_samples": 300})
  last = training.fit(config, download=False, evaluator=evaluation.training_evaluator(config),
                     log=lambda _: None)
  assert {"eval/fid", "eval/kid", "eval/precision", "eval/recall", "eval/mode_coverage"} <= set(last)

  result = run_module("zoo.evaluate", f"--logdir={logdir}", "--num_samples=300",
                      env={features_lib.CACHE_ENV: cache}, check=True)
  record = json.load(open(os.path.join(logdir, "eval.json")))
  assert record["step"] == 50 and record["num_samples"] == 300 and record["dataset"] == "mnist"
  assert all(np.isfinite(value) for value in record["metrics"].values())
  assert "fid" in result.stdout and "mnist:test (10000 images)" in result.stdout
  protocol = record["protocol"]
  assert protocol["feature_network"] == "domain classifier (mnist)" and protocol["noise_seed"] == 0
  assert protocol["weights_sha256"] == classifier_lib.read_sidecar("mnist")["weights_sha256"]
  assert protocol["reference"] == {"dataset": "mnist", "split": "test", "size": 10000, "image_size": 28,
                                   "image_resize": "area"}
  assert protocol["num_samples"] == 300 and protocol["resize"] == "area to 28x28"
  low, high = record["intervals"]["fid"]
  assert low <= record["metrics"]["fid"] <= high and record["intervals"]["resamples"] == 20
  assert "protocol: domain classifier (mnist)" in result.stdout

  os.chmod(logdir, 0o555)  # a read-only run folder: the scores still print, one line says what failed
  try:
    if not os.access(logdir, os.W_OK):  # root writes anyway; then only the printing is checked
      read_only = run_module("zoo.evaluate", f"--logdir={logdir}", "--num_samples=300", "--bootstrap=0",
                             env={features_lib.CACHE_ENV: cache})
      assert read_only.returncode == 0 and "fid" in read_only.stdout
      assert "Could not write" in read_only.stdout and "Traceback" not in read_only.stderr
  finally:
    os.chmod(logdir, 0o755)


def test_evaluate_cli_reports_a_missing_run_without_a_traceback(tmp_path):
  missing = run_module("zoo.evaluate", f"--logdir={tmp_path / 'nothing'}")
  assert missing.returncode != 0 and "error: --logdir=" in missing.stderr
  assert "Traceback" not in missing.stderr


def test_evaluate_npz_scores_uint8_and_rejects_floats(tmp_path, cache, mnist_train):
  from zoo import evaluate
  good, floats = tmp_path / "good.npz", tmp_path / "floats.npz"
  np.savez(good, images=mnist_train[0][:100])
  np.savez(floats, np.zeros((4, 28, 28, 1), np.float32))
  record = evaluate.evaluate_npz(str(good), "mnist", DATA_DIR)
  assert record["num_samples"] == 100 and record["metrics"]["modes_covered"] >= 8
  with pytest.raises(ValueError, match="images must have dtype uint8"):
    evaluate.evaluate_npz(str(floats), "mnist", DATA_DIR)
  with pytest.raises(ValueError, match="needs --dataset"):
    evaluate.evaluate_npz(str(good), None)


@pytest.fixture(scope="module")
def reports(tmp_path_factory, cache, mnist_train):
  """Two reports of the same protocol (different images) and one of another sample count."""
  from zoo import evaluate
  folder = tmp_path_factory.mktemp("reports")
  paths = {}
  for name, images in (("a", mnist_train[0][:300]), ("b", mnist_train[0][300:600]),
                       ("small", mnist_train[0][:200])):
    npz = folder / f"{name}.npz"
    np.savez(npz, images=images)
    paths[name] = str(folder / f"{name}.json")
    evaluate.write_json(evaluate.evaluate_npz(str(npz), "mnist", DATA_DIR), paths[name])
  return paths


def test_compare_prints_differences_and_refuses_other_protocols(reports):
  same = run_module("zoo.evaluate", "--compare", reports["a"], reports["b"])
  assert same.returncode == 0, same.stderr
  a, b = (json.load(open(reports[name])) for name in "ab")
  fid_line = next(line for line in same.stdout.splitlines() if line.split()[:1] == ["fid"])
  difference = b["metrics"]["fid"] - a["metrics"]["fid"]
  assert float(fid_line.split()[3]) == pytest.approx(difference, abs=1e-4)
  half = np.hypot(np.diff(a["intervals"]["fid"])[0], np.diff(b["intervals"]["fid"])[0]) / 2
  assert fid_line.split("[")[1] == f"{difference - half:.4f}, {difference + half:.4f}]"
  other = run_module("zoo.evaluate", "--compare", reports["a"], reports["small"])
  assert other.returncode != 0 and other.stdout == ""
  assert other.stderr.strip() == (f"error: --compare: the protocols differ in num_samples: 300 "
                                  f"({reports['a']}) vs 200 ({reports['small']}); their numbers are not "
                                  "comparable.")


def test_compare_refuses_a_report_without_protocol(reports, tmp_path):
  from zoo import evaluate
  old = json.load(open(reports["a"]))
  del old["protocol"]
  evaluate.write_json(old, str(tmp_path / "old.json"))
  with pytest.raises(ValueError, match="has no protocol block"):
    evaluate.read_report(str(tmp_path / "old.json"))


def test_json_goes_into_a_new_folder_whole(tmp_path, monkeypatch):
  from zoo import evaluate
  path = tmp_path / "new" / "deeper" / "eval.json"
  evaluate.write_json({"metrics": {"fid": 1.5}}, str(path))
  assert json.load(open(path)) == {"metrics": {"fid": 1.5}}

  def broken_dump(record, f, **kwargs):
    f.write('{"metrics": ')
    raise RuntimeError("disk full")
  monkeypatch.setattr(json, "dump", broken_dump)
  with pytest.raises(RuntimeError):
    evaluate.write_json({"metrics": {"fid": 2.5}}, str(path))
  assert json.load(open(path)) == {"metrics": {"fid": 1.5}}  # the old report, never half a new one
  assert os.listdir(path.parent) == ["eval.json"]


def test_npz_with_the_black_pad_border_must_say_how_it_was_made(tmp_path, cache):
  from zoo import evaluate
  padded = features_lib.load_split_images("mnist", "train", DATA_DIR, download=False, limit=100,
                                          image_size=32, resize="pad")
  npz = tmp_path / "padded.npz"
  np.savez(npz, images=padded)
  with pytest.raises(ValueError, match=r"black border around a central 28x28.*--image_resize=pad"):
    evaluate.evaluate_npz(str(npz), "mnist", DATA_DIR)
  scored = evaluate.evaluate_npz(str(npz), "mnist", DATA_DIR, image_resize="pad", bootstrap=0)
  assert scored["protocol"]["reference"]["image_resize"] == "pad" and scored["intervals"] is None
  # clothes fill their frame: Fashion-MNIST brought to 32 by area is never asked
  clothes = features_lib.load_split_images("fashion_mnist", "train", DATA_DIR, download=False, limit=100,
                                           image_size=32, resize="area")
  evaluate.check_pad_border(clothes, "fashion_mnist", DATA_DIR)
