"""Running the real entry points in subprocesses, as a user would."""
import os
import subprocess
import sys

from tests.conftest import DATA_DIR, REPO

QUICK_FLAGS = ["--model=dense_gan", f"--data_dir={DATA_DIR}", "--train_split=train[:512]",
               "--batch_size=32", "--log_every=5", "--image_every=5", "--checkpoint_every=5",
               "--steps_per_call=1"]


def run_module(module, *args, timeout=300, env=None, check=False):
  full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
  result = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
  if check and result.returncode != 0:
    raise AssertionError(f"{module} {args} failed ({result.returncode}):\n{result.stderr[-3000:]}")
  return result


def popen_module(module, *args, env=None):
  full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
  return subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO, env=full_env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
