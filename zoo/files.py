"""Output files written whole or not at all.

Every file a CLI writes goes to a temporary name in the same folder, is flushed to disk, then renamed over
the target (`os.replace`, atomic on one file system). A full disk, a read-only run folder or a crash
mid-write therefore leaves the file that was there before intact, and never a truncated one. A failure is
one `WriteError` (an OSError, which every CLI prints as one line) naming the path and what was kept.

  with files.atomic_open("samples.npz") as f:
    numpy.savez_compressed(f, images=images)
  files.write_json("scores.json", {"fid": 12.3})
  files.check_not_input("out.png", "in.png", flag="the output")  # refuses to write over an input
"""
import contextlib
import errno
import json
import os
import tempfile

_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


class WriteError(OSError):
  """A file could not be written; its message is the one line a user sees."""

  def __init__(self, message, code=None):
    super().__init__(message)
    self.errno = code
    self.message = message

  def __str__(self):
    return self.message


def failure_message(path: str, error: OSError, existed: bool) -> str:
  """One line: which file, why, and what is left on disk."""
  reason = _REASONS.get(error.errno) or (error.strerror or str(error))
  kept = (f"the existing {os.path.basename(path)} was kept unchanged" if existed
          else "nothing was written there")
  hint = {errno.ENOSPC: "; free some space and run again", errno.EDQUOT: "; free some space and run again",
          errno.EROFS: "; write somewhere else", errno.EACCES: "; write somewhere else",
          errno.EPERM: "; write somewhere else"}.get(error.errno, "")
  return f"Could not write {path}: {reason} ({kept}){hint}."


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "wb"):
  """A file object that becomes `path` only when the block ends without an error.

  The parent folder is created if missing. On any failure the temporary file is removed, the previous
  `path` (if any) stays as it was, and OSErrors become one-line WriteErrors.
  """
  path = os.fspath(path)
  existed = os.path.exists(path)
  folder = os.path.dirname(os.path.abspath(path))
  blocking = _file_in_the_way(folder)
  if blocking:  # makedirs would say "File exists" or "Not a directory", naming neither
    raise WriteError(f"Could not write {path}: {blocking} is a file, not a folder (nothing was written "
                     "there); give a path inside a folder.", errno.ENOTDIR)
  temporary = None
  try:
    os.makedirs(folder, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    os.fchmod(descriptor, _mode_for(path))
    with os.fdopen(descriptor, mode) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.replace(temporary, path)
    temporary = None
    _sync_folder(folder)
  except WriteError:
    raise
  except OSError as e:
    raise WriteError(failure_message(path, e, existed), e.errno) from e
  finally:
    if temporary is not None:
      with contextlib.suppress(OSError):
        os.remove(temporary)


def write_bytes(path: str, data: bytes) -> None:
  with atomic_open(path, "wb") as f:
    f.write(data)


def write_text(path: str, text: str) -> None:
  with atomic_open(path, "w") as f:
    f.write(text)


def write_json(path: str, value, indent: int = 2) -> None:
  write_text(path, json.dumps(value, indent=indent) + "\n")


def save_npz(path: str, **arrays) -> None:
  """numpy.savez_compressed, atomically (numpy itself truncates the target first)."""
  import numpy as np
  with atomic_open(path, "wb") as f:
    np.savez_compressed(f, **arrays)


def check_not_input(out: str, *inputs: str, flag: str = "the output") -> None:
  """A ValueError when `out` is one of `inputs` (same file, through any path or link)."""
  for source in inputs:
    if source and _same_file(out, source):
      raise ValueError(f"{flag} {out!r} is the input {source!r}: writing it would destroy the input; "
                       "give another output path.")


def _same_file(a: str, b: str) -> bool:
  if os.path.exists(a) and os.path.exists(b):
    return os.path.samefile(a, b)
  return os.path.realpath(a) == os.path.realpath(b)


def check_output_path(path: str, flag: str) -> None:
  """A ValueError naming `flag` when `path` cannot become a file: it is a folder, or lies under a file."""
  if not path:
    raise ValueError(f"{flag} is empty; give a file name.")
  if os.path.isdir(path):
    raise ValueError(f"{flag}={path!r} is a folder; give a file name.")
  blocking = _file_in_the_way(os.path.dirname(os.path.abspath(path)))
  if blocking:
    raise ValueError(f"{flag}={path!r} lies under {blocking}, a file, not a folder; give a path inside a "
                     "folder.")


def nearest_existing(path: str) -> str:
  """`path` if it exists, else its nearest existing ancestor (the root at worst)."""
  while not os.path.exists(path) and os.path.dirname(path) != path:
    path = os.path.dirname(path)
  return path


def _file_in_the_way(folder: str):
  """The nearest existing ancestor of `folder` (itself included) when it is not a folder, else None."""
  found = nearest_existing(folder)
  return found if os.path.exists(found) and not os.path.isdir(found) else None


def _mode_for(path: str) -> int:
  """An existing file keeps its permissions; a new one gets the usual 0666 less the umask (mkstemp's 0600
  would make outputs unreadable to others)."""
  try:
    return os.stat(path).st_mode & 0o7777
  except OSError:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _sync_folder(folder: str) -> None:
  """Makes the rename itself durable; some file systems cannot open a folder, which is harmless."""
  with contextlib.suppress(OSError):
    descriptor = os.open(folder, os.O_RDONLY)
    try:
      os.fsync(descriptor)
    finally:
      os.close(descriptor)
