"""Issue 14: nothing breaks on bad input. Each row of the issue's table, run through the real command as
a user would: either it works, or it stops with status != 0 and one last stderr line saying what was
wrong and how to fix it, with no traceback. Also --help, the console scripts, Ctrl-C while zoo.train
starts, and TensorFlow's C++ start-up lines (off unless asked for).

Most tests start a command in a subprocess (each loads TensorFlow, ~5-10 s on 2 busy cores); the ones
that also train are marked slow."""
import ast
import glob
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib

import pytest

from tests.conftest import DATA_DIR, REPO
from tests.helpers import QUICK_FLAGS, run_module
from zoo import checkpoints
from zoo import cli
from zoo import distribute


def assert_one_line_error(result, *phrases):
  """Non-zero exit, no traceback, and stderr's last line is an error naming every phrase."""
  assert result.returncode != 0, result.stdout[-2000:]
  assert "Traceback" not in result.stderr, result.stderr[-3000:]
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("error: "), result.stderr[-3000:]
  for phrase in phrases:
    assert phrase in last, last
  return last


# ---- zoo.compress: an image whose header declares 20000 x 20000 pixels ------------------------------

def write_png(path, width, height):
  """A valid 1-bit grayscale PNG of zeros: 400 million pixels in ~50 kB (zlib squeezes zeros 1000:1)."""
  def chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
  compressor = zlib.compressobj(9)
  row = b"\0" * (1 + (width + 7) // 8)  # filter byte 0, then the row's bits
  rows = row * 1000
  data = b"".join(compressor.compress(rows) for _ in range(height // 1000))
  data += compressor.compress(row * (height % 1000)) + compressor.flush()
  with open(path, "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def test_write_png_writes_a_real_png(tmp_path):
  from PIL import Image
  import numpy as np
  write_png(tmp_path / "small.png", 2003, 2500)
  image = Image.open(tmp_path / "small.png")
  image.load()
  assert image.size == (2003, 2500) and image.mode == "1" and not np.asarray(image).any()


@pytest.fixture(scope="module")
def compression_run(tmp_path_factory):
  """A compression_gan run folder from two steps of the real training command."""
  logdir = str(tmp_path_factory.mktemp("compression_run"))
  run_module("zoo.train", "--model=compression_gan", f"--data_dir={DATA_DIR}", f"--logdir={logdir}",
             "--train_split=train[:256]", "--batch_size=32", "--steps=2", "--log_every=1",
             "--steps_per_call=1", check=True)
  return logdir


@pytest.mark.slow
@pytest.mark.parametrize("size", [20000, 10000])  # beyond Pillow's 2x limit (an error); beyond 1x (a warning)
def test_compress_refuses_a_decompression_bomb(compression_run, tmp_path, size):
  bomb = str(tmp_path / "bomb.png")
  write_png(bomb, size, size)
  assert os.path.getsize(bomb) < 1_000_000
  result = run_module("zoo.compress", "encode", bomb, str(tmp_path / "out.cgan"),
                      f"--logdir={compression_run}", "--convert")
  assert_one_line_error(result, bomb, f"{size * size} pixels", "too large to decode safely", "resize it")
  assert not os.path.exists(tmp_path / "out.cgan")


# ---- distribute: strategies that cannot start -------------------------------------------------------

def test_tpu_strategy_without_tpu_names_the_flag(monkeypatch):
  for name in ("TPU_NAME", "TPU_CONFIG", "KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS"):
    monkeypatch.delenv(name, raising=False)
  with pytest.raises(ValueError) as error:
    distribute.make_strategy("tpu", "")
  message = str(error.value)
  assert "--strategy=tpu needs --tpu" in message and "docs/distributed.md" in message
  assert "\n" not in message


ONE_WORKER = '"cluster": {"worker": ["localhost:1"]}'


@pytest.mark.parametrize("tf_config, phrase", [
    (None, "needs the TF_CONFIG environment variable"),
    ("{cluster: ", "TF_CONFIG is not valid JSON"),
    ("{" + ONE_WORKER + "}", 'with "cluster" and "task" entries'),
    ("{" + ONE_WORKER + ', "task": {"type": "worker", "index": 1}}', "is not in its cluster"),
    ("{" + ONE_WORKER + ', "task": {"type": "chief", "index": 0}}', "is not in its cluster"),
])
def test_multi_worker_without_a_usable_tf_config_points_at_the_docs(monkeypatch, tf_config, phrase):
  if tf_config is None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
  else:
    monkeypatch.setenv("TF_CONFIG", tf_config)
  with pytest.raises(ValueError) as error:
    distribute.make_strategy("multi_worker")
  message = str(error.value)
  assert phrase in message and "see docs/distributed.md" in message and "\n" not in message
  assert os.path.isfile(os.path.join(REPO, "docs", "distributed.md"))


def test_docs_distributed_md_shows_a_tf_config_that_the_check_accepts():
  with open(os.path.join(REPO, "docs", "distributed.md")) as f:
    examples = re.findall(r"TF_CONFIG='(\{.*?\})'", f.read())
  assert len(examples) >= 4
  for example in examples:
    distribute._check_tf_config(example)


# ---- TensorFlow's C++ start-up lines ----------------------------------------------------------------

# Lines of TensorFlow's C++ logging ("I0000 00:00:1795978345.212456   12707 cpu_feature_guard.cc:227] ..."),
# absl's notice before its first one, and known start-up messages (oneDNN's and the CUDA factories' come
# from other TensorFlow builds and versions; this machine's tensorflow-cpu 2.21 prints neither).
CPP_LOG_LINE = re.compile(r"^[IW]\d{4} [\d:.]+\s+\d+ \S+:\d+\]", re.M)  # INFO and WARNING; errors stay
NOISE = ("absl::InitializeLog", "rebuild TensorFlow with the appropriate compiler flags",
         "oneDNN custom operations", "Unable to register cuDNN factory", "Unable to register cuFFT factory",
         "Unable to register cuBLAS factory")


def noise_in(stderr):
  return CPP_LOG_LINE.findall(stderr) + [phrase for phrase in NOISE if phrase in stderr]


def run_as_user(module, *args, env=None):
  """Like tests.helpers.run_module, but without the TF_CPP_MIN_LOG_LEVEL that it and conftest set."""
  full_env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env={**full_env, **(env or {})},
                        capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("argv, environ, level", [
    (["zoo.train"], {}, "2"),
    (["zoo.train", "--verbosity=0"], {}, "0"),
    (["zoo.train", "--verbosity", "1"], {}, "0"),
    (["zoo.train", "-v", "-1"], {}, "1"),
    (["zoo.train", "--v=-2"], {}, "2"),
    (["zoo.train", "--verbosity=error"], {}, "2"),
    (["zoo.train", "--verbosity=-9"], {}, "3"),
    (["zoo.train", "--verbosity=0"], {"TF_CPP_MIN_LOG_LEVEL": "3"}, "3"),
    (["zoo.train"], {"TF_CPP_MIN_LOG_LEVEL": "0"}, "0"),
    (["zoo.train", "--", "--verbosity=0"], {}, "2"),
    (["zoo.train", "--verbosity=loud"], {}, "2"),
])
def test_tf_cpp_log_level_rule(argv, environ, level):
  assert cli.tf_cpp_min_log_level(argv, environ) == level


@pytest.fixture(scope="module")
def prints_cpp_lines():
  """Whether TensorFlow prints C++ start-up lines here when asked; the checks below mean something if so."""
  result = run_as_user("zoo.sample", "--logdir=/nonexistent", "--verbosity=0")
  assert result.returncode != 0 and "not" in result.stderr.strip().splitlines()[-1]
  return bool(noise_in(result.stderr))


@pytest.mark.slow
@pytest.mark.parametrize("module, args", [
    ("zoo.sample", ["--logdir={tmp}"]),
    ("zoo.export", ["--logdir={tmp}", "--out={tmp}/export"]),
    ("zoo.restore", ["--logdir={tmp}", "{tmp}/in.png", "{tmp}/out.png"]),
    ("zoo.compress", ["encode", "{tmp}/in.png", "{tmp}/out.cgan", "--logdir={tmp}"]),
    ("zoo.evaluate", ["--logdir={tmp}"]),
    ("zoo.train", [*QUICK_FLAGS, "--steps=1", "--logdir={tmp}/run"]),
])
def test_no_tensorflow_cpp_lines_by_default(module, args, tmp_path, prints_cpp_lines):
  """Each command loads TensorFlow (an empty --logdir fails only after that; zoo.train trains a step)."""
  if not prints_cpp_lines:
    pytest.skip("TensorFlow prints no C++ start-up lines on this machine even when asked")
  args = [arg.format(tmp=tmp_path) for arg in args]
  result = run_as_user(module, *args)
  assert noise_in(result.stderr) == [], result.stderr[-3000:]
  if module != "zoo.train":  # it trains, so it loads TensorFlow; the others might fail before that
    asked = run_as_user(module, *args, "--verbosity=0")
    assert noise_in(asked.stderr), f"{module} {args} did not load TensorFlow:\n{asked.stderr[-3000:]}"


# ---- zoo.train: settings refused before anything is written ------------------------------------------

IMAGE_GAN_FLAGS = ["--model=image_gan", *QUICK_FLAGS[1:], "--batch_size=16", "--train_split=train[:256]"]
NO_TPU = {"TPU_NAME": "", "TPU_CONFIG": "", "KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS": ""}


@pytest.mark.slow
@pytest.mark.parametrize("flags, env, phrases", [
    (["--eval_every=-5"], None, ["--eval_every must be -1 (about ten evaluations), 0 (none)", "got -5"]),
    (["--g_learning_rate=-2e-4"], None, ["--g_learning_rate must be a positive number", "got -0.0002"]),
    (["--d_learning_rate=-1"], None, ["--d_learning_rate must be a positive number", "got -1.0"]),
    (["--strategy=tpu"], NO_TPU, ["--strategy=tpu needs --tpu", "docs/distributed.md"]),
    (["--noise_sigma=-1"], None, ["--noise_sigma must be positive", "got -1.0"]),
    (["--task=inpaint", "--mask_size=100"], None, ["--mask_size must be between 1 and the image side 28"]),
    (["--task=denoise", "--noise_sigma=0"], None, ["--noise_sigma must be positive", "got 0.0"]),
    (["--task=superres", "--scale=0"], None, ["--scale must be 1 or more", "got 0"]),
], ids=["eval_every", "g_learning_rate", "d_learning_rate", "tpu", "noise_sigma", "mask_size",
        "noise_sigma_0", "scale_0"])
def test_bad_settings_are_one_line_and_write_nothing(tmp_path, flags, env, phrases):
  base = IMAGE_GAN_FLAGS if any(f.startswith(("--noise_sigma", "--task")) for f in flags) else QUICK_FLAGS
  logdir = tmp_path / "run"
  result = run_module("zoo.train", *base, f"--logdir={logdir}", "--steps=2", *flags, env=env)
  assert_one_line_error(result, *phrases)
  assert "in user code" not in result.stderr, result.stderr[-3000:]
  assert not logdir.exists()


@pytest.mark.slow
@pytest.mark.parametrize("inside", [False, True], ids=["file", "inside_a_file"])
def test_a_logdir_that_is_a_file_is_one_line(tmp_path, inside):
  path = tmp_path / "notes.txt"
  path.write_text("not a run folder")
  logdir = path / "run" if inside else path
  result = run_module("zoo.train", *QUICK_FLAGS, f"--logdir={logdir}", "--steps=2")
  assert_one_line_error(result, str(logdir) if inside else "is a file; give a folder")
  assert path.read_text() == "not a run folder"


def test_validate_accepts_the_tpu_environment_variables_the_resolver_reads(monkeypatch):
  """docs/distributed.md: --tpu may be left out when TPU_NAME, TPU_CONFIG or
  KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS is set."""
  from zoo import config as config_lib
  for name in NO_TPU:
    monkeypatch.delenv(name, raising=False)
  with pytest.raises(ValueError, match="--strategy=tpu needs --tpu"):
    config_lib.resolve("dense_gan", "", {"strategy": "tpu"})
  for name in NO_TPU:
    monkeypatch.setenv(name, "my-tpu")
    assert config_lib.resolve("dense_gan", "", {"strategy": "tpu"}).strategy == "tpu"
    monkeypatch.delenv(name)


# ---- a run that fails on its data; a relative --data_dir -------------------------------------------

@pytest.mark.slow
def test_a_run_that_fails_on_its_data_leaves_the_logdir_free_for_the_corrected_command(tmp_path):
  logdir = tmp_path / "run"
  empty = tmp_path / "empty"
  empty.mkdir()
  flags = ["--dataset=fashion_mnist", "--train_split=train[:256]", "--batch_size=32", "--steps=2",
           "--log_every=1", "--checkpoint_every=2", f"--logdir={logdir}"]
  failed = run_module("zoo.train", "--model=dense_gan", f"--data_dir={empty}", "--download=false", *flags)
  assert_one_line_error(failed, "fashion_mnist", "--data_dir")
  assert not (logdir / "config.json").exists()
  corrected = run_module("zoo.train", "--model=dense_gan", f"--data_dir={DATA_DIR}", *flags, check=True)
  assert "step 2/2" in corrected.stdout
  assert os.path.exists(logdir / "checkpoints" / "ckpt-2.index")


def run_in(cwd, module, *args):
  """run_module from another working directory."""
  path = os.pathsep.join(p for p in (REPO, os.environ.get("PYTHONPATH")) if p)
  return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True,
                        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": path}, timeout=300)


@pytest.mark.slow
def test_a_relative_data_dir_is_stored_absolute_so_evaluate_finds_it_from_elsewhere(tmp_path):
  import json
  trained_in, evaluated_in = tmp_path / "a" / "b", tmp_path / "c"
  trained_in.mkdir(parents=True)
  evaluated_in.mkdir()
  relative = os.path.relpath(DATA_DIR, trained_in)
  logdir = tmp_path / "run"
  result = run_in(trained_in, "zoo.train", "--model=dense_gan", f"--data_dir={relative}",
                  "--train_split=train[:64]", "--batch_size=32", "--steps=2", "--log_every=1",
                  "--steps_per_call=1", f"--logdir={logdir}")
  assert result.returncode == 0, result.stderr[-3000:]
  with open(logdir / "config.json") as f:
    stored = json.load(f)["data_dir"]
  assert os.path.isabs(stored) and os.path.samefile(stored, DATA_DIR)
  result = run_in(evaluated_in, "zoo.evaluate", f"--logdir={os.path.relpath(logdir, evaluated_in)}",
                  "--num_samples=100")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "vs mnist" in result.stdout and "Traceback" not in result.stderr


# ---- the latest checkpoint unreadable: every tool falls back to the newest readable one ---------------

@pytest.fixture(scope="module")
def dense_run(tmp_path_factory):
  """A dense_gan run folder with checkpoints ckpt-5 and ckpt-10."""
  logdir = str(tmp_path_factory.mktemp("dense_run"))
  run_module("zoo.train", *QUICK_FLAGS, f"--logdir={logdir}", "--steps=10", check=True)
  return logdir


def broken_copy(run, tmp_path, numbers=(10,)):
  """A copy of `run` whose checkpoints `numbers` have their .data file cut to 100 kB, as a full disk does."""
  logdir = str(tmp_path / "run")
  shutil.copytree(run, logdir)
  for number in numbers:
    (data,) = glob.glob(os.path.join(logdir, "checkpoints", f"ckpt-{number}.data-*"))
    os.truncate(data, 100_000)
  return logdir


@pytest.mark.slow
@pytest.mark.parametrize("module, doing", [
    ("zoo.train", "resuming from"),
    ("zoo.sample", "restoring G from"),
    ("zoo.export", "restoring G from"),
    ("zoo.evaluate", "scoring"),
])
def test_a_truncated_latest_checkpoint_falls_back_with_a_warning_naming_both(dense_run, tmp_path, module,
                                                                            doing):
  logdir = broken_copy(dense_run, tmp_path)
  args = {"zoo.train": [*QUICK_FLAGS, "--steps=15"],
          "zoo.sample": ["--num=4", f"--out={tmp_path / 'grid.png'}"],
          "zoo.export": [f"--out={tmp_path / 'exported'}"],
          "zoo.evaluate": ["--num_samples=100"]}[module]
  result = run_module(module, f"--logdir={logdir}", *args)
  assert result.returncode == 0, result.stderr[-3000:]
  output = result.stdout + result.stderr
  assert "Traceback" not in output
  assert f"warning: ckpt-10 is unreadable (truncated .data file); {doing} ckpt-5." in output, output[-3000:]
  if module == "zoo.train":
    assert f"Resumed from {os.path.join(logdir, 'checkpoints', 'ckpt-5')} at step 5." in output
    assert "step 15/15" in output
    newest, skipped = checkpoints.newest_readable(os.path.join(logdir, "checkpoints"))
    assert newest.endswith("ckpt-15") and skipped == []  # ckpt-10 was written again, whole
  elif module == "zoo.sample":
    assert (tmp_path / "grid.png").stat().st_size > 0
  elif module == "zoo.export":
    assert (tmp_path / "exported" / "generator.keras").stat().st_size > 0


@pytest.mark.slow
@pytest.mark.parametrize("module", ["zoo.train", "zoo.sample"])
def test_no_readable_checkpoint_left_is_one_line(dense_run, tmp_path, module):
  logdir = broken_copy(dense_run, tmp_path, numbers=(5, 10))
  args = [*QUICK_FLAGS, "--steps=15"] if module == "zoo.train" else [f"--out={tmp_path / 's.npz'}"]
  result = run_module(module, f"--logdir={logdir}", *args)
  assert_one_line_error(result, "ckpt-10 is unreadable (truncated .data file)",
                        "ckpt-5 is unreadable (truncated .data file)", "no readable checkpoint is left",
                        "Move ")


# ---- zoo.export, zoo.restore ------------------------------------------------------------------------

@pytest.mark.slow
def test_export_of_a_compression_gan_run_is_a_stock_keras_model(compression_run, tmp_path):
  out = tmp_path / "exported"
  run_module("zoo.export", f"--logdir={compression_run}", f"--out={out}", check=True)
  script = f"""
import sys; sys.modules["zoo"] = None  # any import of the zoo fails: stock Keras and TF only
import numpy as np, tensorflow as tf, keras
model = keras.saving.load_model({str(out / 'generator.keras')!r})
assert model(np.zeros((2, 28, 28, 1), np.float32)).shape == (2, 28, 28, 1)
serve = tf.saved_model.load({str(out / 'saved_model')!r}).signatures["serving_default"]
images = serve(inputs=tf.zeros([3, 28, 28, 1], tf.uint8))["images"].numpy()
assert images.shape == (3, 28, 28, 1) and images.dtype == np.uint8, images.shape
print("ok")
"""
  result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  assert result.stdout.strip().endswith("ok"), result.stderr[-3000:]


@pytest.mark.slow
def test_export_out_that_is_a_file_is_one_line(compression_run, tmp_path):
  out = tmp_path / "model.keras"
  out.write_text("keep me")
  result = run_module("zoo.export", f"--logdir={compression_run}", f"--out={out}")
  assert_one_line_error(result, f"--out={str(out)!r} is a file", "give a folder")
  assert out.read_text() == "keep me" and os.listdir(tmp_path) == ["model.keras"]


@pytest.mark.slow
def test_restore_refuses_a_compression_gan_run_in_one_line(compression_run, tmp_path):
  from PIL import Image
  import numpy as np
  Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "in.png")
  result = run_module("zoo.restore", f"--logdir={compression_run}", str(tmp_path / "in.png"),
                      str(tmp_path / "out.png"))
  assert_one_line_error(result, "holds a compression_gan run, which zoo.restore cannot apply",
                        "zoo.compress", "needs an image_gan run")
  assert not (tmp_path / "out.png").exists()


# ---- zoo.evaluate --npz on a file that is not an .npz ----------------------------------------------

@pytest.mark.parametrize("name", ["notes.txt", "samples.npz"])
def test_evaluate_npz_of_a_text_file_is_one_line(tmp_path, name):
  path = tmp_path / name
  path.write_text("these are not images\n")
  result = run_module("zoo.evaluate", f"--npz={path}", "--dataset=mnist", f"--data_dir={DATA_DIR}")
  assert_one_line_error(result, f"--npz={str(path)!r} is not an .npz file", "numpy.savez")
  assert "allow_pickle" not in result.stderr


# ---- --help, flags, console scripts ------------------------------------------------------------------

@pytest.mark.parametrize("module, own_flags", [
    ("zoo.train", ["--model", "--logdir", "--steps", "--list_models"]),
    ("zoo.sample", ["--logdir", "--num", "--out", "--use_ema"]),
    ("zoo.export", ["--logdir", "--out", "--use_ema"]),
    ("zoo.restore", ["--logdir", "--degraded_out", "--seed"]),
    ("zoo.compress", ["--logdir", "--convert", "--split"]),
    ("zoo.photo_patches", ["--out", "--size", "--num_test"]),
    ("zoo.evaluate", ["--logdir", "--npz", "--num_samples"]),
])
def test_help_exits_0_and_lists_the_flags(module, own_flags):
  result = run_module(module, "--help")
  assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
  assert "Traceback" not in result.stderr
  for flag in own_flags:  # absl shows a boolean flag as --[no]name
    assert re.search(rf"^  --(\[no\])?{flag[2:]}\b", result.stdout, re.M), (flag, result.stdout[-3000:])


@pytest.mark.parametrize("help_flag", ["-h", "--helpshort", "--helpfull"])
def test_every_help_flag_exits_0(help_flag):
  result = run_module("zoo.sample", help_flag, "--logdir=ignored")
  assert result.returncode == 0 and "Writes samples of a trained generator." in result.stdout
  lists_absl_flags = "--verbosity: Logging verbosity" in result.stdout
  assert lists_absl_flags == (help_flag == "--helpfull"), result.stdout[-2000:]


def test_train_help_of_a_model_shows_its_options_before_the_run_settings():
  result = run_module("zoo.train", "--model=dcgan", "--help")
  assert result.returncode == 0, result.stderr[-2000:]
  text = result.stdout
  assert "dcgan: " in text and "Run settings (defaults for --model=dcgan)" in text
  assert text.index("--generator_filters=256") < text.index("Run settings") < text.index("--steps=")


@pytest.mark.parametrize("args, phrase", [
    ([], "--logdir is required"),
    (["--logdir=x", "--nope=1"], "Unknown command line flag 'nope'"),
    (["--logdir=x", "--num=many"], "flag --num=many"),
])
def test_a_missing_unknown_or_malformed_flag_is_one_line(args, phrase):
  assert_one_line_error(run_module("zoo.sample", *args), phrase, "--help lists the flags")


def console_scripts():
  """{script: "module:function"} of setup.py's console_scripts."""
  with open(os.path.join(REPO, "setup.py")) as f:
    tree = ast.parse(f.read())
  for node in ast.walk(tree):
    if isinstance(node, ast.Dict) and any(isinstance(k, ast.Constant) and k.value == "console_scripts"
                                          for k in node.keys):
      entries = ast.literal_eval(node)["console_scripts"]
      return dict(entry.replace(" ", "").split("=", 1) for entry in entries)
  raise AssertionError("setup.py declares no console_scripts")


def test_console_scripts_are_named_after_their_modules_and_resolve():
  """`pip install -e .` makes zoo-train etc.; each must import, and be named zoo-<module> (zoo.cli.is_command
  recognises a console script by that name)."""
  from tests.test_layout import LAYERS
  scripts = console_scripts()
  command_line_tools = dict(LAYERS)["command-line tools"]
  assert {target.split(":")[0] for target in scripts.values()} == set(command_line_tools)
  for script, target in scripts.items():
    module, function = target.split(":")
    assert function == "run" and script == "zoo-" + module.split(".")[1].replace("_", "-"), script
    assert cli.is_command(module) is False  # this process is pytest
  check = "import importlib\n" + "".join(
      f"assert callable(getattr(importlib.import_module({m!r}), {f!r}))\n"
      for m, f in (t.split(":") for t in scripts.values())) + "print('ok')"
  result = subprocess.run([sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  assert result.stdout.strip() == "ok", result.stderr[-3000:]


def test_is_command(monkeypatch):
  monkeypatch.setattr(sys, "argv", ["/venv/bin/zoo-photo-patches", "--out=x"])
  assert cli.is_command("zoo.photo_patches") and cli.is_command("__main__")
  assert not cli.is_command("zoo.train")


def test_one_line_of_errors():
  traced = ValueError("in user code:\n\n    File \"x.py\", line 3, in f  *\n        raise ValueError(...)\n\n"
                      "    ValueError: noise_sigma must be positive, got 0.0.\n")
  assert cli.one_line(traced) == "noise_sigma must be positive, got 0.0."
  assert cli.one_line(NotADirectoryError(20, "Not a directory", "/tmp/f/run")) == \
      "Not a directory: '/tmp/f/run'"
  assert cli.one_line(FileNotFoundError("--logdir='x' is not a folder.")) == "--logdir='x' is not a folder."
  assert cli.one_line(ValueError("first line\nsecond line")) == "first line"
  assert cli.one_line(ValueError()) == "ValueError"


# ---- Ctrl-C or SIGTERM while zoo.train starts ----------------------------------------------------------

def catches(pid, signal_number):
  """Whether process `pid` has a handler for `signal_number` (Linux: the SigCgt mask of /proc/PID/status)."""
  with open(f"/proc/{pid}/status") as f:
    mask = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
  return bool(mask & (1 << (signal_number - 1)))


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
@pytest.mark.parametrize("signal_number, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_train_starts_is_one_line_and_saves_nothing(tmp_path, signal_number, status):
  """Sent as soon as zoo.train handles SIGTERM (Python alone does not), i.e. while TensorFlow loads:
  the training loop's own handler, which saves and exits 0, comes seconds later."""
  logdir = tmp_path / "run"
  process = subprocess.Popen([sys.executable, "-m", "zoo.train", *QUICK_FLAGS, f"--logdir={logdir}",
                              "--steps=5"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  deadline = time.monotonic() + 120
  while not catches(process.pid, signal.SIGTERM) and process.poll() is None and time.monotonic() < deadline:
    time.sleep(0.005)
  process.send_signal(signal_number)
  stdout, stderr = process.communicate(timeout=120)
  assert process.returncode == status, stdout[-2000:] + stderr[-3000:]
  assert "Traceback" not in stderr and "step " not in stdout, stderr[-3000:]
  name = signal.Signals(signal_number).name
  assert stderr.strip().splitlines() == [
      f"{name} received while zoo.train was starting, before training began: nothing was saved. Run the "
      "same command again to start."]
  assert not logdir.exists()
