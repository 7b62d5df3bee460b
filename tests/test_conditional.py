"""Class-conditional GANs (zoo/models/conditioning.py, docs/conditional.md): labels from the data to the
batch, the conditioning layers, the recipe on a conditional D, sampling, export and scores by class.

tests/test_contract.py covers the conditional variants of dcgan like any other variant (forward/backward,
1 vs 2 replicas, exact resume, export without the zoo, every CLI). dense_gan refuses --conditional
(tests/test_dense_gan.py).
"""
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import photos
from tests.conftest import DATA_DIR
from tests.helpers import assert_one_and_two_replicas_agree, run_module, smoke_config
from zoo import data
from zoo import images as images_lib
from zoo import models
from zoo import runs
from zoo import training
from zoo.metrics import evaluation
from zoo.models import conditioning
from zoo.recipe import augment

QUIET = dict(log=lambda *_: None)
# The recipe's pieces on a conditional D: R1 (lazy), EMA and DiffAugment together, and a hinge loss with
# spectral norm on the projection D.
RECIPES = {
    "r1_ema_augment": {"r1_gamma": 1.0, "r1_every": 2, "ema_decay": 0.9,
                       "augment": "translation,cutout,color"},
    "hinge_sn": {"loss": "hinge", "spectral_norm": True},
}
CASES = [("dcgan", "projection"), ("dcgan", "concat")]


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
  """A finished smoke run of conditional dcgan (projection D)."""
  config = smoke_config("dcgan", "projection", tmp_path_factory.mktemp("conditional"), steps=2)
  training.fit(config, **QUIET)
  return config


# ---- labels from the data ----------------------------------------------------------------------------

def _first_batches(config, count, start_step=0):
  return list(data.training_batches(config, start_step, download=False).take(count).as_numpy_iterator())


def test_labelled_batches_hold_the_same_images_in_the_same_order_with_their_labels(tmp_path):
  # 28x28 digits padded to 32x32, so each image's central 28x28 is the stored digit.
  unresized = dict(image_size=32, image_resize="pad", shuffle_buffer=64)
  conditional = smoke_config("dcgan", "projection", tmp_path, **unresized)
  plain = smoke_config("dcgan", "default", tmp_path, **unresized)
  assert data.uses_labels(conditional) and not data.uses_labels(plain)
  labelled, unlabelled = _first_batches(conditional, 20), _first_batches(plain, 20)  # > 1 epoch of 256
  examples = data.load_examples("mnist", conditional.train_split, DATA_DIR, download=False)
  label_of = {image.tobytes(): label for image, label in examples.as_numpy_iterator()}
  for batch, images in zip(labelled, unlabelled):
    np.testing.assert_array_equal(batch["real"], images)
    assert batch["label"].dtype == np.int32
    expected = [label_of[np.round((image[2:30, 2:30] + 1) * 127.5).astype(np.uint8).tobytes()]
                for image in batch["real"]]  # dcgan's pixels are in [-1, 1]
    np.testing.assert_array_equal(batch["label"], expected)
  # The stream is a pure function of (seed, step): a resumed stream continues it exactly.
  for batch, resumed in zip(labelled[13:], _first_batches(conditional, 7, start_step=13)):
    np.testing.assert_array_equal(batch["label"], resumed["label"])
    np.testing.assert_array_equal(batch["real"], resumed["real"])


@pytest.mark.slow
def test_folder_labels_train_a_conditional_run_and_unlabelled_folders_are_refused(tmp_path):
  digits = photos.write_mnist_folder(tmp_path / "digits", DATA_DIR)
  config = smoke_config("dcgan", "projection", tmp_path / "run", data_dir=digits, dataset="folder",
                        train_split="train", batch_size=16)
  assert conditioning.num_classes(config) == 10
  training.fit(config, **QUIET)
  flat = tmp_path / "flat"
  photos.copy_pngs(tmp_path / "digits" / "train" / "3", flat / "train", 5)
  unlabelled = smoke_config("dcgan", "projection", tmp_path / "run2", data_dir=str(flat),
                            dataset="folder", train_split="train", batch_size=4)
  with pytest.raises(ValueError, match="trains on class labels.*class sub-folders"):
    training.fit(unlabelled, **QUIET)


def test_the_unconditional_default_builds_the_articles_networks(tmp_path):
  for model in ("dense_gan", "dcgan"):
    config = smoke_config(model, "default", tmp_path)
    assert config.options["conditional"] == "none" and models.get_model(model).num_classes(config) == 0
    trainer = training.GANTrainer(config)
    assert trainer.generator.input_shape == (None, config.latent_dim)
    assert not isinstance(trainer.discriminator.input, dict)
    assert not data.uses_labels(config) and "label" not in trainer.fixed_batch(4)


# ---- the conditioning layers ----------------------------------------------------------------------------

def test_projection_adds_the_inner_product_of_the_label_embedding_and_the_features(tmp_path):
  config = smoke_config("dcgan", "projection", tmp_path)
  features, label = keras.Input([6]), keras.Input([], dtype="int32")
  head = keras.layers.Dense(1)
  model = keras.Model([features, label], conditioning.projection(config, features, label, head(features)))
  embedding = next(layer for layer in model.layers if isinstance(layer, keras.layers.Embedding))
  x, y = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32), np.array([0, 3, 9, 3])
  expected = x @ head.kernel.numpy() + head.bias.numpy() + np.sum(embedding.embeddings.numpy()[y] * x, 1,
                                                                  keepdims=True)
  np.testing.assert_allclose(model([x, y]), expected, rtol=1e-5, atol=1e-6)


def test_concat_joins_one_hot_labels_to_vectors_and_to_every_pixel(tmp_path):
  config = smoke_config("dcgan", "concat", tmp_path)
  label = keras.Input([], dtype="int32")
  for shape in ([5], [4, 4, 2]):
    x = keras.Input(shape)
    model = keras.Model([x, label], conditioning.join_label(config, x, label))
    joined = model([np.zeros([2] + shape, np.float32), np.array([1, 7])]).numpy()
    assert joined.shape == (2, *shape[:-1], shape[-1] + 10)
    one_hot = joined[..., shape[-1]:].reshape(2, -1, 10)
    assert (one_hot[0] == np.eye(10)[1]).all() and (one_hot[1] == np.eye(10)[7]).all()


def test_conditional_batch_norm_starts_as_batch_norm_and_learns_per_class_scales():
  x, label = keras.Input([3, 3, 4]), keras.Input([], dtype="int32")
  outputs = conditioning.conditional_batch_norm(x, label, 10, keras.layers.BatchNormalization)
  model = keras.Model([x, label], outputs)
  images = np.random.default_rng(0).normal(size=(6, 3, 3, 4)).astype(np.float32)
  labels = np.arange(6)
  plain = keras.layers.BatchNormalization()
  np.testing.assert_allclose(model([images, labels], training=True), plain(images, training=True), atol=1e-5)
  gammas = next(layer for layer in model.layers if isinstance(layer, keras.layers.Embedding))
  gammas.embeddings.assign(np.arange(10, dtype=np.float32)[:, None] * np.ones([10, 4], np.float32))
  scaled = model([images, labels], training=True).numpy()
  np.testing.assert_allclose(scaled, plain(images, training=True) * labels[:, None, None, None], atol=1e-4)


@pytest.mark.parametrize("model,variant", CASES)
def test_conditional_networks_are_stock_keras_and_use_the_label(model, variant, tmp_path):
  config = smoke_config(model, variant, tmp_path, precision="float32")
  trainer = training.GANTrainer(config)
  batch = trainer.fixed_batch(8)
  z = tf.random.stateless_normal([8, config.latent_dim], [0, 0])
  spec = trainer.spec
  fake = trainer.generator(spec.generator_input(batch, z), training=False)
  relabelled = {**batch, "label": (batch["label"] + 1) % 10}
  assert not np.allclose(fake, trainer.generator(spec.generator_input(relabelled, z), training=False))
  logits = trainer.discriminator(spec.discriminator_input(batch, batch["real"]), training=False)
  other = trainer.discriminator(spec.discriminator_input(relabelled, batch["real"]), training=False)
  assert logits.shape == (8, 1) and not np.allclose(logits, other)
  stock = runs.build_generator(config, spec)
  assert all(type(layer).__module__.startswith("keras") for layer in stock.layers)


def test_diffaugment_changes_only_the_images_of_a_conditional_d_input(tmp_path):
  config = smoke_config("dcgan", "projection", tmp_path, augment="translation,cutout,color")
  trainer = training.GANTrainer(config)
  batch = trainer.fixed_batch(8)
  seed = tf.constant([1, 2], tf.int64)
  inputs = trainer.gan_step.objective.discriminator_input(batch, batch["real"], seed)
  np.testing.assert_array_equal(inputs["label"], batch["label"])
  expected = augment.diff_augment(batch["real"], augment.parse_policy(config.augment),
                                  tf.constant([1, 2], tf.int64))
  np.testing.assert_array_equal(inputs["images"], expected)


# ---- the recipe on a conditional D: exact resume and 1 vs 2 replicas ------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("recipe", sorted(RECIPES))
@pytest.mark.parametrize("model,variant", CASES)
def test_resume_is_bit_exact_with_the_recipe(model, variant, recipe, tmp_path):
  values = RECIPES[recipe]
  whole = smoke_config(model, variant, tmp_path / "whole", steps=4, **values)
  training.fit(whole, **QUIET)
  training.fit(smoke_config(model, variant, tmp_path / "split", steps=2, **values), **QUIET)
  training.fit(smoke_config(model, variant, tmp_path / "split", steps=4, **values), **QUIET)
  from zoo import runs
  readers = [tf.train.load_checkpoint(runs.latest_checkpoint(str(path))) for path in
             (tmp_path / "whole", tmp_path / "split")]
  names = readers[0].get_variable_to_shape_map()
  assert names == readers[1].get_variable_to_shape_map()
  for name in names:
    if name != "_CHECKPOINTABLE_OBJECT_GRAPH":
      np.testing.assert_array_equal(readers[1].get_tensor(name), readers[0].get_tensor(name), err_msg=name)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", sorted(RECIPES))
@pytest.mark.parametrize("model,variant", CASES)
def test_one_and_two_replicas_agree_with_the_recipe(model, variant, recipe, tmp_path):
  assert_one_and_two_replicas_agree(smoke_config(model, variant, tmp_path, precision="float32",
                                                 **RECIPES[recipe]))


# ---- grids, sampling and evaluation by class --------------------------------------------------------

def test_grids_have_one_row_per_class(conditional_run):
  trainer = training.GANTrainer(conditional_run)
  grid = trainer.sample_grid()
  side = conditional_run.image_size + 2
  assert grid.shape == (10 * side + 2, 1 * side + 2, 1)  # num_grid_images=4 < 10 classes: one column
  assert os.listdir(os.path.join(conditional_run.logdir, "samples")), "the run wrote no sample grids"


def test_sample_by_label(conditional_run, tmp_path):
  from zoo import sample
  out = str(tmp_path / "s.npz")
  samples = sample.write_samples(conditional_run.logdir, 12, out)
  np.testing.assert_array_equal(np.load(out)["labels"], np.arange(12) % 10)
  sample.write_samples(conditional_run.logdir, 3, out, labels=["7"])
  np.testing.assert_array_equal(np.load(out)["labels"], [7, 7, 7])
  every_class = sample.write_samples(conditional_run.logdir, 12, out, labels=[str(k) for k in range(10)])
  np.testing.assert_array_equal(every_class, samples)  # the default: every class in turn
  grid = sample.write_samples(conditional_run.logdir, 5, str(tmp_path / "g.png"), labels=["0", "1", "2"])
  assert grid.shape[0] == 6  # one row per label, 5 rounded up to 2 columns
  # Row 0 is class 0 from the first two noise vectors, as samples 0 (class 0) and 1 (class 1) are drawn.
  assert np.abs(grid[0].astype(int) - samples[0].astype(int)).max() <= 1
  assert np.abs(grid[3].astype(int) - samples[1].astype(int)).max() <= 1
  sevens = sample.write_samples(conditional_run.logdir, 9, str(tmp_path / "7.png"), labels=["7"])
  side = samples.shape[1]
  assert images_lib.read_png(str(tmp_path / "7.png")).shape[:2] == (3 * side + 4 * 2,) * 2  # one label: 3x3
  assert len(sevens) == 9
  for bad, message in ((["10"], "not all classes"), (["seven"], "neither a class index nor a class name")):
    with pytest.raises(ValueError, match=message):
      sample.write_samples(conditional_run.logdir, 3, out, labels=bad)


def test_an_unconditional_run_refuses_labels(tmp_path):
  from zoo import sample
  config = smoke_config("dense_gan", "default", tmp_path, steps=1)
  training.fit(config, **QUIET)
  with pytest.raises(ValueError, match="not class-conditional"):
    sample.write_samples(config.logdir, 3, str(tmp_path / "s.npz"), labels=["3"])


def test_class_scores_of_real_features_by_hand():
  rng = np.random.default_rng(0)
  real_labels = np.repeat(np.arange(3), 40)
  real = rng.normal(size=(120, 4)) + real_labels[:, None] * 10.0
  probabilities = np.eye(3)[real_labels]
  probabilities[:10] = np.eye(3)[1]  # 10 samples of class 0 that the classifier calls 1
  summary, per_class = evaluation.class_scores(real, real_labels, real, real_labels, probabilities)
  assert summary["label_accuracy"] == pytest.approx(110 / 120)
  assert [entry["label_accuracy"] for entry in per_class] == pytest.approx([30 / 40, 1.0, 1.0])
  assert [entry["predicted_share"] for entry in per_class] == pytest.approx([30 / 120, 50 / 120, 40 / 120])
  assert all(entry["intra_fid"] < 1e-6 and entry["recall"] == 1.0 for entry in per_class)
  swapped, _ = evaluation.class_scores(real, real_labels, real, (real_labels + 1) % 3)
  assert swapped["intra_fid_mean"] > 100  # samples of the wrong class are far from the class's images


@pytest.mark.slow
def test_evaluate_reports_label_agreement_and_every_class(conditional_run, tmp_path):
  from zoo import evaluate, sample
  record = evaluate.evaluate_run(conditional_run.logdir, num_samples=200)
  assert record["sample_labels"] == "cycling 0..K-1"
  assert [entry["label"] for entry in record["classes"]] == list(range(10))
  assert all(entry["num_samples"] == 20 and np.isfinite(entry["intra_fid"]) for entry in record["classes"])
  assert 0 <= record["metrics"]["label_accuracy"] <= 1 and np.isfinite(record["metrics"]["intra_fid_mean"])
  assert "label_acc" in evaluate.format_table(record)
  sample.write_samples(conditional_run.logdir, 200, str(tmp_path / "s.npz"))
  from_npz = evaluate.evaluate_npz(str(tmp_path / "s.npz"), logdir=conditional_run.logdir)
  assert from_npz["metrics"] == pytest.approx(record["metrics"])


@pytest.mark.slow
def test_the_sample_and_evaluate_clis_by_class(conditional_run, tmp_path):
  out = str(tmp_path / "three.npz")
  result = run_module("zoo.sample", f"--logdir={conditional_run.logdir}", "--num=4", f"--out={out}",
                      "--label=3", check=True)
  assert "wrote 4 samples" in result.stdout
  assert (np.load(out)["labels"] == 3).all()
  result = run_module("zoo.sample", f"--logdir={conditional_run.logdir}", "--label=11", f"--out={out}")
  assert result.returncode != 0 and "not all classes" in result.stderr
  report = str(tmp_path / "eval.json")
  run_module("zoo.evaluate", f"--logdir={conditional_run.logdir}", "--num_samples=100", f"--output={report}",
             check=True)
  with open(report) as f:
    assert len(json.load(f)["classes"]) == 10
