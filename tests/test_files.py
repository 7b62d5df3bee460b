"""zoo/files.py: outputs are written whole or not at all, and a failure is one line naming the path."""
import errno
import os

import numpy as np
import pytest

from zoo import files


def _fail_fsync(code):
  def fsync(descriptor):
    raise OSError(code, os.strerror(code))
  return fsync


def test_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
  path = tmp_path / "out.json"
  path.write_text("old")
  files.write_json(str(path), {"fid": 1.5})
  assert path.read_text() == '{\n  "fid": 1.5\n}\n'
  assert os.listdir(tmp_path) == ["out.json"]


def test_a_new_file_is_readable_by_others_as_umask_allows(tmp_path):
  umask = os.umask(0o022)
  try:
    files.write_bytes(str(tmp_path / "a.bin"), b"x")
  finally:
    os.umask(umask)
  assert os.stat(tmp_path / "a.bin").st_mode & 0o777 == 0o644


def test_missing_parent_folders_are_created(tmp_path):
  files.write_text(str(tmp_path / "new" / "deeper" / "a.txt"), "hi")
  assert (tmp_path / "new" / "deeper" / "a.txt").read_text() == "hi"


def test_disk_full_keeps_the_old_file_and_says_so_in_one_line(tmp_path, monkeypatch):
  path = tmp_path / "prev.npz"
  files.save_npz(str(path), images=np.zeros((2, 2), np.uint8))
  good = path.read_bytes()
  monkeypatch.setattr(files.os, "fsync", _fail_fsync(errno.ENOSPC))
  with pytest.raises(OSError) as raised:
    files.save_npz(str(path), images=np.ones((50, 50), np.uint8))
  message = str(raised.value)
  assert "\n" not in message and str(path) in message and "disk is full" in message
  assert "existing prev.npz was kept unchanged" in message
  assert path.read_bytes() == good
  assert os.listdir(tmp_path) == ["prev.npz"]


def test_a_failure_with_no_previous_file_says_nothing_was_written(tmp_path, monkeypatch):
  monkeypatch.setattr(files.os, "fsync", _fail_fsync(errno.EROFS))
  with pytest.raises(files.WriteError, match=r"read-only \(nothing was written there\); write somewhere"):
    files.write_bytes(str(tmp_path / "a.png"), b"png")
  assert os.listdir(tmp_path) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_an_unwritable_folder_is_one_line(tmp_path):
  folder = tmp_path / "locked"
  folder.mkdir()
  os.chmod(folder, 0o500)
  try:
    with pytest.raises(files.WriteError, match="permission denied"):
      files.write_text(str(folder / "a.txt"), "x")
  finally:
    os.chmod(folder, 0o700)


def test_an_error_inside_the_block_leaves_the_old_file(tmp_path):
  path = tmp_path / "a.txt"
  path.write_text("old")
  with pytest.raises(RuntimeError):
    with files.atomic_open(str(path), "w") as f:
      f.write("half")
      raise RuntimeError("interrupted")
  assert path.read_text() == "old" and os.listdir(tmp_path) == ["a.txt"]


def test_output_over_its_own_input_is_refused(tmp_path):
  source = tmp_path / "in.png"
  source.write_bytes(b"x")
  os.symlink(source, tmp_path / "link.png")
  for out in (str(source), str(tmp_path / "link.png"), str(tmp_path / "." / "in.png")):
    with pytest.raises(ValueError, match="is the input"):
      files.check_not_input(out, str(source))
  files.check_not_input(str(tmp_path / "out.png"), str(source))
