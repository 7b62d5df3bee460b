"""Bad inputs found by an independent probe as a new user would give them (report in docs/training.md's
"What happens when things go wrong"): each is refused with one line that names the wrong value, instead
of a traceback, a misleading message or a silently wrong result. The checks are called directly, or run
through a command that stops before it trains or samples anything."""
import json
import os
import shutil

import numpy as np
import pytest

from tests.conftest import DATA_DIR, REPO
from tests.helpers import run_module
from zoo import pretrained


# ---- zoo.load(...): counts, noise, seeds and truncation of the Python API -------------------------

@pytest.fixture(scope="module")
def dcgan():
  return pretrained.load("dcgan/mnist")


@pytest.mark.parametrize("num", [-1, 2.5, "4", True])
def test_a_sample_count_that_is_not_a_whole_number_of_0_or_more_is_named(dcgan, num):
  with pytest.raises(ValueError, match=f"num={num!r} must be a whole number"):
    dcgan.sample(num)  # -1 gave an empty array without a word


def test_non_finite_noise_is_refused_not_drawn_as_blank_images(dcgan):
  z = dcgan.noise(2)
  z[1, 3] = np.nan
  with pytest.raises(ValueError, match="z holds 1 NaN or infinite values"):
    dcgan(z)


def test_a_seed_beyond_64_bits_is_named(dcgan):
  with pytest.raises(ValueError, match=r"--seed=1180591620717411303424 must be a whole number from"):
    dcgan.sample(2, seed=2 ** 70)  # was "Can't convert Python sequence with out-of-range integer to Tensor"


def test_a_truncation_that_is_not_a_number_is_named():
  from zoo import explore
  with pytest.raises(ValueError, match=r"--truncation='x' must be a positive number"):
    explore.check_truncation("x")


def test_a_class_grid_needs_a_conditional_package_and_a_column(dcgan):
  with pytest.raises(ValueError, match="dcgan/mnist is not class-conditional"):
    dcgan.class_grid(4)  # was "labels [] must be class indices 0..-1"
  conditional = pretrained.load("dcgan/mnist-conditional")
  for columns in (0, -2):
    with pytest.raises(ValueError, match=f"columns={columns} must be a whole number, 1 or more"):
      conditional.class_grid(columns)


# ---- --list_pretrained and $ZOO_PRETRAINED_DIR -----------------------------------------------------

def test_list_pretrained_shows_a_broken_card_and_still_lists_the_others(tmp_path, monkeypatch):
  from zoo import sample
  broken = tmp_path / "dcgan" / "broken"
  broken.mkdir(parents=True)
  (broken / "card.json").write_text("{not json")
  monkeypatch.setenv(pretrained.ENV, str(tmp_path))
  listing = sample.package_listing()  # was a traceback
  assert "dcgan/broken" in listing and "unusable:" in listing
  assert "card.json is not a readable card" in listing
  assert "dcgan/mnist " in listing


def test_list_pretrained_marks_an_edited_package_unusable(tmp_path, monkeypatch):
  from zoo import sample
  edited = tmp_path / "dcgan" / "edited"
  shutil.copytree(pretrained.locate("dcgan/mnist"), edited)
  card = json.loads((edited / "card.json").read_text())
  card["summary"] = "better than it is"
  (edited / "card.json").write_text(json.dumps(card))
  monkeypatch.setenv(pretrained.ENV, str(tmp_path))
  listing = sample.package_listing()
  line = next(line for line in listing.splitlines() if line.startswith("dcgan/edited"))
  assert "unusable:" in line and "card.json fails its sha256 check" in line and "better" not in line
  assert "dcgan/mnist " in listing


def test_a_zoo_pretrained_dir_that_is_not_a_folder_is_named(tmp_path, monkeypatch):
  from zoo import sample
  (tmp_path / "a_file").write_text("x")
  monkeypatch.setenv(pretrained.ENV, os.pathsep.join([str(tmp_path / "a_file"), str(tmp_path / "missing")]))
  with pytest.raises(pretrained.PackageError, match=r"\$ZOO_PRETRAINED_DIR names .*a_file, .*missing, which "
                     r"are not folders"):
    pretrained.locate("my/package")
  assert "warning: $ZOO_PRETRAINED_DIR names" in sample.package_listing()


# ---- --logdir, --pretrained and --out: neither, both, empty -----------------------------------------

def test_both_logdir_and_pretrained_are_named_as_both_not_as_missing():
  from zoo import cli, sample
  with pytest.raises(ValueError, match=r"give --logdir or --pretrained, not both \(got --logdir='run' and "
                     r"--pretrained='dcgan/mnist'\)"):
    sample.open_generator("run", "dcgan/mnist")  # was "--logdir is required"
  with pytest.raises(ValueError, match="--logdir is required: give --logdir=RUN"):
    cli.check_one_source("", None)


def test_an_empty_export_out_is_named():
  from zoo import export
  with pytest.raises(ValueError, match="--out is empty; give the folder to export to"):
    export.export_package("dcgan/mnist", "")  # was "[Errno 2] No such file or directory: ''"


def test_an_empty_train_logdir_is_refused_not_replaced_by_the_default(tmp_path):
  # `--logdir=$RUN` with RUN unset trained (or resumed!) runs/<model>_<dataset>
  result = run_module("zoo.train", "--model=dense_gan", "--logdir=", "--steps=1", f"--data_dir={DATA_DIR}")
  assert result.returncode != 0 and "Traceback" not in result.stderr
  assert result.stderr.strip().splitlines()[-1] == ("error: --logdir is empty; give a run folder, or leave "
                                                   "the flag out for runs/dense_gan_mnist.")


# ---- outputs whose name says another format, inputs and outputs of the wrong kind -------------------

def test_restore_refuses_a_degraded_out_that_is_not_png(tmp_path):
  from zoo import restore
  with pytest.raises(ValueError, match=r"--degraded_out must be a .png file, got '.*noisy.jpg'"):
    restore.restore_file(None, str(tmp_path / "in.png"), str(tmp_path / "out.png"),
                         degraded_out=str(tmp_path / "noisy.jpg"), pretrained="image_gan/denoise-mnist")


def test_restore_names_a_folder_given_as_its_input(tmp_path):
  from zoo import restore
  with pytest.raises(ValueError, match="is a folder; give a PNG image"):
    restore.read_image(str(tmp_path))  # was "is not a PNG image TensorFlow can read (...)"


def test_compress_refuses_a_decode_output_that_is_not_png_and_a_batch_folder_that_is_a_file(tmp_path):
  from zoo import compress
  with pytest.raises(ValueError, match="decode writes a PNG image: give an output ending in .png"):
    compress.check_outputs("decode", [str(tmp_path / "in.cgan"), str(tmp_path / "out.jpg")])
  a_file = tmp_path / "results"
  a_file.write_text("kept")
  with pytest.raises(ValueError, match="is a file; batch writes its files into a folder"):
    compress.check_outputs("batch", [str(a_file)])  # was "File exists: '.../results'"
  assert a_file.read_text() == "kept"


def test_an_output_under_a_file_names_that_file(tmp_path):
  from zoo import files
  a_file = tmp_path / "notes"
  a_file.write_text("kept")
  with pytest.raises(files.WriteError, match=r"Could not write .*notes/deeper/x.png: .*notes is a file, "
                     r"not a folder \(nothing was written there\)"):
    files.write_bytes(str(a_file / "deeper" / "x.png"), b"png")  # was "File exists" or "Not a directory"
  assert a_file.read_text() == "kept"


# ---- zoo.evaluate: an --output that cannot be written, more samples than memory ----------------------

def test_evaluate_refuses_an_output_that_is_a_folder_before_scoring(tmp_path):
  result = run_module("zoo.evaluate", f"--logdir={tmp_path}", f"--output={tmp_path}")
  assert result.returncode == 1 and "Traceback" not in result.stderr  # was status 0 after minutes of scoring
  last = result.stderr.strip().splitlines()[-1]
  assert last == f"error: --output={str(tmp_path)!r} is a folder; give a file name."


def test_an_output_path_under_a_file_is_named_before_any_work(tmp_path):
  from zoo import files
  (tmp_path / "notes").write_text("kept")
  with pytest.raises(ValueError, match=r"--output='.*notes/eval.json' lies under .*notes, a file, not a "
                     r"folder"):
    files.check_output_path(str(tmp_path / "notes" / "eval.json"), "--output")


def test_num_samples_beyond_memory_names_its_own_flag():
  from zoo import sampling
  with pytest.raises(ValueError, match=r"^--num_samples=100000000000 needs about 78400.0 GB .*at most 1275 "
                     r"samples\.$"):  # was a 24-line ArrayMemoryError
    sampling.check_memory(10 ** 11, (28, 28, 1), available=10 ** 6, flag="--num_samples")


# ---- zoo.train: running out of memory, a config.json edited by hand ----------------------------------

def test_out_of_memory_is_one_line_naming_what_to_lower():
  import tensorflow as tf
  from zoo import config as config_lib
  from zoo import train
  error = tf.errors.ResourceExhaustedError(None, None, (
      "{{function_node __wrapped__StatelessRandomUniformV2_device_/job:localhost/replica:0/task:0/device:"
      "CPU:0}} OOM when allocating tensor with shape[1024,10000000000] and type float on "
      "/job:localhost/replica:0/task:0/device:CPU:0 by allocator mklcpu"))
  config = config_lib.resolve("dense_gan", "run", {"image_size": 100000})
  assert train.out_of_memory_message(error, config) == (
      "out of memory (OOM when allocating tensor with shape[1024,10000000000] and type float); lower "
      "--batch_size, --image_size, --num_grid_images or --eval_samples (now "
      f"{config.batch_size}, 100000, {config.num_grid_images}, {config.eval_samples}).")
  assert train.out_of_memory_message(MemoryError("Unable to allocate 73.0 GiB for an array"), config) \
      .startswith("out of memory (Unable to allocate 73.0 GiB for an array); lower --batch_size")


def _edited_config(tmp_path, edit):
  with open(os.path.join(REPO, "zoo", "pretrained", "dcgan", "mnist", "config.json")) as f:
    values = json.load(f)
  with open(tmp_path / "config.json", "w") as f:
    json.dump(edit(values), f)
  return str(tmp_path)


@pytest.mark.parametrize("edit, phrase", [
    (lambda values: [1, 2], "holds a JSON list, not a run's config"),
    (lambda values: {**values, "latent_dim": "abc"}, "has latent_dim='abc', which is not of type int"),
    (lambda values: {k: v for k, v in values.items() if k != "model"}, "has no 'model'"),
])
def test_a_config_json_edited_by_hand_is_named_with_the_field(tmp_path, edit, phrase):
  from zoo import config as config_lib
  logdir = _edited_config(tmp_path, edit)
  with pytest.raises(ValueError, match="config.json " + phrase):  # were tracebacks or unrelated messages
    config_lib.load(logdir)


def test_a_run_of_a_model_the_zoo_does_not_have_is_named_by_its_readers(tmp_path):
  from zoo import config as config_lib
  from zoo import runs
  logdir = _edited_config(tmp_path, lambda values: {**values, "model": "nosuch"})
  assert config_lib.load(logdir).model == "nosuch"  # fit(spec=...) trains and resumes models of one's own
  with pytest.raises(ValueError, match="config.json names model 'nosuch', which this zoo does not have"):
    runs.load_config(logdir)  # what zoo.sample, zoo.evaluate and zoo.export read


def test_a_train_seed_beyond_what_numpy_takes_is_named():
  from zoo import config as config_lib
  with pytest.raises(ValueError, match=r"--seed must be from 0 to 4294967295, got 4294967296"):
    config_lib.resolve("dense_gan", "run", {"seed": 2 ** 32})  # was "Seed must be between 0 and 2**32 - 1"


# ---- zoo.emoji ----------------------------------------------------------------------------------------

def test_derive_groups_from_a_file_that_is_not_emoji_test_keeps_the_table(tmp_path):
  from zoo.data import emoji
  table = tmp_path / "groups.json"
  shutil.copyfile(emoji.GROUPS_PATH, table)
  garbage = tmp_path / "garbage.txt"
  garbage.write_bytes(b"PK\x03\x04 not; a table\n")
  with pytest.raises(ValueError, match="is not Unicode's emoji-test.txt"):  # was an AttributeError
    emoji.write_groups(str(garbage), "test", out=str(table))
  with open(emoji.GROUPS_PATH, "rb") as f:
    assert table.read_bytes() == f.read()


def test_an_emoji_size_beyond_the_fonts_bitmaps_is_refused(tmp_path):
  result = run_module("zoo.emoji", f"--out={tmp_path / 'set'}", "--size=100000")  # was killed for memory
  assert result.returncode == 1 and "Traceback" not in result.stderr
  assert result.stderr.strip().splitlines()[-1] == ("error: --size must be from 8 to 136 (the font's bitmaps "
                                                   "are 136 pixels square), got 100000.")
  assert not os.path.exists(tmp_path / "set")


# ---- found in a second round: inputs that failed only after minutes of work, or with a traceback -------

def test_restore_batch_refuses_an_out_dir_that_is_a_file_before_restoring(tmp_path):
  a_file = tmp_path / "results"
  a_file.write_text("kept")
  result = run_module("zoo.restore", "--pretrained=image_gan/denoise-mnist", "--split=test[:3]",
                      f"--out_dir={a_file}")  # was "Not a directory: '.../results/degraded'" once restored
  assert result.returncode == 1 and "Traceback" not in result.stderr
  assert result.stderr.strip().splitlines()[-1] == (f"error: --out_dir={str(a_file)!r} is a file; give a "
                                                   "folder (new or existing).")
  assert a_file.read_text() == "kept"


def test_an_interpolation_of_more_points_than_a_grid_shows_is_refused(tmp_path):
  from zoo import sample
  with pytest.raises(ValueError, match=r"--steps=100000000: an interpolation takes at most 1000 points"):
    sample.write_interpolation(None, str(tmp_path / "path.png"), seeds=["0", "1"], steps=10 ** 8,
                               pretrained="dcgan/mnist")  # was a 74.5 GiB ArrayMemoryError


def test_an_npz_of_object_arrays_is_named(tmp_path):
  from zoo import evaluate
  images = np.empty(2, dtype=object)
  images[:] = [1, "x"]
  np.savez(tmp_path / "objects.npz", images=images)
  with pytest.raises(ValueError, match=r"--npz='.*objects.npz': its array 'images' cannot be read \(Object "
                     r"arrays cannot be loaded"):
    evaluate.read_npz_images(str(tmp_path / "objects.npz"))


def test_train_refuses_eval_samples_beyond_memory_before_training(tmp_path):
  result = run_module("zoo.train", "--model=dense_gan", f"--logdir={tmp_path / 'run'}", "--steps=1",
                      "--eval_every=1", f"--eval_samples={10 ** 12}", f"--data_dir={DATA_DIR}")
  assert result.returncode == 1 and "Traceback" not in result.stderr  # was an ArrayMemoryError mid-run
  assert result.stderr.strip().splitlines()[-1].startswith(f"error: --eval_samples={10 ** 12} needs about")
  assert not os.path.exists(tmp_path / "run" / "checkpoints")


def test_photo_patches_beyond_the_free_disk_are_refused_before_cutting(tmp_path):
  from zoo import photo_patches
  with pytest.raises(ValueError, match=r"^--num=1000000000 patches of 16x16 need about 960.0 GB on disk, "
                     r"more than the 1.0 GB free there: ask for at most 1041666 "):  # ran for hours before
    photo_patches.check_disk(str(tmp_path / "patches"), 16, 10 ** 9, None, free=10 ** 9)
  photo_patches.check_disk(str(tmp_path / "patches"), 16, 40, None)  # fits: nothing said


def test_scoring_a_run_against_another_dataset_keeps_its_own_report(tmp_path):
  from tests.helpers import smoke_config
  from zoo import config as config_lib
  from zoo import evaluate
  run = smoke_config("dcgan", "default", tmp_path / "run")
  config_lib.save(run)
  own = os.path.join(run.logdir, "eval.json")
  assert evaluate.default_output(run.logdir) == own
  assert evaluate.default_output(run.logdir, run.dataset) == own
  other = "fashion_mnist" if run.dataset != "fashion_mnist" else "mnist"
  assert evaluate.default_output(run.logdir, other) == os.path.join(run.logdir, f"eval-{other}.json")


def test_sample_refuses_an_output_under_a_file_before_sampling(tmp_path):
  blocking = tmp_path / "a_file"
  blocking.write_text("kept")
  result = run_module("zoo.sample", "--pretrained=dcgan/mnist", f"--out={blocking}/grid.png")
  assert result.returncode != 0 and "lies under" in result.stderr and str(blocking) in result.stderr
  assert blocking.read_text() == "kept"


@pytest.mark.parametrize("flags, named", [(["--out="], "--out is empty"),
                                          (["--num=0"], "--num must be positive, got 0"),
                                          (["--num_test=-1"], "--num_test must be positive, got -1"),
                                          (["--size=4"], "--size must be at least 8 pixels, got 4")])
def test_photo_patches_names_the_one_wrong_value(tmp_path, flags, named):
  out = [] if flags[0].startswith("--out") else [f"--out={tmp_path / 'patches'}"]
  result = run_module("zoo.photo_patches", *out, *flags)
  assert result.returncode != 0 and named in result.stderr, result.stderr
  assert len(result.stderr.strip().splitlines()) == 1, result.stderr
