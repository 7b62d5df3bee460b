"""Pretrained packages (zoo/pretrained.py, experiments/package.py) made from 2-step smoke runs, and the
latent maths behind exploring them (zoo/explore.py)."""
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import DATA_DIR
from tests.helpers import run_module, smoke_config
from zoo import explore, pretrained, training

QUIET = dict(log=lambda *_: None)


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
  """A root holding dcgan/mnist and dcgan/mnist-conditional (trained on 28x28 digits padded to 32x32),
  each from a 2-step run, with $ZOO_PRETRAINED_DIR pointing at it; yields (root, {name: run folder})."""
  from experiments import package
  base = tmp_path_factory.mktemp("pretrained")
  root = str(base / "packages")
  made = {"dcgan/mnist": smoke_config("dcgan", "default", base / "dcgan", image_size=32, image_resize="pad"),
          "dcgan/mnist-conditional": smoke_config("dcgan", "projection", base / "conditional", image_size=32,
                                                  image_resize="pad")}
  for name, config in made.items():
    training.fit(config, **QUIET)
    package.make_package(config.logdir, name, root, command=f"python -m zoo.train --model={config.model}",
                         evaluation={"metrics": {"fid": 123.4, "recall": 0.25},
                                     "intervals": {"fid": [120.0, 127.0]}},
                         log=lambda *_: None)
  before = os.environ.get(pretrained.ENV)
  os.environ[pretrained.ENV] = root
  yield root, {name: config.logdir for name, config in made.items()}
  if before is None:
    del os.environ[pretrained.ENV]
  else:
    os.environ[pretrained.ENV] = before


_SAMPLE_WITHOUT_THE_ZOO = """
import hashlib, json, os, sys
sys.modules["zoo"] = None  # any import of the zoo fails from here on
import keras, numpy as np
folder = sys.argv[1]
for line in open(os.path.join(folder, "MANIFEST.sha256")):
  digest, path = line.rstrip("\\n").split("  ", 1)
  assert hashlib.sha256(open(os.path.join(folder, path), "rb").read()).hexdigest() == digest, path
card = json.load(open(os.path.join(folder, "card.json")))
model = keras.saving.load_model(os.path.join(folder, "generator.keras"))
z = np.random.default_rng(0).normal(size=(3, card["latent_dim"])).astype("float32")
np.savez(sys.argv[2], z=z, images=np.asarray(model(z, training=False)))
"""


def test_a_package_loads_and_samples_in_plain_keras_without_the_zoo(packages, tmp_path):
  root, _ = packages
  folder = os.path.join(root, "dcgan", "mnist")
  result = subprocess.run([sys.executable, "-c", _SAMPLE_WITHOUT_THE_ZOO, folder, str(tmp_path / "out.npz")],
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  assert result.returncode == 0, result.stderr[-3000:]
  out = np.load(tmp_path / "out.npz")
  assert out["images"].shape == (3, 32, 32, 1) and out["images"].dtype == np.float32  # as G draws, in float32
  # zoo.load gives the same images, at the dataset's 28x28: the central crop, in uint8.
  unit = np.clip((out["images"] + 1) / 2, 0, 1) if pretrained.load("dcgan/mnist").pixel_range == "symmetric" \
      else np.clip(out["images"], 0, 1)
  expected = np.round(unit * 255).astype(np.uint8)[:, 2:30, 2:30]
  got = pretrained.load("dcgan/mnist")(out["z"])
  assert got.shape == (3, 28, 28, 1) and got.dtype == np.uint8
  assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


def test_zoo_load_samples_a_padded_dcgan_at_28x28_like_the_run(packages, tmp_path):
  import zoo
  from zoo import sample
  _, runs = packages
  generator = zoo.load("dcgan/mnist")
  samples = generator.sample(5, seed=3)
  assert samples.shape == (5, 28, 28, 1) and samples.dtype == np.uint8
  floats = generator.sample(5, seed=3, output="float")
  assert floats.dtype == np.float32 and np.abs(floats * 255 - samples).max() <= 0.5 + 1e-4
  from_run = sample.write_samples(runs["dcgan/mnist"], 5, str(tmp_path / "run.npz"), seed=3)
  assert from_run.shape == (5, 28, 28, 1)  # the run's own samples are cropped too
  np.testing.assert_array_equal(samples, from_run)  # the run trained in float32: the same numbers
  from_package = sample.write_samples(None, 5, str(tmp_path / "package.npz"), seed=3,
                                      pretrained="dcgan/mnist")
  np.testing.assert_array_equal(from_package, samples)


def test_the_card_holds_what_using_and_judging_the_model_take(packages):
  root, _ = packages
  card = pretrained.read_card("dcgan/mnist")
  assert card["image_shape"] == [28, 28, 1] and card["model_image_shape"] == [32, 32, 1]
  assert card["inputs"] == "noise" and card["latent_dim"] == 100 and card["num_classes"] == 0
  assert card["training"]["steps"] == 2 and card["training"]["images_seen"] == 2 * 16
  assert card["headline"] == {"fid": {"value": 123.4, "interval": [120.0, 127.0]},
                              "recall": {"value": 0.25, "interval": None}}
  text = open(os.path.join(root, "dcgan", "mnist", "model_card.md")).read()
  assert "| fid | 123.4 | [120, 127] |" in text and "python -m zoo.train --model=dcgan" in text
  conditional = pretrained.read_card("dcgan/mnist-conditional")
  assert conditional["num_classes"] == 10 and conditional["class_names"][:2] == ["0", "1"]


def _copy_package(root, tmp_path):
  """A copy of dcgan/mnist alone under a new root (first in $ZOO_PRETRAINED_DIR) to damage."""
  copy = tmp_path / "damaged"
  shutil.copytree(os.path.join(root, "dcgan", "mnist"), copy / "dcgan" / "mnist")
  return str(copy / "dcgan" / "mnist")


@pytest.mark.parametrize("damage, phrase", [
    ("truncate", "generator.keras fails its sha256 check"),
    ("edit", "card.json fails its sha256 check"),
    ("add", "extra.txt is not in MANIFEST.sha256"),
    ("remove", "config.json is missing from the package"),
])
def test_a_damaged_package_is_refused_in_one_line_naming_the_file(packages, tmp_path, monkeypatch, damage,
                                                                  phrase):
  root, _ = packages
  folder = _copy_package(root, tmp_path)
  if damage == "truncate":
    with open(os.path.join(folder, "generator.keras"), "r+b") as f:
      f.truncate(os.path.getsize(f.name) - 100)
  elif damage == "edit":
    card = json.load(open(os.path.join(folder, "card.json")))
    card["headline"]["fid"]["value"] = 1.0
    json.dump(card, open(os.path.join(folder, "card.json"), "w"))
  elif damage == "add":
    open(os.path.join(folder, "extra.txt"), "w").write("x")
  else:
    os.remove(os.path.join(folder, "config.json"))
  monkeypatch.setenv(pretrained.ENV, os.pathsep.join([str(tmp_path / "damaged"), root]))
  with pytest.raises(pretrained.PackageError) as raised:
    pretrained.load("dcgan/mnist")
  assert phrase in str(raised.value) and "\n" not in str(raised.value)


def test_an_unknown_name_is_one_line_listing_the_valid_ones(packages):
  with pytest.raises(pretrained.PackageError) as raised:
    pretrained.load("dcgan/mnsit")
  message = str(raised.value)  # the test's packages and the shipped ones, sorted
  assert message.startswith("Unknown pretrained package 'dcgan/mnsit'; valid names: ") and "\n" not in message
  names = message.split("valid names: ")[1].rstrip(".").split(", ")
  assert {"dcgan/mnist", "dcgan/mnist-conditional"} <= set(names) and names == sorted(names)


def test_the_sample_cli_lists_and_samples_packages(packages, tmp_path):
  root, _ = packages
  env = {pretrained.ENV: root}
  listing = run_module("zoo.sample", "--list_pretrained", env=env, check=True).stdout
  assert "dcgan/mnist" in listing and "fid 123 [120, 127], recall 0.25" in listing
  out = tmp_path / "s.npz"
  result = run_module("zoo.sample", "--pretrained=dcgan/mnist-conditional", "--num=6", "--label=7",
                      f"--out={out}", "--truncation=0.5", env=env, check=True)
  assert "wrote 6 samples (28, 28, 1)" in result.stdout
  assert (np.load(out)["labels"] == 7).all() and np.load(out)["images"].shape == (6, 28, 28, 1)
  result = run_module("zoo.sample", "--pretrained=dcgan/mnsit", f"--out={out}", env=env)
  last = result.stderr.strip().splitlines()[-1]
  assert result.returncode != 0 and last.startswith("error: Unknown pretrained package 'dcgan/mnsit'; valid "
                                                    "names: ") and "dcgan/mnist" in last


def test_interpolation_ends_are_the_samples_of_their_seeds(packages, tmp_path):
  from zoo import sample
  generator = pretrained.load("dcgan/mnist")
  path = generator.interpolate([3, 7], steps=5)
  assert path.shape == (1, 5, 28, 28, 1)
  np.testing.assert_array_equal(path[0, 0], generator.sample(1, seed=3)[0])
  np.testing.assert_array_equal(path[0, -1], generator.sample(1, seed=7)[0])
  gif = str(tmp_path / "walk.gif")
  frames = sample.write_interpolation(None, gif, seeds=["3", "7"], steps=5, pretrained="dcgan/mnist")
  assert frames.shape == (2, 5, 28, 28, 1)  # 3 -> 7 -> 3: a loop
  from PIL import Image
  with Image.open(gif) as image:
    assert image.n_frames == 8 and image.size == (28, 28)


def test_class_grids_and_class_interpolation_hold_the_noise(packages):
  generator = pretrained.load("dcgan/mnist-conditional")
  grid = generator.class_grid(3, seed=1, classes=[2, 5])
  assert grid.shape == (6, 28, 28, 1)
  z = generator.noise(3, seed=1)
  np.testing.assert_array_equal(grid[3:], generator(z, [5, 5, 5]))
  weights = [w.copy() for w in generator.model.get_weights()]
  path = generator.interpolate_classes([2, 5], steps=4, seed=1)
  assert path.shape == (1, 4, 28, 28, 1)
  # class 2 at t = 0 (one grey level: a batch of other images rounds its sums differently)
  assert np.abs(path[0, 0].astype(int) - grid[0].astype(int)).max() <= 1
  assert np.abs(path[0, -1].astype(int) - grid[3].astype(int)).max() <= 1   # class 5 at t = 1
  for before, after in zip(weights, generator.model.get_weights()):
    np.testing.assert_array_equal(before, after)  # the embeddings are put back
  with pytest.raises(ValueError, match="is class-conditional: pass labels"):
    generator(z)


def test_slerp_by_hand():
  z0, z1 = np.array([[2.0, 0.0]]), np.array([[0.0, 2.0]])
  np.testing.assert_allclose(explore.slerp(z0, z1, 0.5), [[math.sqrt(2), math.sqrt(2)]], rtol=1e-6)
  np.testing.assert_allclose(explore.slerp(z0, z1, 1 / 3), [[2 * math.cos(math.pi / 6), 1.0]], rtol=1e-6)
  np.testing.assert_array_equal(explore.slerp(z0, z1, [0.0, 1.0]), np.concatenate([z0, z1]))
  np.testing.assert_allclose(explore.slerp(z0, 3 * z0, 0.5), 2 * z0)  # parallel: the straight line
  with pytest.raises(ValueError, match="at least 2 points"):
    explore.path(np.concatenate([z0, z1]), 1)


def test_truncation_resamples_only_the_values_beyond_it():
  t = 0.7
  plain = explore.noise(64, 2000, seed=5).numpy()
  truncated = explore.noise(64, 2000, seed=5, truncation=t).numpy()
  assert np.abs(truncated).max() <= t
  inside = np.abs(plain) <= t
  np.testing.assert_array_equal(truncated[inside], plain[inside])  # resampled, not scaled
  # The replacements follow the normal restricted to [-t, t]: E|z| = 2 (phi(0) - phi(t)) / (2 Phi(t) - 1).
  phi = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
  expected = 2 * (phi(0) - phi(t)) / math.erf(t / math.sqrt(2))
  replaced = np.abs(truncated[~inside])
  assert len(replaced) > 50_000 and abs(replaced.mean() - expected) < 0.005
  np.testing.assert_array_equal(truncated, explore.noise(64, 2000, seed=5, truncation=t).numpy())
  with pytest.raises(ValueError, match="must be positive"):
    explore.truncate(tf.zeros([1, 2]), 0.0, [0, 0])


@pytest.fixture(scope="module")
def tool_packages(packages, tmp_path_factory):
  """compression_gan/mnist and image_gan/denoise-mnist from 2-step runs, next to `packages`' two."""
  from experiments import package
  root, runs = packages
  base = tmp_path_factory.mktemp("tools")
  made = {"compression_gan/mnist": smoke_config("compression_gan", "codec", base / "codec"),
          "image_gan/denoise-mnist": smoke_config("image_gan", "denoise", base / "denoise")}
  for name, config in made.items():
    training.fit(config, **QUIET)
    package.make_package(config.logdir, name, root, log=lambda *_: None)
  return {**runs, **{name: config.logdir for name, config in made.items()}}


def test_compress_codes_offline_with_the_codec_a_package_carries(tool_packages, tmp_path):
  from zoo import compress
  codec, folder = compress.package_codec("compression_gan/mnist")
  run_codec, _ = compress.pinned_codec(tool_packages["compression_gan/mnist"])
  assert codec.model_id == run_codec.model_id  # the package froze the run's codec
  image = np.random.default_rng(0).integers(0, 256, (28, 28, 1), dtype=np.uint8)
  encoded = codec.encode(image)
  assert encoded == run_codec.encode(image)
  decoded = compress.decoder_for(codec.model_id, codec_folder=folder).decode(encoded)
  np.testing.assert_array_equal(decoded, run_codec.decode(encoded))
  reconstruction = pretrained.load("compression_gan/mnist")(image[None])  # the Keras inference model
  assert reconstruction.shape == (1, 28, 28, 1) and np.abs(reconstruction[0].astype(int) - decoded).max() <= 1
  with pytest.raises(ValueError, match="dcgan/mnist holds no codec"):
    compress.package_codec("dcgan/mnist")


def test_restore_and_export_take_a_package_as_they_take_its_run(tool_packages, tmp_path):
  from zoo import export, images, restore
  digit = np.random.default_rng(1).integers(0, 256, (28, 28, 1), dtype=np.uint8)
  images.write_png(str(tmp_path / "in.png"), digit)
  from_run = restore.restore_file(tool_packages["image_gan/denoise-mnist"], str(tmp_path / "in.png"),
                                  str(tmp_path / "run.png"))
  from_package = restore.restore_file(None, str(tmp_path / "in.png"), str(tmp_path / "package.png"),
                                      pretrained="image_gan/denoise-mnist")
  assert np.abs(from_package.astype(int) - from_run.astype(int)).max() <= 1
  with pytest.raises(ValueError, match="needs an image_gan run"):
    restore.restore_file(None, str(tmp_path / "in.png"), str(tmp_path / "x.png"), pretrained="dcgan/mnist")
  keras_file, saved_model = export.export_package("dcgan/mnist", str(tmp_path / "exported"))
  package_file = os.path.join(pretrained.locate("dcgan/mnist"), pretrained.KERAS_FILE)
  assert open(keras_file, "rb").read() == open(package_file, "rb").read()
  z = pretrained.load("dcgan/mnist").noise(2, seed=0)
  served = tf.saved_model.load(saved_model).signatures["serving_default"](z=tf.constant(z))["images"]
  np.testing.assert_array_equal(served.numpy()[:, 2:30, 2:30], pretrained.load("dcgan/mnist")(z))


def test_evaluate_scores_a_package_as_the_run_it_was_made_of(packages):
  from zoo import evaluate
  _, runs_by_name = packages
  record = evaluate.evaluate_package("dcgan/mnist", num_samples=200, data_dir=DATA_DIR, bootstrap=0)
  from_run = evaluate.evaluate_run(runs_by_name["dcgan/mnist"], num_samples=200, data_dir=DATA_DIR,
                                   bootstrap=0)
  assert record["pretrained"] == "dcgan/mnist" and record["protocol"]["num_samples"] == 200
  # the same G (the run's EMA generator, float32 in the package), the same noise, the same protocol
  assert record["metrics"]["fid"] == pytest.approx(from_run["metrics"]["fid"], rel=1e-3)
  assert record["metrics"]["recall"] == pytest.approx(from_run["metrics"]["recall"], abs=1e-3)


def test_evaluate_scores_npz_samples_of_a_padded_run_at_the_datasets_size(packages, tmp_path):
  from zoo import evaluate, sample
  _, runs_by_name = packages
  out = str(tmp_path / "s.npz")
  samples = sample.write_samples(runs_by_name["dcgan/mnist"], 100, out)
  assert samples.shape[1:] == (28, 28, 1)
  record = evaluate.evaluate_npz(out, logdir=runs_by_name["dcgan/mnist"], data_dir=DATA_DIR, bootstrap=0)
  assert np.isfinite(record["metrics"]["fid"])
