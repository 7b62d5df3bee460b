"""`image_gan` (article 004): degradations, networks, baselines, 1 vs 2 replicas, restore CLI."""
import numpy as np
import pytest
import tensorflow as tf

from zoo import baselines
from zoo import config as config_lib
from zoo import degradations
from zoo.models import image_gan

SEED = tf.constant([7, 3], tf.int64)
OTHER_SEED = tf.constant([7, 4], tf.int64)


def random_images(shape=(8, 28, 28, 1), seed=0):
  """Uniform [0, 1] pixels that never equal the inpainting grey exactly."""
  images = np.random.default_rng(seed).uniform(0, 1, shape).astype(np.float32)
  images[np.isclose(images, degradations.MASK_VALUE)] = 0.0
  return tf.constant(images)


def resolved(tmp_path, **overrides):
  return config_lib.resolve("image_gan", str(tmp_path), overrides)


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
  assert -1.0 <= restored.numpy().min() and restored.numpy().max() <= 1.0
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


@pytest.mark.parametrize("options,shape,message", [
    ({"task": "colorize"}, (28, 28, 1), "RGB dataset"),
    ({}, (30, 30, 1), "multiples of 4"),
    ({"discriminator": "pixel"}, (28, 28, 1), "image, patch"),
    ({"l1_weight": "-1"}, (28, 28, 1), "l1_weight"),
])
def test_bad_options_fail_before_building_with_the_fix(tmp_path, options, shape, message):
  with pytest.raises(ValueError, match=message):
    image_gan.build_generator(resolved(tmp_path, options=options), shape)


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


# ---- baselines ------------------------------------------------------------------------------------

def test_median_filter_removes_isolated_specks():
  images = np.zeros((2, 28, 28, 1), np.uint8)
  images[:, 10, 10] = 255
  assert baselines.median_filter(images).max() == 0
  assert baselines.gaussian_filter(images).max() < 255 // 4  # spread over its neighbours


def test_mean_fill_replaces_exactly_the_hole():
  images = np.full((3, 28, 28, 1), 7, np.uint8)
  masked = baselines._uint8(degradations.degrade(tf.constant(images / 255.0, tf.float32), SEED,
                                                 "inpaint").numpy())
  mean_image = np.full((28, 28, 1), 200.0, np.float32)
  filled = baselines.mean_fill(masked, mean_image)
  hole = masked != images
  assert hole.sum() == 3 * 14 * 14
  np.testing.assert_array_equal(filled[hole], 200)
  np.testing.assert_array_equal(filled[~hole], 7)


def test_vae_elbo_and_restoration_shapes(data_dir):
  model = baselines._new_vae(baselines.VAEConfig(dataset="mnist", task="denoise", data_dir=data_dir))
  degraded = random_images((5, 28, 28, 1))
  loss, reconstruction = model.negative_elbo(degraded, degraded, SEED)
  assert loss.shape == (5,) and np.all(loss.numpy() >= reconstruction.numpy())  # KL >= 0
  restored = baselines.vae_restore(model, baselines._uint8(degraded.numpy()))
  assert restored.shape == (5, 28, 28, 1) and restored.dtype == np.uint8
