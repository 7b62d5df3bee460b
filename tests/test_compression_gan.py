"""compression_gan: networks, quantiser and entropy model, the file format, the codec and its CLI."""
import io
import json
import os
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import run_module
from zoo.models.compression_gan import codec as codec_lib
from zoo import compress
from zoo import config as config_lib
from zoo import data
from zoo.models.compression_gan import model as cg
from zoo.models.compression_gan import networks
from zoo import pixels

SHAPE = (28, 28, 1)


def make_config(logdir, data_dir=None, **options):
  return config_lib.resolve("compression_gan", str(logdir), {"options": options, "data_dir": data_dir})


def make_generator(seed=0, **options):
  config = make_config("unused", **options)
  tf.keras.utils.set_random_seed(seed)
  return cg.build_generator(config, SHAPE), config


@pytest.fixture(scope="module")
def mnist_images():
  from tests.conftest import DATA_DIR
  return np.stack(list(data.load_images("mnist", "train[:64]", DATA_DIR).as_numpy_iterator()))


@pytest.fixture(scope="module")
def codec():
  generator, config = make_generator()
  return codec_lib.Codec(generator, config)


# ---- model ----------------------------------------------------------------------------------------

def test_generator_and_discriminator_shapes(mnist_images):
  generator, config = make_generator()
  batch = cg.prepare_batch(config, pixels.to_model_range(mnist_images[:5], "unit"), tf.constant([0, 1]))
  outputs = generator(cg.generator_input(batch, None), training=True)
  assert outputs["images"].shape == (5,) + SHAPE and outputs["bits"].shape == (5,)
  assert 0.0 <= float(tf.reduce_min(outputs["images"])) and float(tf.reduce_max(outputs["images"])) <= 1.0
  assert cg.build_discriminator(config, SHAPE)(outputs["images"]).shape == (5, 1)


def test_straight_through_round_rounds_forward_and_passes_gradients_back():
  y = tf.constant([-1.6, -0.4, 0.49, 2.5001])
  with tf.GradientTape() as tape:
    tape.watch(y)
    rounded = networks.straight_through_round(y)
  np.testing.assert_array_equal(rounded.numpy(), [-2.0, -0.0, 0.0, 3.0])
  np.testing.assert_array_equal(tape.gradient(rounded, y).numpy(), np.ones(4))


def test_gradients_reach_encoder_decoder_and_entropy_model(mnist_images):
  generator, config = make_generator()
  batch = cg.prepare_batch(config, pixels.to_model_range(mnist_images[:8], "unit"), tf.constant([3, 4]))
  with tf.GradientTape(persistent=True) as tape:
    outputs = generator(cg.generator_input(batch, None), training=True)
    terms = cg.extra_generator_losses(config, batch, outputs)
    rate, distortion = tf.reduce_mean(terms["rate"]), tf.reduce_mean(terms["distortion"])
  groups = {"encoder": generator.encoder.trainable_variables, "prior": generator.prior.trainable_variables,
            "decoder": generator.decoder.trainable_variables}
  for loss, names in ((rate, ("encoder", "prior")), (distortion, ("encoder", "decoder"))):
    for name in names:
      grads = tape.gradient(loss, groups[name])
      assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads), name
      assert all(np.abs(g.numpy()).max() > 0 for g in grads), f"zero gradient into the {name}"


def test_noise_changes_the_rate_estimate_not_the_reconstruction(mnist_images):
  generator, config = make_generator()
  real = pixels.to_model_range(mnist_images[:4], "unit")
  a = generator({"images": real, "noise": tf.zeros([4, 32])}, training=True)
  b = generator({"images": real, "noise": tf.fill([4, 32], 0.3)}, training=True)
  np.testing.assert_array_equal(a["images"].numpy(), b["images"].numpy())
  assert not np.allclose(a["bits"].numpy(), b["bits"].numpy())


def test_prior_bins_sum_to_one_and_stay_accurate_in_the_tails():
  generator, _ = make_generator()
  values = tf.range(-3000.0, 3001.0, dtype=tf.float64)[:, None]
  probabilities = generator.prior.bin_probability(values * tf.ones([1, 32], tf.float64)).numpy()
  np.testing.assert_allclose(probabilities.sum(axis=0), 1.0, rtol=1e-9)
  far = generator.prior.bin_probability(tf.constant([[40.0] * 32])).numpy()
  assert (far > 0).all(), "tail bins underflowed: 1 - CDF computed by cancellation"


def test_bad_options_fail_with_the_option_name(tmp_path):
  for options, name in (({"mode": "jpeg"}, "mode"), ({"rate_weight": -1.0}, "rate_weight"),
                        ({"adversarial_weight": -1.0}, "adversarial_weight"),
                        ({"jpeg_qualities": "5,x"}, "jpeg_qualities"), ({"code_size": 0}, "code_size")):
    with pytest.raises(ValueError, match=name):
      cg.check_options(make_config(tmp_path, **options), SHAPE)


def test_jpeg_restore_generator_corrects_its_input(mnist_images):
  generator, config = make_generator(mode="jpeg_restore", code_size=100)
  batch = cg.prepare_batch(config, pixels.to_model_range(mnist_images[:3], "unit"), tf.constant([5, 6]))
  outputs = generator(cg.generator_input(batch, None), training=True)
  assert outputs["images"].shape == (3,) + SHAPE
  assert not np.allclose(outputs["images"].numpy(), batch["degraded"].numpy())  # G adds a correction
  assert len(cg.grid_rows(batch, outputs["images"])) == 3
  with pytest.raises(codec_lib.CodecError, match="mode=codec"):
    codec_lib.Codec(generator, config)


def test_jpeg_restore_batch_is_a_real_jpeg_decode(mnist_images):
  from PIL import Image
  config = make_config("unused", mode="jpeg_restore", jpeg_qualities="5")
  real = pixels.to_model_range(mnist_images[:4], "unit")
  degraded = cg.prepare_batch(config, real, tf.constant([0, 1]))["degraded"].numpy()
  buffer = io.BytesIO()
  Image.fromarray(mnist_images[0, ..., 0]).save(buffer, "JPEG", quality=5)
  pillow = np.asarray(Image.open(buffer), np.float32) / 255.0
  assert np.abs(degraded[0, ..., 0] - real[0, ..., 0].numpy()).mean() > 0.01  # really degraded
  # TF and Pillow both wrap libjpeg with the IJG quality scaling: decodes agree to a few levels.
  assert np.abs(degraded[0, ..., 0] - pillow).max() <= 4 / 255


# ---- entropy tables and file format ---------------------------------------------------------------

def test_integer_tables_are_valid_deterministic_and_match_the_prior(codec):
  tables = codec.tables
  assert (tables.counts.sum(axis=1) == 2**codec_lib.TABLE_TOTAL_BITS).all()
  for row, width in zip(tables.counts, tables.widths):
    assert (row[:width] >= 1).all() and (row[width:] == 0).all()
  generator, _ = make_generator()
  again = codec_lib.Codec(generator, codec.config).tables
  np.testing.assert_array_equal(again.counts, tables.counts)
  # The table's code length of a code is the prior's, to within the quantisation of the counts.
  codes = np.zeros([1, 32])
  table_bits = -np.log2(tables.counts[np.arange(32), -tables.offsets] / 2**16).sum()
  assert abs(table_bits - float(generator.prior.bits(codes)[0])) < 0.05 * table_bits + 1


def test_round_trip_is_bit_exact_and_deterministic(codec, mnist_images):
  for image in mnist_images:
    encoded = codec.encode(image)
    assert encoded == codec.encode(image.copy())
    decoded = codec.decode(encoded)
    assert decoded.dtype == np.uint8 and decoded.shape == SHAPE
    np.testing.assert_array_equal(decoded, codec.reconstruct(codec.codes(image)))
    np.testing.assert_array_equal(decoded, codec.decode(encoded))


def test_codes_round_trip_exactly_through_ans(codec):
  rng = np.random.default_rng(0)
  tables = codec.tables
  for _ in range(200):
    codes = tables.offsets + rng.integers(0, tables.widths)
    payload, clipped = codec_lib.encode_codes(codes, tables)
    assert clipped == 0
    np.testing.assert_array_equal(codec_lib.decode_codes(payload, tables), codes)
  payload, clipped = codec_lib.encode_codes(tables.offsets - 5, tables)
  assert clipped == 32
  np.testing.assert_array_equal(codec_lib.decode_codes(payload, tables), tables.offsets)


def test_numpy_codec_matches_the_keras_generator(codec, mnist_images):
  generator, _ = make_generator()
  keras_images = generator({"images": pixels.to_model_range(mnist_images, "unit")}, training=False)["images"]
  keras_uint8 = pixels.to_uint8(keras_images, "unit").numpy()
  numpy_uint8 = np.stack([codec.decode(codec.encode(image)) for image in mnist_images])
  assert np.abs(keras_uint8.astype(int) - numpy_uint8).max() <= 1


def test_header_layout_and_size(codec, mnist_images):
  encoded = codec.encode(mnist_images[0])
  header, payload = codec_lib.unpack(encoded)
  assert encoded[:3] == b"GZ\x01" and header.model_id == codec.model_id and header.shape == SHAPE
  assert len(encoded) == 12 + len(payload)


@pytest.mark.parametrize("mutate, message", [
    (lambda f: b"PK" + f[2:], "Not a compression_gan file"),
    (lambda f: f[:2] + b"\x07" + f[3:], "Unsupported format version 7"),
    (lambda f: f[:5], "Truncated"),
    (lambda f: f[:9], "Truncated"),
    (lambda f: f[:-1], "Corrupt file"),
    (lambda f: f + b"\x01", "Corrupt file"),
    (lambda f: f[:7] + b"\xff\xff\xff" + f[10:], "Corrupt header"),
    (lambda f: f + b"\x00" * 5000, "checksum"),
])
def test_bad_headers_and_payloads_are_refused(codec, mnist_images, mutate, message):
  with pytest.raises(codec_lib.CodecError, match=message):
    codec.decode(mutate(codec.encode(mnist_images[0])))


def test_a_payload_longer_than_the_model_can_write_is_refused_before_decoding(codec):
  oversized = codec_lib.pack(codec_lib.Header(codec.model_id, SHAPE), b"\x01" * (codec.max_payload + 1))
  with pytest.raises(codec_lib.CodecError, match="exceeds"):
    codec.decode(oversized)


def test_a_file_from_another_model_is_refused(codec, mnist_images):
  other = codec_lib.Codec(*make_generator(seed=1))
  with pytest.raises(codec_lib.CodecError, match=f"encoded by model {other.model_id.hex()}"):
    codec.decode(other.encode(mnist_images[0]))


def test_a_wrong_image_is_refused(codec):
  for image in (np.zeros([28, 28, 3], np.uint8), np.zeros([32, 32, 1], np.uint8), np.zeros(SHAPE)):
    with pytest.raises(codec_lib.CodecError, match="28x28 pixels with 1 channel"):
      codec.encode(image)


def test_fuzzed_files_give_only_clean_errors(codec, mnist_images):
  rng = np.random.default_rng(1234)
  valid = [codec.encode(image) for image in mnist_images[:16]]
  candidates = [rng.bytes(int(rng.integers(0, 64))) for _ in range(1500)]
  candidates += [b"GZ\x01" + codec.model_id + rng.bytes(int(rng.integers(0, 40))) for _ in range(1500)]
  for _ in range(3000):
    mutated = bytearray(valid[int(rng.integers(len(valid)))])
    kind = rng.integers(4)
    if kind == 0:
      position = int(rng.integers(len(mutated)))
      mutated[position] ^= 1 << int(rng.integers(8))
    elif kind == 1:
      del mutated[int(rng.integers(len(mutated))):]
    elif kind == 2:
      mutated.insert(int(rng.integers(len(mutated) + 1)), int(rng.integers(256)))
    else:
      mutated[int(rng.integers(len(mutated)))] = int(rng.integers(256))
    candidates.append(bytes(mutated))
  started, outcomes = time.time(), {"error": 0, "image": 0}
  for candidate in candidates:
    try:
      image = codec.decode(candidate)
    except codec_lib.CodecError:
      outcomes["error"] += 1
    else:
      assert image.dtype == np.uint8 and image.shape == SHAPE
      outcomes["image"] += 1
  assert time.time() - started < 60
  # Only a CRC-16 collision (about 1 in 65,536) can let an altered file through.
  assert outcomes["image"] <= 3, outcomes


# ---- command line ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  """A compression_gan run folder holding an (untrained) checkpoint, as zoo.train writes it."""
  from tests.conftest import DATA_DIR
  logdir = tmp_path_factory.mktemp("run")
  config = make_config(logdir, DATA_DIR)
  config_lib.save(config)
  generator = cg.build_generator(config, SHAPE)
  tf.train.CheckpointManager(tf.train.Checkpoint(generator=generator), os.path.join(logdir, "checkpoints"),
                             max_to_keep=1).save(checkpoint_number=1)
  return str(logdir)


@pytest.mark.slow
def test_cli_encode_decode_and_clean_errors(run_dir, mnist_images, tmp_path):
  from PIL import Image
  original = tmp_path / "digit.png"
  Image.fromarray(mnist_images[3, ..., 0]).save(original)
  encoded, decoded = tmp_path / "digit.cgan", tmp_path / "decoded.png"
  result = run_module("zoo.compress", "encode", str(original), str(encoded), f"--logdir={run_dir}",
                      check=True)
  assert f"{os.path.getsize(encoded)} bytes" in result.stdout
  run_module("zoo.compress", "decode", str(encoded), str(decoded), f"--logdir={run_dir}", check=True)
  codec = compress.codec_from_run(run_dir)
  assert encoded.read_bytes() == codec.encode(mnist_images[3])
  np.testing.assert_array_equal(np.asarray(Image.open(decoded))[..., None],
                                codec.decode(encoded.read_bytes()))

  Image.fromarray(mnist_images[3, ..., 0]).convert("RGB").resize((40, 40)).save(tmp_path / "rgb.png")
  for args, message in (
      (("encode", str(tmp_path / "rgb.png"), str(tmp_path / "x")), "pass --convert"),
      (("decode", str(original), str(tmp_path / "x.png")), "Not a compression_gan file"),
      (("decode", str(tmp_path / "missing"), str(tmp_path / "x.png")), "Cannot read"),
      (("squash", "a", "b"), "usage"),
  ):
    result = run_module("zoo.compress", *args, f"--logdir={run_dir}")
    assert result.returncode != 0 and "error: " in result.stderr and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
  converted = run_module("zoo.compress", "encode", str(tmp_path / "rgb.png"), str(tmp_path / "x"),
                         f"--logdir={run_dir}", "--convert", check=True)
  assert "Converting" in converted.stdout


def test_batch_bpp_is_the_file_sizes(run_dir, tmp_path):
  codec = compress.codec_from_run(run_dir)
  stats, originals, decoded = compress.compress_split(codec, "test[:50]", str(tmp_path / "out"))
  sizes = [os.path.getsize(tmp_path / "out" / f"{i:05d}.cgan") for i in range(50)]
  assert stats["images"] == 50 and stats["bpp"] == pytest.approx(np.mean(sizes) * 8 / 784, rel=1e-12)
  assert originals.shape == decoded.shape == (50,) + SHAPE
  json.dumps(stats)


@pytest.mark.slow
def test_trains_through_the_shared_trainer_and_compresses(tmp_path):
  from tests.conftest import DATA_DIR
  logdir = str(tmp_path / "run")
  result = run_module("zoo.train", "--model=compression_gan", f"--data_dir={DATA_DIR}", f"--logdir={logdir}",
                      "--train_split=train[:512]", "--batch_size=32", "--steps=40", "--log_every=20",
                      "--steps_per_call=20", "--rate_weight=0.02", check=True)
  assert "distortion" in result.stdout and "rate" in result.stdout
  codec = compress.codec_from_run(logdir)
  image = np.stack(list(data.load_images("mnist", "test[:1]", DATA_DIR).as_numpy_iterator()))[0]
  assert codec.decode(codec.encode(image)).shape == SHAPE
