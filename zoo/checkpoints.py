"""Which checkpoint of a run can really be restored: the newest readable one, and why newer ones were not.

A checkpoint `ckpt-N` is the files `ckpt-N.index` and `ckpt-N.data-XXXXX-of-YYYYY`; the text file
`checkpoint` beside them names the latest. A crash, a full disk or a copy cut short can leave the latest
one truncated, or the `checkpoint` file naming files that are gone, and TensorFlow then fails deep in the
restore ("Read less bytes than requested"). `newest_readable` tries the `checkpoint` file's latest first,
then every other `ckpt-N` in the folder from the highest N down, and returns the first that reads:

  directory = os.path.join(logdir, "checkpoints")
  path, skipped = checkpoints.newest_readable(directory)
  if skipped:
    log(checkpoints.fallback_warning(path, skipped))  # "ckpt-40 is unreadable (truncated .data file);
  if path:                                           #  resuming from ckpt-30."
    checkpoint.restore(path)
  checkpoints.remove_interrupted_saves(directory)     # what saves killed midway left behind

A kill -9 alone does not make the latest unreadable (TensorFlow records a checkpoint as the latest only
after its files are complete; tests/test_soak.py), but it does leave `ckpt-N_temp/` folders behind.

A checkpoint counts as readable when its index opens and every tensor in it reads back. TensorBundle
checks each tensor's CRC32C as it reads it, so this catches truncated, missing and corrupted files alike:
exactly what the restore would have failed on. It is cheap because the models are small: measured on the
2-core CPU machine, checking dense_gan's 13 MB checkpoint (weights and Adam slots) takes 9 ms and dcgan's
45 MB one 25 ms, against 60-70 ms for the restore itself, which then reads from the page cache. Comparing
the data files' sizes with what the index expects would be cheaper still, but misses corrupted bytes and
needs the index's internal format.
"""
import glob
import os
import re
import shutil
from typing import NamedTuple

import tensorflow as tf

CHECKPOINT_NAME = "ckpt"  # tf.train.CheckpointManager's default, which the trainer uses


class Skipped(NamedTuple):
  """A checkpoint that was not used, and why."""
  path: str    # the checkpoint prefix, e.g. runs/x/checkpoints/ckpt-40
  reason: str  # e.g. "truncated .data file"


def unreadable_reason(prefix: str) -> str | None:
  """Why the checkpoint at `prefix` cannot be restored, or None if every tensor in it reads back."""
  if not os.path.exists(prefix + ".index"):
    return "missing .index file"
  try:
    reader = tf.train.load_checkpoint(prefix)
  except Exception as e:  # TF raises several types for a bad index
    return f"unreadable .index file, truncated or corrupt ({_first_line(e)})"
  try:
    for name in reader.get_variable_to_shape_map():
      reader.get_tensor(name)
  except Exception as e:  # IndexError, DataLossError, NotFoundError, ...
    message = str(e)
    if "Read less bytes than requested" in message:
      return "truncated .data file"
    if "No such file" in message or isinstance(e, tf.errors.NotFoundError):
      return "missing .data file"
    if "Checksum does not match" in message:
      return "corrupt .data file (checksum mismatch)"
    return f"unreadable ({type(e).__name__}: {_first_line(e)})"
  return None


def newest_readable(directory: str, checkpoint_name: str = CHECKPOINT_NAME
                    ) -> tuple[str | None, list[Skipped]]:
  """(prefix of the newest readable checkpoint in `directory` or None, the newer ones skipped and why).

  Candidates: the latest that the `checkpoint` file names, then every `<checkpoint_name>-N` that has an
  .index or .data file in `directory`, highest N first. Returns (None, []) when there is no checkpoint
  at all, and (None, [...]) when there are only unreadable ones.
  """
  skipped = []
  for prefix in _candidates(directory, checkpoint_name):
    reason = unreadable_reason(prefix)
    if reason is None:
      return prefix, skipped
    skipped.append(Skipped(prefix, reason))
  return None, skipped


def remove_interrupted_saves(directory: str, checkpoint_name: str = CHECKPOINT_NAME) -> list[str]:
  """Deletes the `ckpt-N_temp/` folders that a save killed midway leaves behind; returns their paths.

  TensorFlow writes a checkpoint into such a folder before moving it into place and never removes one it
  did not finish, even when it later saves the same N, so each kill during a save leaks up to a whole
  checkpoint's size (the soak test's kills left 0-8 MB of dense_gan's 13 MB). Call it only while nothing
  is saving into `directory`, e.g. on resume before the first save.
  """
  pattern = re.compile(re.escape(checkpoint_name) + r"-\d+_temp$")
  removed = []
  for path in glob.glob(os.path.join(glob.escape(directory), f"{glob.escape(checkpoint_name)}-*_temp")):
    if pattern.match(os.path.basename(path)) and os.path.isdir(path):
      shutil.rmtree(path, ignore_errors=True)
      removed.append(path)
  return sorted(removed)


def fallback_warning(used: str | None, skipped: list[Skipped], doing: str = "resuming from") -> str:
  """One line naming every skipped checkpoint with its reason and the one used instead.

  "ckpt-40 is unreadable (truncated .data file); resuming from ckpt-30." `doing` fits the caller:
  "resuming from", "sampling from", "exporting", ...
  """
  reasons = ", ".join(f"{os.path.basename(s.path)} is unreadable ({s.reason})" for s in skipped)
  if used is None:
    return f"{reasons}; no readable checkpoint is left." if skipped else "No checkpoint."
  return f"{reasons}; {doing} {os.path.basename(used)}." if skipped else f"{doing} {os.path.basename(used)}."


def _candidates(directory, checkpoint_name):
  """Checkpoint prefixes to try, in order: the `checkpoint` file's latest, then by number, highest first."""
  ordered = []
  try:
    state = tf.train.get_checkpoint_state(directory)
  except Exception:  # a truncated or hand-edited `checkpoint` file: use the files
    state = None
  if state is not None and state.model_checkpoint_path:
    # already joined to `directory` by TensorFlow when the file holds a relative path; joining again
    # would name a missing file whenever `directory` is itself relative
    ordered.append(state.model_checkpoint_path)
  pattern = re.compile(re.escape(checkpoint_name) + r"-(\d+)\.(index|data-\d+-of-\d+)$")
  numbers = set()
  for path in glob.glob(os.path.join(glob.escape(directory), f"{glob.escape(checkpoint_name)}-*")):
    match = pattern.match(os.path.basename(path))
    if match:
      numbers.add(int(match.group(1)))
  for number in sorted(numbers, reverse=True):
    prefix = os.path.join(directory, f"{checkpoint_name}-{number}")
    if not any(os.path.normpath(prefix) == os.path.normpath(p) for p in ordered):
      ordered.append(prefix)
  return ordered


def _first_line(error):
  lines = str(error).strip().splitlines()
  return lines[0][:200] if lines else type(error).__name__
