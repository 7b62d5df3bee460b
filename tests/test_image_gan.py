"""`image_gan` (article 004): degradations, networks, baselines, 1 vs 2 replicas, restore CLI."""
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import assert_one_and_two_replicas_agree
from experiments import baselines
from zoo import config as config_lib
from zoo import data
from zoo.models.image_gan import degradations
from zoo import training
from zoo.models.image_gan import model as image_gan

SEED = tf.constant([7, 3], tf.int64)
OTHER_SEED = tf.constant([7, 4], tf.int64)


def random_images(shape=(8, 28, 28, 1), seed=0):
  """Uniform [0, 1] pixels that never equal the inpainting grey exactly."""
  images = np.random.default_rng(seed).uniform(0, 1, shape).astype(np.float32)
  images[np.isclose(images, degradations.MASK_VALUE)] = 0.0
  return tf.constant(images)


def resolved(tmp_path, **overrides):
  """image_gan at these settings; float32 unless asked, so the numbers compared are the same on any host."""
  return config_lib.resolve("image_gan", str(tmp_path), {"precision": "float32", **overrides})


def mnist_config(tmp_path, data_dir, **overrides):
  values = dict(data_dir=data_dir, train_split="train[:512]", batch_size=16, steps=2, steps_per_call=1,
                log_every=1, image_every=1, checkpoint_every=1, num_grid_images=4)
  values.update(overrides)
  return resolved(tmp_path, **values)


# ---- degradations ---------------------------------------------------------------------------------

@pytest.mark.parametrize("task", ["denoise", "inpaint"])
def test_random_degradations_are_deterministic_under_their_seed(task):
  images = random_images()
  first = degradations.degrade(images, SEED, task).numpy()
  np.testing.assert_array_equal(first, degradations.degrade(images, SEED, task).numpy())
  assert not np.array_equal(first, degradations.degrade(images, OTHER_SEED, task).numpy())
  assert first.shape == images.shape and first.min() >= 0.0 and first.max() <= 1.0


def test_denoise_adds_gaussian_noise_of_the_set_sigma():
  grey = tf.fill([16, 28, 28, 1], 0.5)  # far from 0 and 1, so clipping does not bias the estimate
  noise = degradations.degrade(grey, SEED, "denoise", noise_sigma=0.1).numpy() - 0.5
  assert noise.std() == pytest.approx(0.1, rel=0.03)
  assert abs(noise.mean()) < 0.005
  assert abs(noise[:8].std() - noise[8:].std()) < 0.01  # every image noised, not one batch-wide draw


def test_inpaint_paints_one_square_of_the_set_size_per_image_at_varying_places():
  images = random_images((32, 28, 28, 1))
  masked = degradations.degrade(images, SEED, "inpaint", mask_size=10).numpy()
  changed = masked != images.numpy()
  corners = set()
  for image_changed, image in zip(changed[..., 0], masked[..., 0]):
    rows, columns = np.nonzero(image_changed)
    assert image_changed.sum() == 100  # exactly one 10x10 square
    assert rows.max() - rows.min() == 9 and columns.max() - columns.min() == 9
    np.testing.assert_allclose(image[image_changed], degradations.MASK_VALUE)
    corners.add((rows.min(), columns.min()))
  assert len(corners) > 20  # placed at random, not always in one spot


def test_superres_downsamples_by_the_factor_and_keeps_only_block_means():
  images = random_images((4, 28, 28, 1))
  small = degradations.downsample(images, 4).numpy()
  assert small.shape == (4, 7, 7, 1)
  block_means = images.numpy().reshape(4, 7, 4, 7, 4, 1).mean(axis=(2, 4))
  np.testing.assert_allclose(small, block_means, atol=1e-6)
  # Two images with the same 4x4 block means are the same after degradation: only 7x7 survives.
  blocks = images.numpy().reshape(4, 7, 4, 7, 4, 1)
  shuffled_within_blocks = np.flip(blocks, axis=(2, 4)).reshape(4, 28, 28, 1)
  low, low_shuffled = (degradations.degrade(tf.constant(x), SEED, "superres").numpy()
                       for x in (images.numpy(), shuffled_within_blocks))
  assert low.shape == (4, 28, 28, 1)
  np.testing.assert_allclose(low, low_shuffled, atol=1e-5)
  assert not np.allclose(images.numpy(), shuffled_within_blocks)


def test_colorize_gives_luma_in_three_channels_and_refuses_grayscale():
  rgb = random_images((2, 8, 8, 3))
  gray = degradations.degrade(rgb, SEED, "colorize").numpy()
  expected = rgb.numpy() @ np.array(degradations.LUMA_WEIGHTS, np.float32)
  for channel in range(3):
    np.testing.assert_allclose(gray[..., channel], expected, atol=1e-6)
  with pytest.raises(ValueError, match="RGB"):
    degradations.degrade(random_images((2, 8, 8, 1)), SEED, "colorize")


def test_unknown_task_and_bad_settings_say_what_is_valid():
  with pytest.raises(ValueError, match="denoise, inpaint, superres, colorize"):
    degradations.degrade(random_images(), SEED, "deblur")
  with pytest.raises(ValueError, match="mask_size"):
    degradations.degrade(random_images(), SEED, "inpaint", mask_size=40)
  with pytest.raises(ValueError, match="scale"):
    degradations.degrade(random_images(), SEED, "superres", scale=3)


def test_degradations_run_inside_tf_data():
  dataset = tf.data.Dataset.from_tensors(random_images()).map(
      lambda x: degradations.degrade(x, SEED, "inpaint"))
  np.testing.assert_array_equal(next(iter(dataset)).numpy(),
                                degradations.degrade(random_images(), SEED, "inpaint").numpy())


# ---- networks and hooks ---------------------------------------------------------------------------

@pytest.mark.parametrize("discriminator,shape", [("image", (28, 28, 1)), ("patch", (28, 28, 1)),
                                                 ("image", (32, 32, 3))])
def test_generator_keeps_the_image_shape_and_discriminator_scores_pairs(tmp_path, discriminator, shape):
  config = resolved(tmp_path, options={"discriminator": discriminator})
  generator = image_gan.build_generator(config, shape)
  restored = generator(tf.random.uniform((3,) + shape, -1, 1, seed=1), training=False)
  assert restored.shape == (3,) + shape and restored.dtype == tf.float32
  assert -1.0 <= restored.numpy().min() and restored.numpy().max() <= 1.0  # clipped when restoring
  batch = {"degraded": tf.zeros((3,) + shape), "real": tf.zeros((3,) + shape)}
  pair = image_gan.input_and_output_pair(batch, restored)
  logits = image_gan.build_discriminator(config, shape)(pair, training=False)
  expected = (3, 1) if discriminator == "image" else (3, shape[0] // 4, shape[1] // 4, 1)
  assert logits.shape == expected and logits.dtype == tf.float32


def test_generator_has_skip_connections_at_every_scale(tmp_path):
  generator = image_gan.build_generator(resolved(tmp_path), (28, 28, 1))
  concatenated = [layer.output.shape[1:3] for layer in generator.layers
                  if layer.__class__.__name__ == "Concatenate"]
  assert sorted(concatenated) == [(14, 14), (28, 28)]


def test_l1_gradient_survives_an_all_black_output(tmp_path):
  # The trap a tanh output fell into on MNIST: every pixel pushed far below -1 (black). A linear
  # output keeps the L1 gradient at full strength there, so the digit pixels can still recover.
  config = resolved(tmp_path)
  generator = image_gan.build_generator(config, (28, 28, 1))
  last = generator.layers[-3]  # the final convolution, before the linear activation and the clip
  last.bias.assign(tf.fill(last.bias.shape, -5.0))
  real = tf.where(random_images((4, 28, 28, 1), seed=3) > 0.8, 1.0, -1.0)  # a sparse white "digit"
  with tf.GradientTape() as tape:
    l1 = tf.reduce_mean(image_gan.weighted_l1(config, {"real": real}, generator(real, training=True))["l1"])
  bias_gradient = tape.gradient(l1, last.bias).numpy()
  assert generator(real, training=True).numpy().max() < -1.0  # unclipped while training
  # Every pixel (black or white) lies above an output near -5, so d(l1)/d(bias) = -l1_weight exactly;
  # behind tanh it would be scaled by tanh'(-5) < 2e-4.
  assert bias_gradient[0] == pytest.approx(-config.options["l1_weight"], rel=1e-3)


@pytest.mark.parametrize("options,shape,message", [
    ({"task": "colorize"}, (28, 28, 1), "RGB dataset"),
    ({}, (30, 30, 1), "multiples of 4"),
    ({"discriminator": "pixel"}, (28, 28, 1), "image, patch"),
    ({"l1_weight": "-1"}, (28, 28, 1), "l1_weight"),
])
def test_bad_options_fail_before_building_with_the_fix(tmp_path, options, shape, message):
  with pytest.raises(ValueError, match=message):
    image_gan.check_options(resolved(tmp_path, options=options), shape)


def test_prepare_batch_adds_a_quantised_seeded_degraded_copy(tmp_path):
  config = resolved(tmp_path, options={"task": "denoise"})
  real = random_images() * 2.0 - 1.0
  batch = image_gan.degrade_batch(config, real, SEED)
  np.testing.assert_array_equal(batch["real"].numpy(), real.numpy())
  degraded_uint8 = (batch["degraded"].numpy() + 1.0) / 2.0 * 255.0
  np.testing.assert_allclose(degraded_uint8, np.round(degraded_uint8), atol=1e-3)
  np.testing.assert_array_equal(batch["degraded"].numpy(),
                                image_gan.degrade_batch(config, real, SEED)["degraded"].numpy())
  assert image_gan.degraded_input(batch, None) is batch["degraded"]


def test_l1_term_is_weighted_per_example_mean_absolute_error(tmp_path):
  config = resolved(tmp_path, options={"l1_weight": "10"})
  real = tf.zeros([2, 4, 4, 1])
  restored = tf.constant([0.5, -1.0])[:, None, None, None] * tf.ones([2, 4, 4, 1])
  np.testing.assert_allclose(image_gan.weighted_l1(config, {"real": real}, restored)["l1"], [5.0, 10.0])


# ---- training on the shared trainer ----------------------------------------------------------------

def weights(trainer):
  return [v.numpy() for v in trainer.generator.weights + trainer.discriminator.weights]


@pytest.mark.slow
def test_one_and_two_replicas_give_the_same_update_with_a_patch_discriminator(tmp_path, data_dir):
  # The contract tests cover the per-image D; a per-patch D's logits are averaged per image first.
  assert_one_and_two_replicas_agree(mnist_config(tmp_path, data_dir, precision="float32",
                                                 options={"task": "denoise", "discriminator": "patch"}))


@pytest.mark.slow
def test_l1_term_falls_when_overfitting_one_batch(tmp_path, data_dir):
  config = mnist_config(tmp_path, data_dir, options={"task": "superres"})
  trainer = training.GANTrainer(config)
  batch = next(iter(data.training_batches(config, prepare=lambda real, seed: image_gan.degrade_batch(
      config, real, seed))))
  one_batch = iter(trainer.strategy.experimental_distribute_dataset(
      tf.data.Dataset.from_tensors(batch).repeat()))
  first, _ = trainer.train_steps(one_batch, 1)
  trainer.train_steps(one_batch, 40)
  later, _ = trainer.train_steps(one_batch, 5)
  assert later["l1"] < 0.4 * first["l1"], (first, later)
  assert later["g_loss"] > later["l1"]  # the adversarial term is part of G's loss


@pytest.mark.slow
def test_training_writes_restoration_grids_of_degraded_restored_original(tmp_path, data_dir):
  config = mnist_config(tmp_path, data_dir, options={"task": "inpaint"})
  training.fit(config, log=lambda *_: None)
  from zoo import images
  grid = images.read_png(str(tmp_path / "samples" / "step_00000002.png"))
  assert grid.shape == (2 + 3 * 30, 2 + 4 * 30, 1)  # three rows (degraded, restored, original) of 4
  row = lambda i: grid[2 + 30 * i:30 * (i + 1), 2:30]
  assert (row(0) == 128).sum() >= 14 * 14 and not (row(2) == 128).sum() >= 14 * 14


@pytest.mark.slow
def test_colorize_trains_a_step_on_mocked_rgb_photos(tmp_path):
  import tensorflow_datasets as tfds
  from tests.test_dcgan import _fake_celeb_a
  _fake_celeb_a(str(tmp_path), 32)
  with tfds.testing.mock_data(num_examples=32, data_dir=str(tmp_path)):
    config = resolved(tmp_path / "run", dataset="celeb_a", data_dir=str(tmp_path), batch_size=8,
                      image_size=32, options={"task": "colorize"})
    trainer = training.GANTrainer(config)
    batch = next(iter(trainer.distributed_batches(0, download=False)))
    metrics, bad_step = trainer.train_steps(trainer.distributed_batches(0, download=False), 1)
  gray = batch["degraded"].numpy()
  np.testing.assert_allclose(gray[..., 0], gray[..., 2], atol=1e-6)
  assert not np.allclose(batch["real"].numpy()[..., 0], batch["real"].numpy()[..., 2])
  assert trainer.generator.output_shape == (None, 32, 32, 3)
  assert bad_step == -1 and np.isfinite(metrics["l1"])


@pytest.mark.slow
def test_train_cli_takes_the_task_as_a_flag_and_refuses_colorize_on_mnist(tmp_path):
  from tests.helpers import DATA_DIR, run_module
  result = run_module("zoo.train", "--model=image_gan", "--task=colorize", f"--data_dir={DATA_DIR}",
                      f"--logdir={tmp_path}", "--steps=1")
  assert result.returncode != 0
  assert result.stderr.strip().splitlines()[-1].startswith("error: --task=colorize needs an RGB dataset")


# ---- baselines ------------------------------------------------------------------------------------

def test_median_filter_removes_isolated_specks():
  images = np.zeros((2, 28, 28, 1), np.uint8)
  images[:, 10, 10] = 255
  assert baselines.median_filter(images).max() == 0
  assert baselines.gaussian_filter(images).max() < 255 // 4  # spread over its neighbours


def test_mean_fill_replaces_exactly_the_hole():
  images = np.full((3, 28, 28, 1), 7, np.uint8)
  masked = baselines.quantise(degradations.degrade(tf.constant(images / 255.0, tf.float32), SEED,
                                                 "inpaint").numpy())
  mean_image = np.full((28, 28, 1), 200.0, np.float32)
  filled = baselines.mean_fill(masked, mean_image)
  hole = masked != images
  assert hole.sum() == 3 * 14 * 14
  np.testing.assert_array_equal(filled[hole], 200)
  np.testing.assert_array_equal(filled[~hole], 7)


def test_vae_elbo_and_restoration_shapes(data_dir):
  model = baselines.build_vae(baselines.VAEConfig(dataset="mnist", task="denoise", data_dir=data_dir))
  degraded = random_images((5, 28, 28, 1))
  loss, reconstruction = model.negative_elbo(degraded, degraded, SEED)
  assert loss.shape == (5,) and np.all(loss.numpy() >= reconstruction.numpy())  # KL >= 0
  restored = baselines.vae_restore(model, baselines.quantise(degraded.numpy()))
  assert restored.shape == (5, 28, 28, 1) and restored.dtype == np.uint8


# ---- restore CLI ----------------------------------------------------------------------------------

@pytest.fixture
def untrained_run(tmp_path, data_dir):
  """A run folder holding an (untrained) image_gan generator checkpoint, as zoo.train would write."""
  config = mnist_config(tmp_path / "run", data_dir, options={"task": "inpaint"})
  config_lib.save(config)
  generator = image_gan.build_generator(config, (28, 28, 1))
  tf.train.Checkpoint(generator=generator).save(str(tmp_path / "run" / "checkpoints" / "ckpt"))
  return config.logdir, generator


def write_png(path, image):
  from zoo import images
  images.write_png(str(path), image)
  return str(path)


def test_restore_applies_the_runs_generator_to_a_png(untrained_run, tmp_path):
  from zoo import restore
  logdir, generator = untrained_run
  digit = np.random.default_rng(0).integers(0, 256, (28, 28, 1), np.uint8)
  out = restore.restore_file(logdir, write_png(tmp_path / "in.png", digit), str(tmp_path / "out.png"),
                             degraded_out=str(tmp_path / "masked.png"))
  from zoo import images
  masked = images.read_png(str(tmp_path / "masked.png"))
  assert (masked != digit).sum() >= 14 * 14 - 2  # the run's own square hole (a pixel may already be 128)
  expected = np.round(np.clip(generator(masked[None] / 127.5 - 1.0).numpy() + 1.0, 0, 2) * 127.5)
  np.testing.assert_allclose(out.astype(float), expected[0], atol=1)
  np.testing.assert_array_equal(images.read_png(str(tmp_path / "out.png")), out)


@pytest.mark.parametrize("shape,message", [((32, 32, 1), "is 32x32 pixels.*28x28"),
                                           ((28, 28, 3), "is RGB.*grayscale.*convert\\('L'\\)")])
def test_restore_refuses_wrong_size_or_mode_with_the_fix(untrained_run, tmp_path, shape, message):
  from zoo import restore
  path = write_png(tmp_path / "in.png", np.zeros(shape, np.uint8))
  with pytest.raises(ValueError, match=message):
    restore.restore_file(untrained_run[0], path, str(tmp_path / "out.png"))


@pytest.mark.slow
def test_restore_cli_exits_with_one_line_errors(untrained_run, tmp_path):
  from tests.helpers import run_module
  path = write_png(tmp_path / "in.png", np.zeros((32, 32, 1), np.uint8))
  result = run_module("zoo.restore", f"--logdir={untrained_run[0]}", path, str(tmp_path / "out.png"))
  assert result.returncode != 0 and result.stderr.strip().splitlines()[-1].startswith("error: ")
  assert "Traceback" not in result.stderr
  result = run_module("zoo.restore", f"--logdir={untrained_run[0]}", path)
  assert result.returncode != 0 and "IN.png OUT.png" in result.stderr


def test_restore_split_degrades_and_restores_a_tfds_split_as_evaluated(untrained_run, tmp_path, data_dir):
  import json
  import os
  from zoo import pixels, restore
  from zoo.metrics import fidelity
  logdir, generator = untrained_run
  stats, originals, degraded, restored = restore.restore_split(logdir, "test[:10]", str(tmp_path / "out"),
                                                               seed=2024)
  expected = np.stack(list(data.load_images("mnist", "test[:10]", data_dir).as_numpy_iterator()))
  np.testing.assert_array_equal(originals, expected)
  # experiments/image_gan_eval.py's fixed test set: the run's task, seed 2024, quantised to uint8.
  masked = degradations.degrade(tf.cast(expected, tf.float32) / 255.0, [2024, 0], "inpaint")
  np.testing.assert_array_equal(degraded, pixels.to_uint8(masked, "unit").numpy())
  _, config = restore.load_restorer(logdir)
  np.testing.assert_array_equal(restored, restore.restore_images(generator, config, degraded))
  assert sorted(os.listdir(tmp_path / "out")) == ["degraded", "restored", "restored.npz", "stats.json"]
  with open(tmp_path / "out" / "stats.json") as f:
    assert json.load(f) == stats
  assert stats["images"] == 10 and stats["dataset"] == "mnist" and stats["seed"] == 2024
  assert stats["ssim"] == pytest.approx(float(np.mean(fidelity.ssim(originals, restored))))


def test_restore_refuses_a_noise_to_image_run(tmp_path, data_dir):
  from zoo import restore
  config_lib.save(config_lib.resolve("dense_gan", str(tmp_path), {"data_dir": data_dir}))
  with pytest.raises(ValueError, match="needs an image_gan run"):
    restore.load_restorer(str(tmp_path))
