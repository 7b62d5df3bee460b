"""Bad input gives one clear line, not a traceback: issue 14's rows for compress, distribute and the CLIs'
start-up (TensorFlow's C++ log lines stay off unless asked for)."""
import os
import re
import struct
import subprocess
import sys
import zlib

import pytest

from tests.conftest import DATA_DIR, REPO
from tests.helpers import QUICK_FLAGS, run_module
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
