"""A run killed with SIGKILL at 20+ random moments, restarted each time, ends bit-equal to one never killed.

Moments are drawn from a seeded generator, in four kinds: at a random time after launch (start-up, the
first restore, the first steps), right after the k-th "step N" line (the trainer logs a step and then
saves it, so these land in or just before a checkpoint write), a few milliseconds after such a line, and
the instant the k-th new checkpoint file appears in checkpoints/ (during the write). SIGINT and SIGTERM
must instead save the current step and exit with status 0.
"""
import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
import traceback

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import REPO
from tests.helpers import QUICK_FLAGS, checkpoint_values
from zoo import checkpoints

STEPS = 60
KILLS = 20  # in two chains of 10; each moves the run at most ~4 steps on, so none reaches STEPS
SEED = 14
TIMEOUT = 300  # seconds for any one process; start-up alone is ~5-15 s on 2 busy cores
FLAGS = [*QUICK_FLAGS, "--checkpoint_every=1", "--log_every=1", "--image_every=5", "--keep_checkpoints=3",
         f"--steps={STEPS}"]
STEP_LINE = re.compile(r"^step (\d+)/")
KINDS = ("startup", "after_step", "after_step_delay", "during_save")


class Run:
  """`python -m zoo.train` in a subprocess whose output lines are read, with their times, by a thread."""

  def __init__(self, logdir, *flags):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    self.started = time.monotonic()
    self.process = subprocess.Popen([sys.executable, "-m", "zoo.train", *flags, f"--logdir={logdir}"],
                                    cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True)
    self.lines = queue.Queue()
    self.output = []
    self.first_step_seconds = None  # from launch to the first "step N" line
    threading.Thread(target=self._read, daemon=True).start()

  def _read(self):
    for line in self.process.stdout:
      if self.first_step_seconds is None and STEP_LINE.match(line):
        self.first_step_seconds = time.monotonic() - self.started
      self.output.append(line)
      self.lines.put(line)
    self.lines.put(None)

  def step_lines(self, count, deadline):
    """Waits for `count` more "step N" lines; returns the last N, or None if the process ended first."""
    step = None
    while count > 0:
      line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
      if line is None:
        return None
      match = STEP_LINE.match(line)
      if match:
        step, count = int(match.group(1)), count - 1
    return step

  def finish(self, timeout=TIMEOUT):
    self.process.wait(timeout=timeout)
    time.sleep(0.05)  # let the reader thread take the last lines
    return self.process.returncode, "".join(self.output)

  def kill(self):
    self.process.send_signal(signal.SIGKILL)
    return self.finish()


def _checkpoint_numbers(directory):
  try:
    names = os.listdir(directory)
  except FileNotFoundError:
    return set()
  return {int(m.group(1)) for m in map(re.compile(r"ckpt-(\d+)").match, names) if m}


def _kill_at(run, moment, checkpoint_dir, first_step_seconds):
  """Kills `run` at `moment` (kind, count, delay); returns a description, or None if it had already exited."""
  kind, count, delay = moment
  deadline = run.started + TIMEOUT
  if kind == "startup":  # at a fraction `delay` of the start-up time, or at the second step line if sooner
    steps = 0
    while time.monotonic() < run.started + delay * first_step_seconds and steps < 2:
      try:
        line = run.lines.get(timeout=0.005)
      except queue.Empty:
        continue
      if line is None:
        return None
      steps += bool(STEP_LINE.match(line))
    description = f"{time.monotonic() - run.started:.2f} s after launch, after {steps} step lines"
  elif kind in ("after_step", "after_step_delay"):  # `delay` s after the `count`-th step line
    step = run.step_lines(count, deadline)
    if step is None:
      return None
    time.sleep(delay)
    description = f"{delay * 1000:.0f} ms after the line of step {step}"
  else:  # `delay` s after the first file of the `count`-th new checkpoint appears
    seen = _checkpoint_numbers(checkpoint_dir)
    new = 0
    while new < count and run.process.poll() is None and time.monotonic() < deadline:
      time.sleep(0.0005)
      numbers = _checkpoint_numbers(checkpoint_dir)
      new += len(numbers - seen)
      seen |= numbers
    time.sleep(delay)
    description = f"{delay * 1000:.0f} ms after a file of checkpoint {max(seen, default=None)} appeared"
  if run.process.poll() is not None:
    return None
  run.kill()
  return description


def _schedule(rng, count):
  """`count` moments (kind, count, delay): the kinds in turn, shuffled; counts and delays drawn by `rng`."""
  kinds = [KINDS[i % len(KINDS)] for i in range(count)]
  rng.shuffle(kinds)
  delays = {"startup": (0.05, 1.1), "after_step": (0, 0), "after_step_delay": (0.001, 0.08),
            "during_save": (0, 0.1)}  # saving the 13 MB checkpoint takes 50-100 ms here
  return [(kind, rng.randint(1, 3), rng.uniform(*delays[kind])) for kind in kinds]


def _state_after_kill(directory):
  """What a kill left in checkpoints/: the latest the `checkpoint` file names, files of newer checkpoints
  (written but not yet recorded there), unreadable checkpoints, and leftover temporary folders."""
  state = tf.train.get_checkpoint_state(directory)
  latest = os.path.basename(state.model_checkpoint_path) if state else None
  newest, skipped = checkpoints.newest_readable(directory)
  names = sorted(os.listdir(directory)) if os.path.isdir(directory) else []
  latest_number = int(latest.rsplit("-", 1)[1]) if latest else 0
  newer = [name for name in names if "temp" not in name and name.startswith("ckpt-")
           and int(re.match(r"ckpt-(\d+)", name).group(1)) > latest_number]
  return {"latest": latest, "newest_readable": os.path.basename(newest) if newest else None,
          "unreadable": [f"{os.path.basename(s.path)}: {s.reason}" for s in skipped],
          "newer_files": newer, "temp": [name for name in names if "temp" in name]}


def _kill_chain(logdir, seed, count, reference, result):
  """Starts the run `count` times, killing it each time at a moment drawn with `seed`; fills `result`."""
  try:
    _run_chain(logdir, seed, count, reference, result)
  except Exception:  # the test's own failure (e.g. a timeout): reported by the main thread
    result["error"] = traceback.format_exc()


def _run_chain(logdir, seed, count, reference, result):
  checkpoint_dir = os.path.join(logdir, "checkpoints")
  rng = random.Random(seed)
  first_step_seconds = 10.0  # launch to the first step line, until a run has measured it
  history = result["history"] = []
  for moment in _schedule(rng, count):
    kind = moment[0]
    run = Run(logdir, *FLAGS)
    description = _kill_at(run, moment, checkpoint_dir, first_step_seconds)
    if description is None:  # it exited by itself: finished early, or failed to resume
      returncode, output = run.finish()
      if returncode != 0:
        result["error"] = (f"a restart failed after {len(history)} kills; the last ones:\n"
                           + "\n".join(map(str, history[-3:])) + f"\nits output:\n{output[-3000:]}")
        return
      history.append({"kind": kind, "killed": False, "output": output.strip().splitlines()[-1]})
      break
    output = "".join(run.output)
    resumed = re.search(r"Resumed from \S+ at step \d+", output)
    first_step_seconds = run.first_step_seconds or reference.first_step_seconds or first_step_seconds
    state = _state_after_kill(checkpoint_dir)
    state["mid_save"] = bool(set(state["temp"]) - set(history[-1]["temp"] if history else []))
    resumed = resumed.group(0).replace(checkpoint_dir + "/", "") if resumed else None
    history.append({"kind": kind, "when": description, "resumed": resumed, **state})
  returncode, output = Run(logdir, *FLAGS).finish()
  if returncode != 0:
    result["error"] = (f"the final restart failed after {len(history)} kills; the last ones:\n"
                       + "\n".join(map(str, history[-3:])) + f"\nits output:\n{output[-3000:]}")


@pytest.mark.slow
def test_killed_at_random_moments_ends_bit_equal_to_an_uninterrupted_run(tmp_path):
  """Two chains of kills run side by side (start-up is mostly one core's work), beside the reference run."""
  began = time.monotonic()
  reference = Run(str(tmp_path / "uninterrupted"), *FLAGS)
  chains = [{"logdir": str(tmp_path / f"killed_{i}")} for i in range(2)]
  threads = [threading.Thread(target=_kill_chain, args=(chain["logdir"], SEED + i, KILLS // 2, reference,
                                                        chain)) for i, chain in enumerate(chains)]
  for thread in threads:
    thread.start()
  reference_code, reference_output = reference.finish()
  for thread in threads:
    thread.join()
  assert reference_code == 0, reference_output[-3000:]
  kills = sum(1 for chain in chains for h in chain["history"] if h.get("killed", True))
  mid_save = sum(1 for chain in chains for h in chain["history"] if h.get("mid_save"))
  print(f"{kills} kills in {time.monotonic() - began:.0f} s, {mid_save} of them in the middle of a save "
        "(a new ckpt-N_temp/ left behind):")
  for chain in chains:
    for entry in chain["history"]:
      print(" ", os.path.basename(chain["logdir"]), entry)
  for chain in chains:
    assert "error" not in chain, chain["error"]
  assert kills >= 20, chains

  uninterrupted = checkpoint_values(tmp_path / "uninterrupted")
  assert len(uninterrupted) > 20 and any("optimizer/_variables/" in name for name in uninterrupted)  # slots
  assert int(uninterrupted["step/.ATTRIBUTES/VARIABLE_VALUE"]) == STEPS
  for chain in chains:
    killed = checkpoint_values(chain["logdir"])
    assert killed.keys() == uninterrupted.keys()
    for name in uninterrupted:
      np.testing.assert_array_equal(killed[name], uninterrupted[name], err_msg=name)


@pytest.mark.slow
@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_sigint_and_sigterm_save_the_current_step_and_exit_0(tmp_path, signal_number):
  logdir = str(tmp_path / "run")
  run = Run(logdir, *QUICK_FLAGS, "--steps=1000000")
  step = run.step_lines(7, time.monotonic() + TIMEOUT)  # well into training, between checkpoints
  assert step is not None, "".join(run.output)[-3000:]
  run.process.send_signal(signal_number)
  returncode, output = run.finish()
  name = signal.Signals(signal_number).name
  assert returncode == 0, output[-3000:]
  saved = re.search(rf"{name} received: saved step (\d+) to (\S+?);", output)
  assert saved, output[-3000:]
  assert int(saved.group(1)) >= step and "Traceback" not in output
  directory = os.path.join(logdir, "checkpoints")
  newest, skipped = checkpoints.newest_readable(directory)
  assert skipped == [] and newest == tf.train.latest_checkpoint(directory) == saved.group(2)
  assert int(tf.train.load_checkpoint(newest).get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE")) == \
      int(saved.group(1))
