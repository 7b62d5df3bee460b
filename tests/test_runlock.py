"""zoo/runlock.py: one trainer per run folder, stale locks taken over, released on exit."""
import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO
from zoo import runlock


def test_a_second_holder_is_refused_in_one_line_naming_the_first(tmp_path):
  logdir = str(tmp_path / "run")
  with runlock.hold(logdir):
    recorded = runlock.holder(logdir)
    assert recorded["pid"] == os.getpid() and recorded["host"] == socket.gethostname()
    with pytest.raises(runlock.RunInUseError) as refused:
      with runlock.hold(logdir):
        pass
    message = str(refused.value)
    assert "\n" not in message and logdir in message and f"pid {os.getpid()}" in message
    assert socket.gethostname() in message
    assert runlock.holder(logdir)["pid"] == os.getpid()  # the refusal left the holder's record alone
  assert not os.path.exists(runlock.lock_path(logdir))


def test_another_process_is_refused_while_held_and_admitted_after(tmp_path):
  logdir = str(tmp_path)
  script = textwrap.dedent(f"""
    from zoo import runlock
    try:
      with runlock.hold({logdir!r}):
        print("held")
    except runlock.RunInUseError as e:
      print("refused:", e)
  """)
  def other():
    return subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout
  with runlock.hold(logdir):
    assert other().startswith(f"refused: {logdir} is in use by another trainer (pid {os.getpid()}")
  assert other() == "held\n"


def test_a_killed_holders_lock_is_taken_over_with_a_notice(tmp_path):
  logdir = str(tmp_path)
  # What a kill -9 leaves: the file with a record, no process holding its flock.
  with open(runlock.lock_path(logdir), "w") as f:
    json.dump({"pid": 2**22 + 12345, "host": socket.gethostname(), "started": "yesterday"}, f)
  notices = []
  with runlock.hold(logdir, log=notices.append):
    assert runlock.holder(logdir)["pid"] == os.getpid()
  assert len(notices) == 1
  assert f"left by pid {2**22 + 12345}" in notices[0] and "no longer running" in notices[0]


def test_released_when_the_block_raises(tmp_path):
  with pytest.raises(KeyError):
    with runlock.hold(str(tmp_path)):
      raise KeyError("boom")
  with runlock.hold(str(tmp_path)):
    pass


def test_a_new_folder_left_empty_is_removed_and_a_file_is_refused(tmp_path):
  logdir = tmp_path / "new"
  with runlock.hold(str(logdir)):
    assert logdir.is_dir()
  assert not logdir.exists()
  (tmp_path / "file").write_text("x")
  with pytest.raises(ValueError, match="is a file"):
    with runlock.hold(str(tmp_path / "file")):
      pass


def test_without_flock_a_live_recorded_pid_still_refuses(tmp_path, monkeypatch):
  monkeypatch.setattr(runlock, "_flock", lambda descriptor: None)
  sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
  try:
    with open(runlock.lock_path(str(tmp_path)), "w") as f:
      json.dump({"pid": sleeper.pid, "host": socket.gethostname(), "started": "now"}, f)
    with pytest.raises(runlock.RunInUseError, match=f"pid {sleeper.pid}"):
      with runlock.hold(str(tmp_path)):
        pass
  finally:
    sleeper.kill()
    sleeper.wait()
  with runlock.hold(str(tmp_path), log=lambda line: None):  # now dead: taken over
    pass
