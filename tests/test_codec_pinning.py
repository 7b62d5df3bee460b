"""Codec files stay decodable: encoding pins its exact decoder in the run folder, which training on never
deletes, and decoding finds it by the model id in the file's header."""
import dataclasses
import os

import numpy as np
import pytest

from tests.helpers import run_module, smoke_config
from zoo import compress
from zoo import data
from zoo import runs
from zoo import training
from zoo.models.compression_gan import codec as codec_lib

QUIET = {"log": lambda *_: None}


@pytest.fixture(scope="module")
def image():
  from tests.conftest import DATA_DIR
  return next(data.load_images("mnist", "test[:1]", DATA_DIR).as_numpy_iterator())


@pytest.fixture
def short_run(tmp_path):
  """A codec run trained 2 steps, keeping only its newest checkpoint (so training on rotates it away)."""
  config = smoke_config("compression_gan", "codec", tmp_path / "run", keep_checkpoints=1, checkpoint_every=1,
                        image_every=100)
  training.fit(config, **QUIET)
  return config


def test_a_file_decodes_to_the_same_pixels_after_training_on_rotates_its_checkpoint(short_run, image):
  logdir = short_run.logdir
  codec, folder = compress.pinned_codec(logdir)
  encoded = codec.encode(image)
  before = codec.decode(encoded)
  encoded_by = runs.checkpoint_paths(logdir)
  assert folder == os.path.join(logdir, "codecs", codec.model_id.hex())

  training.fit(dataclasses.replace(short_run, steps=4), **QUIET)
  assert not set(encoded_by) & set(runs.checkpoint_paths(logdir)), "the encoding checkpoint was not rotated"
  assert compress.codec_from_run(logdir).model_id != codec.model_id, "training on changed nothing"

  header, _ = codec_lib.unpack(encoded)
  decoder = compress.decoder_for(header.model_id, logdir)
  np.testing.assert_array_equal(decoder.decode(encoded), before)
  # The pinned copy encodes bit for bit as the run's network did.
  assert decoder.encode(image) == encoded


@pytest.mark.slow
def test_the_pinned_codec_is_exactly_the_checkpoints(short_run, image):
  live = compress.codec_from_run(short_run.logdir)
  pinned, folder = compress.pinned_codec(short_run.logdir)
  assert pinned.model_id == live.model_id and pinned.encode(image) == live.encode(image)
  for ours, theirs in zip(live.decoder_ops + live.encoder_ops, pinned.decoder_ops + pinned.encoder_ops):
    assert ours[0] == theirs[0]
    for a, b in zip(*(p if isinstance(p, tuple) else (p,) for p in (ours[1], theirs[1]))):
      np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(pinned.tables.counts, live.tables.counts)
  with np.load(os.path.join(folder, codec_lib.PINNED_ARRAYS)) as stored:  # stored narrow, widened exactly
    assert stored["decoder_0_kernel"].dtype == np.float32
  assert compress.pinned_codec(short_run.logdir)[1] == folder  # pinning again reuses the folder


@pytest.mark.slow
def test_a_damaged_pinned_codec_is_refused_in_one_line(short_run):
  _, folder = compress.pinned_codec(short_run.logdir)
  path = os.path.join(folder, codec_lib.PINNED_ARRAYS)
  content = bytearray(open(path, "rb").read())
  content[len(content) // 2] ^= 1
  open(path, "wb").write(bytes(content))
  with pytest.raises(codec_lib.CodecError, match="is damaged: codec.npz does not match the checksum"):
    codec_lib.Codec.load(folder)


@pytest.mark.slow
def test_a_file_of_an_unknown_model_names_the_id_and_where_it_looked(short_run):
  with pytest.raises(codec_lib.CodecError) as raised:
    compress.decoder_for(bytes.fromhex("00c0ffee"), short_run.logdir)
  message = str(raised.value)
  assert "\n" not in message and "model 00c0ffee" in message
  assert os.path.join(short_run.logdir, "codecs", "00c0ffee") in message and "--codec=" in message
  assert "use --logdir" not in message


@pytest.mark.slow
def test_an_unpinned_file_is_found_among_the_kept_checkpoints_and_pinned(short_run, image):
  """Files encoded before codecs were pinned decode while their checkpoint is still kept."""
  codec = compress.codec_from_run(short_run.logdir)
  encoded = codec.encode(image)
  decoder = compress.decoder_for(codec.model_id, short_run.logdir)
  np.testing.assert_array_equal(decoder.decode(encoded), codec.decode(encoded))
  assert os.path.isdir(os.path.join(runs.codec_dir(short_run.logdir), codec.model_id.hex()))


@pytest.mark.slow
def test_checkpoint_flag_picks_a_checkpoint_and_names_the_kept_ones(tmp_path):
  config = smoke_config("compression_gan", "codec", tmp_path / "run", keep_checkpoints=3, checkpoint_every=1,
                        image_every=100)
  training.fit(config, **QUIET)
  restored = runs.restore_generator_and_path(config.logdir)
  assert restored.path.endswith("ckpt-2") and restored.step == 2
  first = compress.codec_from_run(config.logdir, checkpoint="1")
  assert first.model_id != compress.codec_from_run(config.logdir).model_id
  assert compress.pinned_codec(config.logdir, checkpoint="ckpt-1")[0].model_id == first.model_id
  with pytest.raises(ValueError, match=r"--checkpoint='ckpt-9'.*\(the run's checkpoints: ckpt-2, ckpt-1\)"):
    compress.codec_from_run(config.logdir, checkpoint="9")


@pytest.mark.slow
def test_cli_encodes_decodes_elsewhere_with_codec_and_refuses_its_input_as_output(short_run, image, tmp_path):
  from PIL import Image
  original = tmp_path / "digit.png"
  Image.fromarray(image[..., 0]).save(original)
  encoded, decoded = tmp_path / "digit.cgan", tmp_path / "decoded.png"
  result = run_module("zoo.compress", "encode", str(original), str(encoded), f"--logdir={short_run.logdir}",
                      check=True)
  model_id = codec_lib.unpack(encoded.read_bytes())[0].model_id.hex()
  pinned = os.path.join(short_run.logdir, "codecs", model_id)
  assert f"decoder pinned in {pinned}" in result.stdout
  # Decoding needs only the pinned folder, not the run.
  run_module("zoo.compress", "decode", str(encoded), str(decoded), f"--codec={pinned}", check=True)
  np.testing.assert_array_equal(np.asarray(Image.open(decoded))[..., None],
                                codec_lib.Codec.load(pinned).decode(encoded.read_bytes()))
  kept = original.read_bytes()
  refused = run_module("zoo.compress", "encode", str(original), str(original), f"--logdir={short_run.logdir}")
  assert refused.returncode == 1 and "is the input" in refused.stderr and "Traceback" not in refused.stderr
  assert original.read_bytes() == kept
