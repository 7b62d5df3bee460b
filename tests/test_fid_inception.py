"""The Keras FID Inception against pytorch-fid's outputs (tests/golden/, made by
experiments/fid_inception_golden.py), the .pth reader, the weight checks and the three resize modes."""
import os
import pickle
import zipfile

import numpy as np
import pytest

from experiments import fid_inception_golden as golden
from zoo.metrics import fid_inception, inception, torch_state_dict

GOLDEN_DIR = os.path.join(os.path.dirname(__file__), "golden")


@pytest.fixture(scope="module")
def reference():
  with np.load(os.path.join(GOLDEN_DIR, "fid_inception.npz")) as stored:
    return {key: stored[key] for key in stored.files}


@pytest.fixture(scope="module")
def random_state(reference):
  shapes = [row[:ndim] for row, ndim in zip(reference["shapes"], reference["ndims"])]
  return golden.random_state_dict([str(name) for name in reference["names"]], shapes)


@pytest.fixture(scope="module")
def network():
  return fid_inception.build_fid_inception()


def keras_outputs(network, state_dict):
  fid_inception.load_state_dict(network, state_dict)
  pool, logits = network(inception.to_network_input(golden.golden_inputs(), "legacy_pytorch"), training=False)
  return np.asarray(pool), np.asarray(logits)


def test_keras_port_matches_pytorch_fid_with_the_same_weights(network, random_state, reference):
  pool, logits = keras_outputs(network, random_state)
  assert pool.shape == (2, fid_inception.FEATURE_DIM) and logits.shape == (2, fid_inception.NUM_LOGITS)
  # float32 through 94 convolutions in two frameworks: measured 5e-5 on pool values up to 65
  np.testing.assert_allclose(pool, reference["pool"], rtol=1e-4, atol=1e-3)
  np.testing.assert_allclose(logits, reference["logits"], rtol=1e-4, atol=1e-3)
  # the two inputs (noise, a gradient) must give clearly different outputs, or the check says little
  assert np.abs(reference["pool"][0] - reference["pool"][1]).max() > 1.0


def test_a_state_dict_of_another_network_is_refused(network, random_state):
  missing = dict(random_state)
  del missing["Mixed_6a.branch3x3.bn.running_var"]
  with pytest.raises(ValueError, match="no 'Mixed_6a.branch3x3.bn.running_var'"):
    fid_inception.load_state_dict(network, missing)
  reshaped = {**random_state, "fc.weight": np.zeros((1000, 2048), np.float32)}
  with pytest.raises(ValueError, match=r"fc.weight has shape \(1000, 2048\).*\(1008, 2048\)"):
    fid_inception.load_state_dict(network, reshaped)
  extra = {**random_state, "AuxLogits.fc.bias": np.zeros(1008, np.float32)}
  with pytest.raises(ValueError, match="first: 'AuxLogits.fc.bias'"):
    fid_inception.load_state_dict(network, extra)


@pytest.mark.parametrize("name", ["tiny_zip.pth", "tiny_legacy.pth"])
def test_reader_reads_both_torch_save_formats_bit_for_bit(name):
  read = torch_state_dict.read_state_dict(os.path.join(GOLDEN_DIR, name))
  expected = golden.tiny_state_dict()
  assert list(read) == list(expected)
  for key, value in expected.items():
    assert read[key].dtype == value.dtype and read[key].shape == value.shape, key
    np.testing.assert_array_equal(read[key], value)


def test_reader_runs_nothing_from_the_file(tmp_path):
  class Payload:
    def __reduce__(self):
      return (os.system, ("echo pwned",))
  path = tmp_path / "evil.pth"
  with zipfile.ZipFile(path, "w") as archive:
    archive.writestr("archive/data.pkl", pickle.dumps({"x": Payload()}, protocol=2))
  with pytest.raises(ValueError, match="not a plain state dict.*system"):
    torch_state_dict.read_state_dict(str(path))
  not_torch = tmp_path / "notes.pth"
  not_torch.write_bytes(b"hello")
  with pytest.raises(ValueError, match="not a PyTorch .pth file"):
    torch_state_dict.read_state_dict(str(not_torch))


def test_missing_or_unpublished_weights_name_the_file_and_where_to_get_it(tmp_path, monkeypatch):
  monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
  with pytest.raises(inception.InceptionWeightsUnavailableError) as missing:
    inception.resolve_weights(str(tmp_path / "nowhere.pth"))
  message = str(missing.value)
  assert inception.WEIGHTS_FILE in message and inception.WEIGHTS_URL in message and "\n" not in message
  other = tmp_path / "other.pth"
  other.write_bytes(b"not the published file")
  with pytest.raises(inception.InceptionWeightsUnavailableError, match="not the published 6726825d"):
    inception.load_weights(None, str(other))


def test_default_weights_offline_without_a_copy_fail_at_once(tmp_path, monkeypatch):
  from zoo.data import tfds_source
  monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
  monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
  monkeypatch.setenv("ZOO_METRICS_CACHE", str(tmp_path / "cache"))
  monkeypatch.setattr(tfds_source, "internet_reachable", lambda: False)
  with pytest.raises(inception.InceptionWeightsUnavailableError, match="no internet"):
    inception.resolve_weights()
  cached = tmp_path / "torch" / "hub" / "checkpoints" / inception.WEIGHTS_FILE
  cached.parent.mkdir(parents=True)
  cached.write_bytes(b"")
  assert inception.resolve_weights() == str(cached)  # pytorch-fid's own cache is found


def test_resize_modes_by_hand():
  two_by_two = np.array([[0, 64], [128, 255]], np.uint8)[None, :, :, None].repeat(3, axis=-1)
  legacy_tf = np.asarray(inception.to_network_input(two_by_two, "legacy_tf", side=4))[0, 0, :, 0]
  # TF1 ResizeBilinear samples at x * 2/4 (no half-pixel centres): 0, 0.5, 1, 1.5 -> clamped to 1
  np.testing.assert_allclose(legacy_tf * 128 + 128, [0, 32, 64, 64], atol=1e-4)
  legacy_pytorch = np.asarray(inception.to_network_input(two_by_two, "legacy_pytorch", side=4))[0, 0, :, 0]
  # half-pixel centres sample at (x + 0.5) / 2 - 0.5: -0.25 -> 0, 0.25, 0.75, 1.25 -> 1
  np.testing.assert_allclose((legacy_pytorch + 1) * 127.5, [0, 16, 48, 64], atol=1e-4)
  flat = np.full((2, 5, 5, 3), 200, np.uint8)
  clean = np.asarray(inception.to_network_input(flat, "clean", side=9))
  np.testing.assert_allclose(clean, (200 - 128) / 128, atol=1e-6)  # bicubic keeps a flat image flat
  edge = np.zeros((2, 4, 4, 3), np.uint8)
  edge[:, :, 2:] = 255  # bicubic overshoots at a step edge; clean-fid clips to 0..255
  resized = inception.clean_resize(edge, 16)
  assert resized.min() == 0.0 and resized.max() == 255.0 and resized.dtype == np.float32
  with pytest.raises(ValueError, match="resize='bicubic' is not one of clean, legacy_tf, legacy_pytorch"):
    inception.check_resize("bicubic")
