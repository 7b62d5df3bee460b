"""Real RGB photos end to end: the photo-patch folder (patches of the scikit-image wheel's photos, built by
`zoo.photo_patches`, tests/helpers.photo_patch_dir) through compression_gan's codec and `zoo.compress
batch`, image_gan's colorize and `zoo.restore`'s batch mode, and the colorize baselines."""
import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from experiments import baselines
from tests.helpers import assert_same_training_state, checkpoint_values, photo_patch_dir, run_module
from zoo import compress
from zoo import config as config_lib
from zoo import data
from zoo import pixels
from zoo.metrics import fidelity
from zoo.models.compression_gan import codec as codec_lib
from zoo.models.compression_gan import model as compression_gan
from zoo.models.image_gan import model as image_gan

SIZE = 16  # the folder's 32x32 patches at the model's size, resized as training reads them
SHAPE = (SIZE, SIZE, 3)


def folder_config(model, logdir, **values):
  return config_lib.resolve(model, str(logdir), {"dataset": "folder_rgb", "data_dir": photo_patch_dir(),
                                                 "image_size": SIZE, "precision": "float32", **values})


def save_untrained_run(config, build_generator):
  """A run folder holding an untrained generator checkpoint, as zoo.train writes it; returns G."""
  config_lib.save(config)
  tf.keras.utils.set_random_seed(0)
  generator = build_generator(config, data.image_shape(config.dataset, config.image_size, config.data_dir))
  tf.train.Checkpoint(generator=generator).save(os.path.join(config.logdir, "checkpoints", "ckpt"))
  return generator


def folder_images(split):
  return np.stack(list(data.load_images("folder_rgb", split, photo_patch_dir(), SIZE).as_numpy_iterator()))


@pytest.fixture(scope="module")
def codec_run(tmp_path_factory):
  """(logdir, generator) of a compression_gan codec run on the RGB photo patches."""
  config = folder_config("compression_gan", tmp_path_factory.mktemp("codec_run"))
  return config.logdir, save_untrained_run(config, compression_gan.build_generator)


@pytest.fixture(scope="module")
def colorize_run(tmp_path_factory):
  """(logdir, generator) of an image_gan colorize run on the RGB photo patches."""
  config = folder_config("image_gan", tmp_path_factory.mktemp("colorize_run"), options={"task": "colorize"})
  return config.logdir, save_untrained_run(config, image_gan.build_generator)


# ---- compression_gan codes RGB images ---------------------------------------------------------------

def test_rgb_round_trip_is_bit_exact_on_real_patches(codec_run):
  logdir, generator = codec_run
  codec, again = compress.codec_from_run(logdir), compress.codec_from_run(logdir)
  images = folder_images("test")
  assert images.shape == (16,) + SHAPE and len({image.tobytes() for image in images}) == 16
  for image in images:
    encoded = codec.encode(image)
    assert again.encode(image) == encoded  # bytes depend on the run and the image only
    header, payload = codec_lib.unpack(encoded)
    assert header.shape == SHAPE and len(encoded) == 12 + len(payload)
    decoded = again.decode(encoded)  # another codec of the same run reads the file
    assert decoded.dtype == np.uint8 and decoded.shape == SHAPE
    np.testing.assert_array_equal(decoded, codec.reconstruct(codec.codes(image)))
  # The float64 NumPy codec agrees with the Keras generator to one level in each channel.
  outputs = generator({"images": pixels.to_model_range(images, "unit"), "noise": tf.zeros([16, 32])})
  keras_decoded = pixels.to_uint8(outputs["images"], "unit").numpy()
  numpy_decoded = np.stack([codec.decode(codec.encode(image)) for image in images])
  assert np.abs(keras_decoded.astype(int) - numpy_decoded.astype(int)).max() <= 1


def test_a_grayscale_image_is_refused_by_an_rgb_codec(codec_run):
  codec = compress.codec_from_run(codec_run[0])
  with pytest.raises(codec_lib.CodecError, match="16x16 pixels with 3 channel"):
    codec.encode(np.zeros((SIZE, SIZE, 1), np.uint8))


def test_compress_split_codes_the_runs_folder_at_its_size(codec_run, tmp_path):
  codec = compress.codec_from_run(codec_run[0])
  stats, originals, decoded = compress.compress_split(codec, "test[:8]", str(tmp_path / "out"))
  np.testing.assert_array_equal(originals, folder_images("test[:8]"))
  sizes = [os.path.getsize(tmp_path / "out" / f"{i:05d}.cgan") for i in range(8)]
  assert stats["images"] == 8 and stats["image_shape"] == list(SHAPE)
  assert stats["bpp"] == pytest.approx(np.mean(sizes) * 8 / SIZE**2, rel=1e-12)  # per pixel, not channel
  assert stats["psnr"] == pytest.approx(float(np.mean(fidelity.psnr(originals, decoded))))
  assert decoded.shape == (8,) + SHAPE
  json.dumps(stats)


@pytest.mark.slow
def test_train_then_compress_batch_on_the_photo_folder(tmp_path):
  logdir, out = str(tmp_path / "run"), str(tmp_path / "batch")
  run_module("zoo.train", "--model=compression_gan", "--dataset=folder_rgb",
             f"--data_dir={photo_patch_dir()}", f"--image_size={SIZE}", f"--logdir={logdir}",
             "--batch_size=16", "--steps=20", "--log_every=10", "--steps_per_call=10", check=True)
  result = run_module("zoo.compress", "batch", out, f"--logdir={logdir}", "--split=test[:5]", check=True)
  with open(os.path.join(out, "stats.json")) as f:
    stats = json.load(f)
  assert json.loads(result.stdout) == stats and stats["images"] == 5 and stats["image_shape"] == list(SHAPE)
  decoded = np.load(os.path.join(out, "decoded.npz"))["images"]
  codec = compress.codec_from_run(logdir)
  for i, image in enumerate(folder_images("test[:5]")):
    with open(os.path.join(out, f"{i:05d}.cgan"), "rb") as f:
      assert f.read() == codec.encode(image)
    np.testing.assert_array_equal(decoded[i], codec.decode(codec.encode(image)))
  missing = run_module("zoo.compress", "batch", out, f"--logdir={logdir}", "--split=validation")
  assert missing.returncode != 0 and missing.stderr.strip().splitlines()[-1].startswith("error: ")
  assert "validation" in missing.stderr and "Traceback" not in missing.stderr


# ---- image_gan colorize and zoo.restore's batch mode ----------------------------------------------

def test_restore_split_colourises_the_runs_test_patches(colorize_run, tmp_path):
  from zoo import images, restore
  logdir, generator = colorize_run
  stats, originals, degraded, restored = restore.restore_split(logdir, "test[:6]", str(tmp_path))
  np.testing.assert_array_equal(originals, folder_images("test[:6]"))
  assert (degraded == degraded[..., :1]).all() and not (originals == originals[..., :1]).all()  # luma
  _, config = restore.load_restorer(logdir)
  np.testing.assert_array_equal(restored, restore.restore_images(generator, config, degraded))
  for name, batch in (("degraded", degraded), ("restored", restored)):
    files = sorted(os.listdir(tmp_path / name))
    assert files == [f"{i:05d}.png" for i in range(6)]
    np.testing.assert_array_equal(images.read_png(str(tmp_path / name / files[2])), batch[2])
  np.testing.assert_array_equal(np.load(tmp_path / "restored.npz")["images"], restored)
  with open(tmp_path / "stats.json") as f:
    assert json.load(f) == stats
  assert stats["images"] == 6 and stats["task"] == "colorize" and stats["image_shape"] == list(SHAPE)
  assert stats["psnr"] == pytest.approx(float(np.mean(fidelity.psnr(originals, restored))))
  assert stats["degraded_ssim"] == pytest.approx(float(np.mean(fidelity.ssim(originals, degraded))))


@pytest.mark.slow
def test_restore_batch_cli_and_its_one_line_errors(colorize_run, tmp_path):
  logdir = colorize_run[0]
  result = run_module("zoo.restore", f"--logdir={logdir}", "--split=test[:3]",
                      f"--out_dir={tmp_path / 'out'}", check=True)
  with open(tmp_path / "out" / "stats.json") as f:
    assert json.loads(result.stdout) == json.load(f)
  assert len(os.listdir(tmp_path / "out" / "restored")) == 3
  for args, message in ((["--split=test"], "both --split and --out_dir"),
                        (["--split=test", f"--out_dir={tmp_path}", "in.png", "out.png"], "no file names"),
                        (["--split=nosuch", f"--out_dir={tmp_path / 'x'}"], "nosuch")):
    result = run_module("zoo.restore", f"--logdir={logdir}", *args)
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ") and "Traceback" not in result.stderr


# ---- the colorize baselines -------------------------------------------------------------------------

def test_luma_with_its_own_chroma_is_the_image_and_with_none_is_grey():
  images = folder_images("test[:4]")
  luma = np.round(images.astype(np.float64) @ np.array([0.299, 0.587, 0.114]))[..., None]
  gray = np.repeat(luma, 3, axis=-1).astype(np.uint8)
  np.testing.assert_array_equal(baselines.luma_with_chroma(gray, np.zeros(2)), gray)
  exact = np.repeat(images.astype(np.float64) @ np.array([0.299, 0.587, 0.114]), 3).reshape(images.shape)
  assert np.abs(baselines.luma_with_chroma(exact, baselines.chroma(images)).astype(int)
                - images.astype(int)).max() <= 1


def test_mean_chroma_and_the_vae_read_the_folder_at_its_size():
  mean = baselines.mean_train_chroma("folder_rgb", photo_patch_dir(), SIZE)
  assert mean.shape == (2,) and np.all(np.abs(mean) < 128)
  config = baselines.VAEConfig(dataset="folder_rgb", task="colorize", data_dir=photo_patch_dir(),
                               image_size=SIZE)
  model = baselines.build_vae(config)
  restored = baselines.vae_restore(model, folder_images("test[:3]"))
  assert restored.shape == (3,) + SHAPE and restored.dtype == np.uint8
  degraded, clean = next(iter(baselines.vae_batches(dataclasses.replace(config, batch_size=4))))
  assert degraded.shape == clean.shape == (4,) + SHAPE
  np.testing.assert_allclose(degraded[..., 0], degraded[..., 2])  # the VAE learns from luma inputs


# ---- dcgan trains at 64x64x3 on the photo patches and resumes exactly ----------------------------------

@pytest.mark.slow
def test_dcgan_trains_64x64_rgb_on_the_photo_folder_and_resumes_bit_exactly(tmp_path):
  from zoo import training

  def run(name, steps):
    # the command of docs/dcgan.md's photo run, at a few steps of a small batch
    config = config_lib.resolve("dcgan", str(tmp_path / name), {
        "dataset": "folder", "data_dir": photo_patch_dir(), "image_size": 64, "image_resize": "area",
        "augment": "translation,cutout,color", "batch_size": 8, "steps": steps, "checkpoint_every": 2,
        "steps_per_call": 1, "log_every": 1, "image_every": 4, "num_grid_images": 4,
        "precision": "float32", "options": {"discriminator_convolutions": 4}})
    training.fit(config, log=lambda *_: None)
    return config

  whole = run("whole", 4)
  run("split", 2)
  run("split", 4)  # a new trainer: restores step 2 and continues
  resumed, expected = checkpoint_values(str(tmp_path / "split")), checkpoint_values(whole.logdir)
  assert resumed.keys() == expected.keys() and len(expected) > 20
  assert_same_training_state(resumed, expected)
  image = tf.io.decode_png(tf.io.read_file(str(tmp_path / "whole" / "samples" / "step_00000004.png")))
  assert image.shape[-1] == 3 and image.shape[0] > 2 * 64  # a 2x2 grid of 64x64 RGB samples
