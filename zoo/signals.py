"""Every signal handler of the zoo: SIGINT and SIGTERM before, during and after training.

- `exit_on_signals(when)`: while a command starts up (TensorFlow loads) or exits, a signal ends it at
  once with one line on stderr ("<SIGNAL> received <when>") and status 128 + the signal's number (130,
  143), as a shell reports a command the signal stopped: no traceback, no silent death.
- `SaveThenStop`: while training, a signal becomes a flag the loop checks between compiled calls, so it
  saves a checkpoint first and then stops; a second signal raises KeyboardInterrupt at once (the user
  really wants out).
"""
import signal
import sys
import threading

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_on_signals(when: str):
  """From now until something else takes them over, SIGINT and SIGTERM end the process with one line."""
  def handle(signum, frame):
    del frame
    sys.stdout.flush()
    print(f"{signal.Signals(signum).name} received {when}", file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)
  for sig in STOP_SIGNALS:
    signal.signal(sig, handle)


class SaveThenStop:
  """Within the block, SIGINT/SIGTERM set `received` (the signal's name) instead of stopping; the
  previous handlers come back after it. Only the main thread can own signal handlers: elsewhere (a
  test's worker thread) the block changes nothing."""

  def __init__(self):
    self.received = None
    self._previous = {}

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for sig in STOP_SIGNALS:
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def _handle(self, signum, frame):
    del frame
    if self.received is not None:
      raise KeyboardInterrupt
    self.received = signal.Signals(signum).name

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
