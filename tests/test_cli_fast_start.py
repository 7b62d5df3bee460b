"""Every command answers --help and flag errors before TensorFlow loads (zoo/cli.py, issue 25 item 5).

TensorFlow takes seconds to load; --help, a typo'd flag, a missing --flagfile or an unknown --model need
none of it. Each case runs the command in a fresh interpreter under `-X importtime`, which lists every
module whose code ran: none of TensorFlow's, Keras' or TFDS's may be among them. zoo.train binds those
three names while it defines its flags (cli.deferred_imports) without running their code, so the
packages themselves may be listed; a submodule (`tensorflow.python`, `keras.src`, ...) means the package's
code ran. No timing here: benchmarks do that.
"""
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

TOOLS = ["zoo.train", "zoo.sample", "zoo.export", "zoo.evaluate", "zoo.restore", "zoo.compress",
         "zoo.photo_patches", "zoo.emoji"]
LOADED = re.compile(r"^import time:.*\|\s+(tensorflow|keras|tensorflow_datasets)\.", re.M)


def run(tool, *args, script=False):
  """`python -m tool args`, or with `script` its console script zoo-<tool> (setup.py: tool:run)."""
  if script:
    name = "zoo-" + tool.split(".")[1].replace("_", "-")
    command = ["-c", f"import sys; sys.argv = [{name!r}, *{list(args)!r}]; import {tool}; {tool}.run()"]
  else:
    command = ["-m", tool, *args]
  result = subprocess.run([sys.executable, "-X", "importtime", *command], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
  loaded = sorted({m.group(1) for m in LOADED.finditer(result.stderr)})
  assert not loaded, f"{tool} {args}: {', '.join(loaded)} loaded before the answer"
  result.stderr = "".join(line for line in result.stderr.splitlines(keepends=True)
                          if not line.startswith("import time:"))
  return result


def assert_one_line_error(result, *phrases):
  assert result.returncode != 0
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
  for phrase in phrases:
    assert phrase in lines[0], (phrase, lines[0])


@pytest.mark.parametrize("script", [False, True], ids=["module", "script"])
@pytest.mark.parametrize("tool", TOOLS)
def test_help_before_tensorflow(tool, script):
  result = run(tool, "--help", script=script)
  assert result.returncode == 0 and result.stderr == "", result.stderr[-2000:]
  assert "flags" in result.stdout.lower() and "--" in result.stdout


@pytest.mark.parametrize("script", [False, True], ids=["module", "script"])
@pytest.mark.parametrize("tool", TOOLS)
def test_an_unknown_flag_is_one_line_before_tensorflow(tool, script):
  assert_one_line_error(run(tool, "--no_such_flag=1", script=script), "no_such_flag")


@pytest.mark.parametrize("tool", ["zoo.train", "zoo.sample"])
def test_a_missing_flagfile_is_one_line_before_tensorflow(tool, tmp_path):
  missing = str(tmp_path / "missing.flags")
  assert_one_line_error(run(tool, f"--flagfile={missing}"), missing)


def test_helpfull_before_tensorflow():
  for tool in ("zoo.train", "zoo.sample"):
    result = run(tool, "--helpfull")
    assert result.returncode == 0 and "--" in result.stdout, result.stderr[-2000:]


@pytest.mark.parametrize("args", [["--model=dcgann"], ["--model=dcgann", "--help"],
                                  ["--help", "--model", "dcgann"]])
def test_train_an_unknown_model_is_one_line_before_tensorflow(args):
  assert_one_line_error(run("zoo.train", *args), "'dcgann'", "dense_gan")


def test_train_help_of_a_model_lists_its_options_and_settings_before_tensorflow():
  result = run("zoo.train", "--model=dcgan", "--help")
  assert result.returncode == 0, result.stderr[-2000:]
  assert "--generator_filters=256" in result.stdout and "--steps=" in result.stdout
  # --precision=auto asks TensorFlow for the GPUs, so the help shows the setting, not this host's answer
  assert "--precision=auto " in result.stdout


def test_train_flag_mistakes_are_one_line_before_tensorflow():
  assert_one_line_error(run("zoo.train", "--stpes=3"), "--stpes", "did you mean --steps?")
  assert_one_line_error(run("zoo.train", "--task=inpaint"), "--task", "image_gan")
  assert_one_line_error(run("zoo.train", "--steps=many"), "--steps=many")
  result = run("zoo.train", "--list_models")
  assert result.returncode == 0 and "dcgan: " in result.stdout, result.stderr[-2000:]


DEFERRED_USE = """
import sys
from zoo import cli
ran = lambda: sorted(m for m in sys.modules if m.startswith(("tensorflow.", "keras.")))
with cli.deferred_imports():
  import tensorflow as tf
  import tensorflow as again  # a second import reads __spec__, which must not load it
  import keras
assert again is tf and ran() == [], ran()[:5]
assert int(tf.constant(2) + 1) == 3 and ran()  # first use loads it
assert keras.layers.Dense(2)(tf.ones([1, 3])).shape == (1, 2)
print("ok")
"""


def test_deferred_tensorflow_loads_on_first_use_and_works():
  """The mechanism itself: bound at import, run at first use, then the ordinary module."""
  result = subprocess.run([sys.executable, "-c", DEFERRED_USE], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
  assert result.stdout.strip() == "ok", result.stderr[-3000:]


def test_ada_set_default_is_adas():
  """config.py writes ADA's default set out, so that it need not import zoo/recipe/ada.py (a tf.Module)."""
  from zoo import config
  from zoo.recipe import ada
  assert config.TrainConfig.ada_set == ada.DEFAULT_SET
