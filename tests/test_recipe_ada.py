"""zoo.recipe.ada: each augmentation against hand-computed images, p = 0 as the identity, gradients,
replica slices, and the controller's arithmetic, checkpoint and replicas."""
import math

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import two_replica_strategy
from zoo.recipe import ada

SEED = tf.constant([3, 4], tf.int64)


def _random_images(shape=(8, 16, 16, 3), seed=0):
  return tf.random.stateless_uniform(shape, seed=[seed, 9], minval=-1.0, maxval=1.0)


def _row_image(values):
  """One 1-channel image of one row, [1, 1, W, 1]."""
  return tf.constant(np.asarray(values, np.float32).reshape(1, 1, -1, 1))


def _pixel_image(rgb):
  """One 1x1 RGB image [1, 1, 1, 3]."""
  return tf.constant(np.asarray(rgb, np.float32).reshape(1, 1, 1, 3))


# ---- sets and the identity -----------------------------------------------------------------------


def test_parse_set_takes_groups_or_transforms_in_pipeline_order():
  assert ada.parse_set("bgc") == ada.TRANSFORMS == ada.DEFAULT_TRANSFORMS
  assert ada.parse_set("cb") == ("xflip", "rotate90", "xint", "brightness", "contrast", "lumaflip", "hue",
                                 "saturation")
  assert ada.parse_set("g") == ("scale", "rotate", "aniso", "xfrac")
  assert ada.parse_set("hue, xflip") == ("xflip", "hue")
  assert ada.parse_set("") == ()
  with pytest.raises(ValueError, match=r"\['cutout'\].*'bgc'"):
    ada.parse_set("xflip,cutout")


@pytest.mark.parametrize("compiled", [False, True])
def test_p_zero_returns_the_images_bit_for_bit(compiled):
  images = _random_images()
  augment = tf.function(ada.ada_augment, jit_compile=True) if compiled else ada.ada_augment
  np.testing.assert_array_equal(augment(images, tf.constant(0.0), SEED), images)
  assert ada.ada_augment(images, 0.5, SEED, transforms=()) is images


def test_images_a_transform_skips_stay_bit_for_bit_in_every_stage():
  # p small: most images get nothing, and those go through the blit, the warp and the colour matrix
  # with identities, which must not change a bit.
  images = _random_images((64, 16, 16, 3))
  out = ada.ada_augment(images, 0.02, SEED).numpy()
  unchanged = [np.array_equal(a, b) for a, b in zip(out, images.numpy())]
  assert 40 < sum(unchanged) < 64


def test_bfloat16_in_bfloat16_out():
  images = tf.cast(_random_images(), tf.bfloat16)
  assert ada.ada_augment(images, 0.5, SEED).dtype == tf.bfloat16


# ---- pixel blitting, by hand ---------------------------------------------------------------------


def test_flip_x_mirrors_only_the_chosen_images():
  images = tf.constant(np.asarray([[[1, 2, 3]], [[4, 5, 6]]], np.float32)[..., None])
  out = ada.flip_x(images, tf.constant([True, False])).numpy()[..., 0]
  np.testing.assert_array_equal(out, [[[3, 2, 1]], [[4, 5, 6]]])


def test_rotate90_turns_counter_clockwise():
  image = np.asarray([[1, 2], [3, 4]], np.float32)
  images = tf.constant(np.stack([image] * 4)[..., None])
  out = ada.rotate90(images, tf.constant([0, 1, 2, 3])).numpy()[..., 0]
  np.testing.assert_array_equal(out, [[[1, 2], [3, 4]], [[2, 4], [1, 3]], [[4, 3], [2, 1]], [[3, 1], [4, 2]]])
  with pytest.raises(ValueError, match="square"):
    ada.rotate90(tf.zeros([1, 2, 3, 1]), tf.constant([1]))


def test_translate_int_moves_pixels_and_reflects_at_the_borders():
  row = _row_image([0, 1, 2, 3, 4])
  right_two = ada.translate_int(row, tf.constant([[2, 0]])).numpy().ravel()
  left_one = ada.translate_int(row, tf.constant([[-1, 0]])).numpy().ravel()
  np.testing.assert_array_equal(right_two, [2, 1, 0, 1, 2])
  np.testing.assert_array_equal(left_one, [1, 2, 3, 4, 3])
  column = tf.transpose(row, [0, 2, 1, 3])  # [1, 5, 1, 1]
  np.testing.assert_array_equal(ada.translate_int(column, tf.constant([[0, 1]])).numpy().ravel(),
                                [1, 0, 1, 2, 3])


# ---- the geometric warp, by hand -----------------------------------------------------------------


def test_warp_identity_is_exact():
  images = _random_images((2, 7, 7, 3))
  np.testing.assert_array_equal(ada.warp(images, tf.eye(3, batch_shape=[2])), images)


def test_warp_half_pixel_translation_averages_neighbours_reflected_at_the_border():
  out = ada.warp(_row_image([0, 2, 4, 6]), ada.translate2d(tf.constant([-0.5]), tf.constant([0.0])))
  np.testing.assert_allclose(out.numpy().ravel(), [1, 1, 3, 5])  # x=0 reads x=-0.5, reflected to 0.5


def test_warp_scale_two_magnifies_about_the_centre():
  out = ada.warp(_row_image([0, 10, 20, 30, 40]), ada.scale2d(tf.constant([0.5]), tf.constant([1.0])))
  np.testing.assert_allclose(out.numpy().ravel(), [10, 15, 20, 25, 30])


def test_warp_quarter_rotation_matches_the_blit():
  images = _random_images((1, 6, 6, 2))
  # rot90 reads output (x, y) from input (-y, x) (centred coordinates): the inverse is a rotation by +pi/2.
  turned = ada.warp(images, ada.rotate2d(tf.constant([math.pi / 2])))
  np.testing.assert_allclose(turned, ada.rotate90(images, tf.constant([1])), atol=1e-5)


# ---- colour, by hand -----------------------------------------------------------------------------

RGB = [0.2, -0.4, 0.8]


def _colour(matrix, rgb=RGB, bounds=(-1.0, 1.0)):
  return ada.apply_color(_pixel_image(rgb), matrix, bounds).numpy().ravel()


def test_brightness_adds_and_contrast_scales_about_mid_grey():
  np.testing.assert_allclose(_colour(ada.translate3d(tf.constant([0.1]))), np.add(RGB, 0.1), atol=1e-6)
  np.testing.assert_allclose(_colour(ada.scale3d(tf.constant([2.0]))), np.multiply(RGB, 2), atol=1e-6)
  # Pixels in [0, 1]: the same transforms in [-1, 1] units, about 0.5.
  unit = [0.6, 0.3, 0.9]
  np.testing.assert_allclose(_colour(ada.translate3d(tf.constant([0.1])), unit, (0.0, 1.0)),
                             np.add(unit, 0.05), atol=1e-6)
  np.testing.assert_allclose(_colour(ada.scale3d(tf.constant([2.0])), unit, (0.0, 1.0)),
                             [0.7, 0.1, 1.3], atol=1e-6)


def test_luma_flip_negates_the_grey_part():
  mean = np.mean(RGB)
  np.testing.assert_allclose(_colour(ada.luma_flip(tf.constant([1.0]))), np.subtract(RGB, 2 * mean),
                             atol=1e-6)
  np.testing.assert_array_equal(_colour(ada.luma_flip(tf.constant([0.0]))), np.float32(RGB))


def test_hue_rotation_by_a_third_turn_cycles_the_channels():
  np.testing.assert_allclose(_colour(ada.hue_rotation(tf.constant([2 * math.pi / 3]))),
                             [RGB[2], RGB[0], RGB[1]], atol=1e-6)


def test_saturation_zero_is_grey_and_one_is_the_identity():
  np.testing.assert_allclose(_colour(ada.saturation_scale(tf.constant([0.0]))), [np.mean(RGB)] * 3, atol=1e-6)
  np.testing.assert_array_equal(_colour(ada.saturation_scale(tf.constant([1.0]))), np.float32(RGB))


def test_one_channel_gets_the_mean_row():
  gray = tf.constant([[[[0.5]]]])
  np.testing.assert_allclose(ada.apply_color(gray, ada.scale3d(tf.constant([2.0]))), [[[[1.0]]]])
  np.testing.assert_allclose(ada.apply_color(gray, ada.translate3d(tf.constant([0.1]))), [[[[0.6]]]])
  with pytest.raises(ValueError, match="1 or 3 channels"):
    ada.apply_color(tf.zeros([1, 2, 2, 2]), tf.eye(4, batch_shape=[1]))


# ---- the random transforms at p = 1 and p < 1 ----------------------------------------------------


def _only(name, images, p=1.0, seed=SEED):
  return ada.ada_augment(images, p, seed, transforms=(name,)).numpy()


def test_xflip_at_p_one_flips_half_the_images():
  images = _random_images((64, 8, 8, 3)).numpy()
  out = _only("xflip", tf.constant(images))
  flipped = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images)]
  kept = [np.array_equal(o, i) for o, i in zip(out, images)]
  assert all(f or k for f, k in zip(flipped, kept)) and 20 < sum(flipped) < 44


def test_rotate90_at_p_one_draws_all_four_turns():
  images = _random_images((64, 8, 8, 3)).numpy()
  out = _only("rotate90", tf.constant(images))
  turns = [next(k for k in range(4) if np.array_equal(o, np.rot90(i, k))) for o, i in zip(out, images)]
  assert set(turns) == {0, 1, 2, 3}


def test_xint_at_p_one_shifts_by_at_most_an_eighth():
  images = _random_images((32, 16, 16, 3))
  out = _only("xint", images)
  shifts = set()
  for o, i in zip(out, images):
    match = [(dx, dy) for dx in range(-2, 3) for dy in range(-2, 3)
             if np.array_equal(o, ada.translate_int(i[None], tf.constant([[dx, dy]]))[0])]
    assert match, "not an integer shift of at most round(16 / 8) = 2 pixels"
    shifts.add(match[0])
  assert len(shifts) > 8


def test_brightness_at_p_one_adds_an_offset_of_deviation_0_2_per_image():
  images = _random_images((512, 4, 4, 3))
  difference = _only("brightness", images) - images.numpy()
  offsets = difference[:, 0, 0, 0]
  np.testing.assert_allclose(difference, np.broadcast_to(offsets[:, None, None, None], difference.shape),
                             atol=1e-5)
  assert 0.17 < offsets.std() < 0.23 and abs(offsets.mean()) < 0.03


def test_each_transform_is_applied_to_a_share_p_of_the_images():
  images = _random_images((2000, 4, 4, 3))
  changed = np.any(np.abs(_only("contrast", images, p=0.3) - images.numpy()) > 1e-6, axis=(1, 2, 3))
  assert 0.26 < changed.mean() < 0.34


@pytest.mark.parametrize("name", ada.TRANSFORMS)
def test_gradients_reach_the_images_through_every_transform(name):
  images = _random_images((8, 16, 16, 3))
  weights = _random_images((8, 16, 16, 3), seed=1)
  with tf.GradientTape() as tape:
    tape.watch(images)
    loss = tf.reduce_sum(ada.ada_augment(images, 1.0, SEED, transforms=(name,)) * weights)
  gradient = tape.gradient(loss, images).numpy()
  assert np.all(np.isfinite(gradient)) and np.count_nonzero(gradient) > gradient.size // 2


def test_same_seed_same_images_other_seed_other_images():
  images = _random_images()
  first = ada.ada_augment(images, 0.8, SEED)
  np.testing.assert_array_equal(ada.ada_augment(images, 0.8, SEED), first)
  assert not np.allclose(ada.ada_augment(images, 0.8, tf.constant([3, 5], tf.int64)), first)


@pytest.mark.parametrize("compiled", [False, True])
def test_replica_halves_concatenate_to_the_one_replica_result(compiled):
  images = _random_images()
  augment = tf.function(ada.ada_augment, jit_compile=True) if compiled else ada.ada_augment
  p = tf.constant(0.7)
  whole = augment(images, p, SEED)
  halves = [augment(images[4 * r:4 * (r + 1)], p, SEED, r, 2) for r in range(2)]
  np.testing.assert_array_equal(tf.concat(halves, 0), whole)


# ---- the controller ------------------------------------------------------------------------------


def test_controller_moves_p_by_the_papers_speed_every_interval():
  controller = ada.AdaController(target=0.6, interval=4, kimg=500)
  # Steps 0-3 of 64 reals each, 60 positive signs net: r_t = 240 / 256 = 0.9375 > 0.6.
  for step in range(3):
    assert controller.update(60.0, 64, step).numpy() == 0.0
  assert controller.sign_sum.numpy() == 180.0 and controller.count.numpy() == 192.0
  assert controller.update(60.0, 64, 3).numpy() == pytest.approx(256 / 500_000)
  assert controller.r_t.numpy() == 0.9375
  assert controller.sign_sum.numpy() == 0.0 and controller.count.numpy() == 0.0
  # r_t exactly at the target leaves p alone; below it, p goes down, and never below 0.
  for step in range(4, 8):
    controller.update(0.6 * 64, 64, step)
  assert controller.p.numpy() == pytest.approx(256 / 500_000)
  for step in range(8, 16):
    controller.update(-64.0, 64, step)
  assert controller.p.numpy() == 0.0 and controller.r_t.numpy() == -1.0


def test_controller_clips_p_at_one():
  controller = ada.AdaController(target=0.6, interval=1, kimg=0.05)  # 50 reals from 0 to 1
  assert controller.update(64.0, 64, 0).numpy() == 1.0


def test_controller_rejects_bad_settings():
  with pytest.raises(ValueError, match="target"):
    ada.AdaController(target=1.5)


def test_real_sign_sum_counts_signs():
  assert ada.real_sign_sum(tf.constant([[2.0], [-0.5], [3.0], [0.0]], tf.bfloat16)).numpy() == 1.0


def test_controller_checkpoint_round_trip_resumes_exactly(tmp_path):
  controller = ada.AdaController()
  for step in range(6):  # one adjustment, then two steps into the next interval
    controller.update(50.0, 64, step)
  path = tf.train.Checkpoint(ada=controller).write(str(tmp_path / "ckpt"))
  restored = ada.AdaController()
  tf.train.Checkpoint(ada=restored).read(path).assert_consumed()
  for name in ("p", "r_t", "sign_sum", "count"):
    assert getattr(restored, name).numpy() == getattr(controller, name).numpy(), name
  assert restored.sign_sum.numpy() == 100.0
  for step in range(6, 12):
    assert restored.update(-10.0, 64, step).numpy() == controller.update(-10.0, 64, step).numpy()


def test_controller_on_two_replicas_updates_like_one():
  strategy = two_replica_strategy()
  with strategy.scope():
    mirrored = ada.AdaController(interval=2)
  single = ada.AdaController(interval=2)
  images = _random_images()

  @tf.function
  def step(index):
    def replica_fn():
      context = tf.distribute.get_replica_context()
      replica, count = context.replica_id_in_sync_group, context.num_replicas_in_sync
      local = images[replica * 4:(replica + 1) * 4]
      augmented = ada.ada_augment(local, mirrored.p, SEED, replica, count)
      return ada.real_sign_sum(tf.reduce_mean(augmented, axis=[1, 2, 3]) + 0.5)
    sign_sum = strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(replica_fn), axis=None)
    return mirrored.update(sign_sum, 8, index), sign_sum

  for index in range(6):
    p, sign_sum = step(tf.constant(index, tf.int64))
    expected_sign_sum = ada.real_sign_sum(
        tf.reduce_mean(ada.ada_augment(images, single.p, SEED), axis=[1, 2, 3]) + 0.5)
    assert sign_sum.numpy() == expected_sign_sum.numpy()
    assert p.numpy() == single.update(expected_sign_sum, 8, index).numpy()
  assert single.p.numpy() > 0
