"""One trainer per run folder: `<logdir>/train.lock`, held for as long as a trainer runs.

  with runlock.hold(config.logdir):   # RunInUseError if another trainer holds it
    ...train...

Two trainers writing one run folder would interleave their checkpoints and config.json, and one would
crash when the other rotated away the checkpoint it had picked. The lock is an exclusive `flock` on the
lock file, so the operating system releases it when its holder dies, however it dies: a lock left by a
kill -9 or a power cut is never in the way. The file also records the holder's pid, host and start time,
for the one-line refusal and for the notice when a dead holder's lock is taken over. On a file system
without `flock` the recorded pid decides instead: a live pid on this host holds the run.
"""
import contextlib
import errno
import fcntl
import json
import os
import socket
import time

LOCK_FILE = "train.lock"
_ATTEMPTS = 5  # the lock file can be replaced under us by a holder that is just releasing it


class RunInUseError(OSError):
  """Another trainer holds the run folder; the message names it."""

  def __str__(self):
    return self.args[0]


def lock_path(logdir: str) -> str:
  return os.path.join(logdir, LOCK_FILE)


@contextlib.contextmanager
def hold(logdir: str, log=print):
  """Holds the run folder's lock for the block; creates `logdir` if needed (and removes it again if the
  block left it empty). RunInUseError when another live process holds it."""
  if os.path.exists(logdir) and not os.path.isdir(logdir):
    raise ValueError(f"--logdir={logdir!r} is a file; give a folder for the run (new or existing).")
  created = not os.path.exists(logdir)
  os.makedirs(logdir, exist_ok=True)
  descriptor = _acquire(logdir, log)
  try:
    yield
  finally:
    _release(logdir, descriptor, created)


def holder(logdir: str) -> dict | None:
  """What the lock file records (pid, host, started), or None when there is none or it is unreadable."""
  try:
    with open(lock_path(logdir)) as f:
      return _parse(f.read())
  except OSError:
    return None


def _acquire(logdir, log):
  path = lock_path(logdir)
  for _ in range(_ATTEMPTS):
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      locked = _flock(descriptor)
      previous = _parse(os.read(descriptor, 4096).decode(errors="replace"))
      if locked is None and previous and _alive_here(previous):  # no flock: trust a live recorded pid
        locked = False
      if locked is False:
        raise RunInUseError(_in_use_message(logdir, previous))
      if not _same_file(descriptor, path):  # the last holder removed it after we opened it: start over
        os.close(descriptor)
        continue
      if previous and previous.get("pid") != os.getpid():
        log(f"notice: taking over {path}, left by pid {previous.get('pid')} on {previous.get('host')} "
            f"(started {previous.get('started')}), which is no longer running.")
      _record(descriptor)
      return descriptor
    except BaseException:
      with contextlib.suppress(OSError):
        os.close(descriptor)
      raise
  raise RunInUseError(f"{logdir} is being locked and unlocked by other trainers; try again.")


def _flock(descriptor):
  """True when the exclusive lock was taken, False when another process holds it, None without flock."""
  try:
    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return True
  except BlockingIOError:
    return False
  except OSError as e:
    if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
      return None
    raise


def _record(descriptor):
  text = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                     "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}) + "\n"
  os.ftruncate(descriptor, 0)
  os.pwrite(descriptor, text.encode(), 0)
  os.fsync(descriptor)


def _release(logdir, descriptor, created):
  # Removed while still locked, so nobody can lock this file between our unlock and its removal.
  with contextlib.suppress(OSError):
    os.remove(lock_path(logdir))
  os.close(descriptor)
  if created:
    with contextlib.suppress(OSError):
      os.rmdir(logdir)  # only if empty: a run that wrote nothing leaves no folder


def _in_use_message(logdir, recorded):
  who = (f"pid {recorded.get('pid')} on {recorded.get('host')}, started {recorded.get('started')}"
         if recorded else "another process")
  return (f"{logdir} is in use by another trainer ({who}); wait for it to finish or stop it, or give "
          "another --logdir.")


def _parse(text):
  try:
    value = json.loads(text)
  except ValueError:
    return None
  return value if isinstance(value, dict) else None


def _alive_here(recorded):
  if recorded.get("host") != socket.gethostname() or not isinstance(recorded.get("pid"), int):
    return False
  if recorded["pid"] == os.getpid():
    return False
  try:
    os.kill(recorded["pid"], 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True  # alive, owned by someone else
  return True


def _same_file(descriptor, path):
  try:
    return os.fstat(descriptor).st_ino == os.stat(path).st_ino
  except FileNotFoundError:
    return False
