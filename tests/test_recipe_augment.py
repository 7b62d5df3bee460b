"""zoo.recipe.augment: each DiffAugment op's effect on hand-made images, gradients, seeds, replicas."""
import numpy as np
import pytest
import tensorflow as tf

from zoo.recipe import augment

SEED = tf.constant([3, 4], tf.int64)
FULL = ("translation", "cutout", "color")


def _random_images(shape=(8, 16, 16, 3), seed=0):
  return tf.random.stateless_uniform(shape, seed=[seed, 9], minval=-1.0, maxval=1.0)


def _shifted(image, rows, columns):
  """`image` [H, W, C] moved down by `rows` and right by `columns`, zeros entering (numpy reference)."""
  height, width = image.shape[:2]
  out = np.zeros_like(image)
  out[max(rows, 0):height + min(rows, 0), max(columns, 0):width + min(columns, 0)] = \
      image[max(-rows, 0):height - max(rows, 0), max(-columns, 0):width - max(columns, 0)]
  return out


def test_parse_policy():
  assert augment.parse_policy("translation,cutout,color") == FULL
  assert augment.parse_policy(" color , cutout") == ("color", "cutout")
  assert augment.parse_policy("") == ()
  with pytest.raises(ValueError, match="'flip'.*color, cutout, translation"):
    augment.parse_policy("color,flip")


def test_empty_policy_is_the_identity():
  images = _random_images()
  assert augment.diff_augment(images, (), SEED) is images


def test_translation_shifts_each_image_by_at_most_an_eighth_with_zeros_entering():
  # Channel 0 random, channel 1 a marker pixel at the centre that no allowed shift can push out.
  batch, size = 64, 16
  values = _random_images((batch, size, size, 1)).numpy()
  marker = np.zeros_like(values)
  marker[:, size // 2, size // 2] = 1.0
  out = augment.translation(tf.constant(np.concatenate([values, marker], -1)), SEED).numpy()
  shifts = set()
  for b in range(batch):
    (row,), (column,) = np.nonzero(out[b, :, :, 1])
    rows, columns = row - size // 2, column - size // 2
    assert max(abs(rows), abs(columns)) <= 2  # round(16 / 8)
    np.testing.assert_array_equal(out[b, :, :, :1], _shifted(values[b], rows, columns))
    shifts.add((rows, columns))
  assert len(shifts) > 10  # the shifts vary from image to image, in both directions


def test_cutout_zeroes_a_square_of_half_the_side_clipped_at_the_borders():
  height, width = 8, 12
  out = augment.cutout(tf.ones([200, height, width, 2]), SEED).numpy()
  interior = 0
  for image in out:
    np.testing.assert_array_equal(image[..., 0], image[..., 1])  # the same square in every channel
    rows, columns = np.nonzero(image[..., 0] == 0)
    assert set(np.unique(image)) <= {0.0, 1.0}
    top, bottom, left, right = rows.min(), rows.max() + 1, columns.min(), columns.max() + 1
    assert (image[top:bottom, left:right] == 0).all()                  # a solid rectangle...
    assert (image == 0).sum() == 2 * (bottom - top) * (right - left)   # ...and nothing else
    assert bottom - top <= height // 2 and right - left <= width // 2
    touches_border = top == 0 or left == 0 or bottom == height or right == width
    assert touches_border or (bottom - top, right - left) == (height // 2, width // 2)
    interior += not touches_border
  assert 0 < interior < len(out)  # both whole and clipped squares occur


def test_brightness_adds_one_constant_per_image():
  images = _random_images()
  difference = (augment.brightness(images, SEED) - images).numpy()
  offsets = difference[:, 0, 0, 0]
  np.testing.assert_allclose(difference, np.broadcast_to(offsets[:, None, None, None], difference.shape),
                             atol=1e-6)
  assert np.all(np.abs(offsets) <= 0.5) and len(set(offsets.round(6))) == len(offsets)


def test_saturation_scales_deviation_from_channel_mean_and_spares_one_channel():
  images = _random_images()
  mean = tf.reduce_mean(images, axis=3, keepdims=True)
  ratio = ((augment.saturation(images, SEED) - mean) / (images - mean)).numpy()
  factors = ratio[:, 0, 0, 0]
  np.testing.assert_allclose(ratio, np.broadcast_to(factors[:, None, None, None], ratio.shape), rtol=1e-3)
  assert np.all((factors >= 0) & (factors < 2))
  gray = _random_images((4, 8, 8, 1))
  np.testing.assert_array_equal(augment.saturation(gray, SEED), gray)


def test_contrast_scales_deviation_from_image_mean():
  images = _random_images()
  mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
  out = augment.contrast(images, SEED)
  np.testing.assert_allclose(tf.reduce_mean(out, axis=[1, 2, 3], keepdims=True), mean, atol=1e-6)
  ratio = ((out - mean) / (images - mean)).numpy()
  factors = ratio[:, 0, 0, 0]
  np.testing.assert_allclose(ratio, np.broadcast_to(factors[:, None, None, None], ratio.shape), rtol=1e-3)
  assert np.all((factors >= 0.5) & (factors < 1.5))


def test_gradients_reach_the_input_images():
  images = _random_images()
  weights = _random_images(seed=1)
  with tf.GradientTape() as tape:
    tape.watch(images)
    loss = tf.reduce_sum(augment.diff_augment(images, FULL, SEED) * weights)
  gradient = tape.gradient(loss, images).numpy()
  assert np.all(np.isfinite(gradient))
  assert np.count_nonzero(gradient) > gradient.size // 2  # cutout and translation drop some pixels


def test_same_seed_same_output_other_seed_other_output():
  images = _random_images()
  first = augment.diff_augment(images, FULL, SEED)
  np.testing.assert_array_equal(augment.diff_augment(images, FULL, SEED), first)
  assert not np.allclose(augment.diff_augment(images, FULL, tf.constant([3, 5], tf.int64)), first)


def test_bfloat16_in_bfloat16_out():
  images = tf.cast(_random_images(), tf.bfloat16)
  assert augment.diff_augment(images, FULL, SEED).dtype == tf.bfloat16


def test_replica_halves_concatenate_to_the_one_replica_result():
  images = _random_images()
  whole = augment.diff_augment(images, FULL, SEED)
  halves = [augment.diff_augment(images[4 * r:4 * (r + 1)], FULL, SEED, replica_id=r, num_replicas=2)
            for r in range(2)]
  np.testing.assert_array_equal(tf.concat(halves, 0), whole)


def test_replica_halves_concatenate_to_the_one_replica_result_under_xla():
  images = _random_images()
  augmented = tf.function(augment.diff_augment, jit_compile=True)
  whole = augmented(images, FULL, SEED)
  halves = [augmented(images[4 * r:4 * (r + 1)], FULL, SEED, r, 2) for r in range(2)]
  np.testing.assert_array_equal(tf.concat(halves, 0), whole)
