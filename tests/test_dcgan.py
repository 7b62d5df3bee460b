"""`dcgan` (article 003): layer pattern per resolution, mixed precision, replicas, export, RGB data."""
import dataclasses
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from zoo import config as config_lib
from zoo import data
from zoo import export
from zoo import runs
from zoo import training
from zoo.models import dcgan
from zoo import pixels

CELEB_A_SHAPE = (218, 178, 3)  # aligned CelebA photos


def resolved(tmp_path, **overrides):
  """dcgan at these settings; float32 unless asked, so the numbers compared are the same on any host."""
  return config_lib.resolve("dcgan", str(tmp_path), {"precision": "float32", **overrides})


def mnist_config(tmp_path, data_dir, **overrides):
  values = dict(dataset="mnist", data_dir=data_dir, train_split="train[:256]", image_size=32,
                batch_size=16, steps=2, steps_per_call=1, log_every=1, image_every=1,
                checkpoint_every=1, num_grid_images=4)
  values.update(overrides)
  return resolved(tmp_path, **values)


def layers_of(model, kind):
  return [layer for layer in model.layers if isinstance(layer, kind)]


UNCONDITIONAL = {"conditional": "none", "conditional_batchnorm": True}


def test_defaults_are_the_standard_dcgan_recipe_on_padded_mnist(tmp_path):
  config = resolved(tmp_path)
  assert (config.dataset, config.image_size, config.image_resize) == ("mnist", 32, "pad")
  assert (config.g_learning_rate, config.d_learning_rate, config.beta_1) == (2e-4, 2e-4, 0.5)
  assert config.steps * config.batch_size == 600_000 and config.ema_decay == 0.999
  assert config.pixel_range == "symmetric" and config.loss == "non_saturating"
  assert config.options == {**UNCONDITIONAL, "discriminator_dropout": 0.0, "generator_l2": 0.0,
                            "discriminator_batchnorm": True, "generator_dense_batchnorm": True,
                            "weight_init": "dcgan_normal", "discriminator_convolutions": 0,
                            "discriminator_filters": 64, "generator_filters": 256,
                            "generator_conv_bias": False}


def test_article_recipe_restores_every_departure(tmp_path):
  config = resolved(tmp_path, recipe="article")
  assert (config.dataset, config.image_size, config.image_resize) == ("celeb_a", 64, "area")
  assert config.ema_decay == 0.0 and config.loss == "non_saturating"
  assert config.options == {**UNCONDITIONAL, "discriminator_dropout": 0.3, "generator_l2": 0.01,
                            "discriminator_batchnorm": False, "generator_dense_batchnorm": False,
                            "weight_init": "glorot_uniform", "discriminator_convolutions": 2,
                            "discriminator_filters": 64, "generator_filters": 512,
                            "generator_conv_bias": True}
  assert data.image_shape(config.dataset, config.image_size) == (64, 64, 3)


def _layer_list(model):
  """(Keras layer, size, activation, L2) per layer; a zoo.accel fast kernel counts as its Keras class."""
  rows = []
  for layer in model.layers[1:]:
    kind = next(c.__name__ for c in type(layer).__mro__ if c.__module__.startswith("keras"))
    cfg = layer.get_config()
    size = cfg.get("units", cfg.get("filters", cfg.get("rate", cfg.get("target_shape"))))
    activation = cfg.get("activation") if cfg.get("activation") != "linear" else None
    rows.append((kind, size, activation, cfg.get("kernel_regularizer") is not None))
  return rows


def test_article_recipe_builds_the_articles_layer_list(tmp_path):
  # ../shared/SPEC.md section 4, layer by layer at 64x64x3 (D ends in the logit: its sigmoid is in the loss).
  config = resolved(tmp_path, recipe="article")
  stage = lambda filters: [("Conv2DTranspose", filters, None, True),
                           ("BatchNormalization", None, None, False), ("Activation", None, "relu", False)]
  assert _layer_list(dcgan.build_generator(config, (64, 64, 3))) == [
      ("Dense", 4 * 4 * 512, "relu", True), ("Reshape", (4, 4, 512), None, False),
      *stage(256), *stage(128), *stage(64),
      ("Conv2DTranspose", 3, None, False), ("Activation", None, "tanh", False)]
  block = lambda filters: [("Conv2D", filters, None, False), ("LeakyReLU", None, None, False),
                           ("Dropout", 0.3, None, False)]
  assert _layer_list(dcgan.build_discriminator(config, (64, 64, 3))) == [
      *block(64), *block(128), ("Flatten", None, None, False), ("Dense", 1, None, False)]


@pytest.mark.parametrize("size,channels", [(32, 1), (32, 3), (64, 1), (64, 3)])
def test_generator_shape_range_and_layer_pattern(tmp_path, size, channels):
  config = resolved(tmp_path, recipe="article")  # a 512-filter seed, halving per doubling
  generator = dcgan.build_generator(config, (size, size, channels))
  images = generator(tf.random.normal([3, config.latent_dim], seed=1) * 3.0, training=False).numpy()
  assert images.shape == (3, size, size, channels)
  assert images.min() >= -1.0 and images.max() <= 1.0 and images.min() < 0.0 < images.max()
  transposed = layers_of(generator, keras.layers.Conv2DTranspose)
  assert len(transposed) == int(np.log2(size // 4))  # one doubling per stage, from 4x4
  assert [layer.filters for layer in transposed] == [256, 128, 64][:len(transposed) - 1] + [channels]


@pytest.mark.parametrize("size,channels", [(32, 1), (64, 3)])
def test_discriminator_returns_one_float32_logit_per_image(tmp_path, size, channels):
  discriminator = dcgan.build_discriminator(resolved(tmp_path), (size, size, channels))
  logits = discriminator(tf.random.uniform((5, size, size, channels), -1, 1, seed=2), training=False)
  assert logits.shape == (5, 1) and logits.dtype == tf.float32
  assert discriminator.layers[-1].activation is keras.activations.linear  # a logit, not a sigmoid


def test_parameter_counts_match_the_article_at_64x64x3(tmp_path):
  config = resolved(tmp_path, recipe="article")
  generator = dcgan.build_generator(config, (64, 64, 3))
  discriminator = dcgan.build_discriminator(config, (64, 64, 3))
  # Hand-counted from the article's layers: Dense 100*8192+8192; ConvT k*k*in*out+out; BN 4 per channel.
  g_params = (100 * 8192 + 8192 + 16 * 512 * 256 + 256 + 16 * 256 * 128 + 128 + 16 * 128 * 64 + 64
              + 16 * 64 * 3 + 3 + 4 * (256 + 128 + 64))
  d_params = 16 * 3 * 64 + 64 + 16 * 64 * 128 + 128 + 16 * 16 * 128 + 1
  assert generator.count_params() == g_params
  assert discriminator.count_params() == d_params
  # The article's L2(0.01): on the Dense layer and the three BN'd transposed convolutions.
  assert len(generator.losses) == 4 and not discriminator.losses
  default = dcgan.build_generator(resolved(tmp_path), (64, 64, 3))
  assert not default.losses  # L2 is off by default
  # By default the seed has 256 filters, and BN's offsets replace the biases before it (4 per unit).
  assert default.count_params() == (100 * 4096 + 4 * 4096 + 16 * 256 * 128 + 16 * 128 * 64
                                    + 16 * 64 * 32 + 16 * 32 * 3 + 3 + 4 * (128 + 64 + 32))


def test_image_size_must_be_four_times_a_power_of_two(tmp_path):
  with pytest.raises(ValueError, match="4\\*2\\^k"):
    dcgan.build_generator(resolved(tmp_path), (28, 28, 1))  # MNIST without --image_size


def test_bfloat16_step_gives_finite_losses_with_float32_losses_and_statistics(tmp_path, data_dir):
  config = mnist_config(tmp_path, data_dir, precision="mixed_bfloat16", image_size=64)
  trainer = training.GANTrainer(config)
  metrics, bad_step = trainer.train_steps(trainer.distributed_batches(0), 2)
  assert bad_step == -1 and all(np.isfinite(list(metrics.values()))), metrics
  conv = layers_of(trainer.generator, keras.layers.Conv2DTranspose)[0]
  assert conv.compute_dtype == "bfloat16"
  for norm in layers_of(trainer.generator, keras.layers.BatchNormalization):
    assert all(v.dtype == "float32" for v in norm.weights)
    assert np.isfinite(norm.moving_variance.numpy()).all()
  assert trainer.generator.output.dtype == "float32"


def _losses_and_gradients(config, initial, batch):
  """One step's metrics and G and D gradients, from the given initial weights."""
  trainer = training.GANTrainer(config, spec=dcgan.SPEC)
  for model, values in zip((trainer.generator, trainer.discriminator), initial):
    model.set_weights(values)
  d_grads, g_grads, metrics = trainer.gan_step.losses_and_gradients(batch, 0, 0, config.batch_size)
  return metrics, [g.numpy() for g in g_grads + d_grads]


def test_fast_kernels_compute_the_step_keras_layers_compute(tmp_path, data_dir):
  # float32 and no dropout: the two differ only in summation order (the convolutions' matrix-product
  # paths, forced on whatever the CPU; each tested against Keras in tests/test_accel.py). Gradients, not
  # trained weights, are compared,
  # Adam turning the rounding of a near-zero gradient into a full step of either sign; and by direction
  # and norm, since a rounding that flips a ReLU whose input is near 0 moves single elements by ~0.2%
  # of the largest (seen with the matrix-product ConvT).
  config = mnist_config(tmp_path, data_dir, precision="float32", fast_kernels="on",
                        options={"discriminator_dropout": "0"})
  fast_trainer = training.GANTrainer(config, spec=dcgan.SPEC)
  initial = (fast_trainer.generator.get_weights(), fast_trainer.discriminator.get_weights())
  batch = {"real": next(iter(data.training_batches(config)))}
  fast_metrics, fast = _losses_and_gradients(config, initial, batch)
  stock_config = dataclasses.replace(config, fast_kernels="off")
  stock_metrics, stock = _losses_and_gradients(stock_config, initial, batch)
  for a, b in zip(fast, stock):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    assert np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)) > 0.9999
    assert np.linalg.norm(a) == pytest.approx(np.linalg.norm(b), rel=1e-3)
  for name in fast_metrics:
    assert float(fast_metrics[name]) == pytest.approx(float(stock_metrics[name]), rel=1e-5)
  assert all(np.abs(b).max() > 0 for b in stock)


def test_exported_generator_loads_and_samples(tmp_path, data_dir):
  config = mnist_config(tmp_path / "run", data_dir)
  training.fit(config, log=lambda *_: None)
  keras_path, saved_model_path = export.export_generator(config.logdir, str(tmp_path / "exported"))
  z = tf.random.normal([3, config.latent_dim], seed=4)
  serving = tf.saved_model.load(saved_model_path).signatures["serving_default"]
  images = serving(z=z)["images"].numpy()
  assert images.shape == (3, 32, 32, 1) and images.dtype == np.uint8
  restored, _ = runs.restore_generator(config.logdir)
  expected = pixels.to_uint8(restored(z, training=False), "symmetric").numpy()
  assert np.abs(images.astype(int) - expected.astype(int)).max() <= 1
  # The export computes in float32 whatever the run's precision; in bfloat16 training G's own outputs
  # differ from it by bfloat16 rounding (an 8-bit pixel step is 8e-3).
  reloaded = keras.models.load_model(keras_path)
  assert not any(type(layer).__module__.startswith("zoo") for layer in reloaded.layers)
  outputs = reloaded(z, training=False)
  assert outputs.dtype == "float32"
  atol = 1e-5 if config.precision == "float32" else 3e-2
  np.testing.assert_allclose(outputs, restored(z, training=False), atol=atol)


def _fake_celeb_a(data_dir, num_examples):
  """Split metadata for a mocked `celeb_a`, as TFDS would write it after preparing the data."""
  builder = tfds.builder("celeb_a", data_dir=data_dir)
  builder.info.set_splits(tfds.core.SplitDict([
      tfds.core.SplitInfo(name="train", shard_lengths=[num_examples], num_bytes=0)]))
  os.makedirs(builder.data_dir)
  builder.info.write_to_directory(builder.data_dir)


def _photos_with_a_white_face_box(builder, *args, **kwargs):
  """Photos that are white inside the central 140x140 crop and black outside it."""
  height, width, _ = CELEB_A_SHAPE
  image = np.zeros(CELEB_A_SHAPE, np.uint8)
  top, left = (height - 140) // 2, (width - 140) // 2
  image[top:top + 140, left:left + 140] = 255
  return tf.data.Dataset.from_tensors({"image": image}).repeat(16)


def test_celeb_a_rgb_path_crops_resizes_and_scales(tmp_path):
  _fake_celeb_a(str(tmp_path), 16)
  with tfds.testing.mock_data(as_dataset_fn=_photos_with_a_white_face_box, data_dir=str(tmp_path)):
    config = resolved(tmp_path / "run", recipe="article", data_dir=str(tmp_path), batch_size=8)
    batch = next(iter(data.training_batches(config, download=False))).numpy()
  assert batch.shape == (8, 64, 64, 3)
  np.testing.assert_array_equal(batch, 1.0)  # the crop kept only the white box, scaled to +1


def test_celeb_a_trains_a_step_on_mocked_photos(tmp_path):
  _fake_celeb_a(str(tmp_path), 32)
  with tfds.testing.mock_data(num_examples=32, data_dir=str(tmp_path)):
    config = resolved(tmp_path / "run", recipe="article", data_dir=str(tmp_path), batch_size=8, image_size=32)
    trainer = training.GANTrainer(config)
    metrics, bad_step = trainer.train_steps(trainer.distributed_batches(0, download=False), 1)
  assert trainer.generator.output_shape == (None, 32, 32, 3)
  assert bad_step == -1 and np.isfinite(metrics["d_loss"])


def test_celeb_a_offline_without_prepared_data_names_data_dir(tmp_path):
  config = resolved(tmp_path / "run", recipe="article", data_dir=str(tmp_path))
  with pytest.raises(data.DataUnavailableError, match="--data_dir"):
    data.training_batches(config, download=False)


@pytest.mark.slow
def test_discriminator_learns_against_a_frozen_generator(tmp_path, data_dir):
  # Rules out a D that cannot learn as the cause of the article's collapse (docs/dcgan.md).
  # G frozen by a zero learning rate, set past the flag check that refuses it from the command line.
  config = dataclasses.replace(mnist_config(tmp_path, data_dir, batch_size=32, recipe="article"),
                               g_learning_rate=0.0)
  trainer = training.GANTrainer(config)
  batch = next(iter(data.training_batches(config)))
  batches = iter(trainer.strategy.experimental_distribute_dataset(
      tf.data.Dataset.from_tensors(batch).repeat()))
  first, _ = trainer.train_steps(batches, 5)  # means over a call's steps
  trainer.train_steps(batches, 30)
  later, _ = trainer.train_steps(batches, 5)
  assert later["d_loss"] < 0.3 * first["d_loss"], (first, later)
  assert later["d_real"] > 0.9 and later["d_fake"] < 0.2, later



def _dense_kernel_rms(generator):
  dense, = layers_of(generator, keras.layers.Dense)
  return float(np.sqrt(np.mean(dense.kernel.numpy() ** 2)))


@pytest.mark.slow
@pytest.mark.parametrize("l2,bounds", [(0.01, (0.0, 0.9)), (0.0, (0.95, 1.05))])
def test_article_l2_shrinks_the_generators_dense_kernel_under_adam(tmp_path, data_dir, l2, bounds):
  # Why the article's L2 is off by default (docs/dcgan.md): Adam's step does not scale with the gradient,
  # so the L2 term drags every regularised weight towards zero by a steady share of the learning rate
  # (-20% in 30 steps here, ~25x in 300 in the probes) until z's signal through the Dense layer falls
  # below its unregularised bias. Without L2 the kernel keeps its size.
  config = mnist_config(tmp_path, data_dir, batch_size=16, precision="float32", recipe="article",
                        options={"generator_l2": str(l2)})  # the article's networks
  trainer = training.GANTrainer(config)
  before = _dense_kernel_rms(trainer.generator)
  trainer.train_steps(trainer.distributed_batches(0), 30)
  low, high = bounds
  assert low * before < _dense_kernel_rms(trainer.generator) < high * before


def test_discriminator_batchnorm_and_dcgan_init_options(tmp_path):
  config = resolved(tmp_path)  # the defaults: BN in a 3-convolution D, N(0, 0.02) init
  discriminator = dcgan.build_discriminator(config, (32, 32, 1))
  assert len(layers_of(discriminator, keras.layers.BatchNormalization)) == 2  # not after the first conv
  article = resolved(tmp_path, recipe="article")
  assert not layers_of(dcgan.build_discriminator(article, (32, 32, 1)), keras.layers.BatchNormalization)
  kernel = layers_of(dcgan.build_generator(config, (32, 32, 1)), keras.layers.Dense)[0].kernel.numpy()
  assert np.std(kernel) == pytest.approx(0.02, rel=0.05)
  kernel = layers_of(dcgan.build_generator(article, (32, 32, 1)), keras.layers.Dense)[0].kernel.numpy()
  assert np.std(kernel) == pytest.approx(np.sqrt(2 / (100 + 8192)), rel=0.05)  # glorot_uniform


def test_discriminator_goes_down_to_4x4_by_default(tmp_path, data_dir):
  for size, expected in ((32, [64, 128, 256]), (64, [64, 128, 256, 512])):
    config = mnist_config(tmp_path / f"run{size}", data_dir, image_size=size)
    convolutions = layers_of(dcgan.build_discriminator(config, (size, size, 1)), keras.layers.Conv2D)
    assert [c.filters for c in convolutions] == expected
    assert convolutions[-1].output.shape[1:3] == (4, 4)


def test_discriminator_depth_follows_the_option(tmp_path, data_dir):
  config = mnist_config(tmp_path / "run", data_dir, options={"discriminator_convolutions": 4},
                        image_size=64)
  discriminator = dcgan.build_discriminator(config, (64, 64, 1))
  convolutions = layers_of(discriminator, keras.layers.Conv2D)
  assert [c.filters for c in convolutions] == [64, 128, 256, 512]
  assert convolutions[-1].output.shape[1:3] == (4, 4)
  with pytest.raises(ValueError, match="discriminator_convolutions"):
    dcgan.check_options(mnist_config(tmp_path / "bad", data_dir, image_size=32,
                                     options={"discriminator_convolutions": 6}), (32, 32, 1))


@pytest.mark.parametrize("penalty", ["r1_gamma", "r2_gamma", "gp_weight"])
def test_penalties_on_a_batchnorm_discriminator_are_refused_in_one_line(tmp_path, penalty):
  config = resolved(tmp_path, **{penalty: 1.0})  # the default D has BatchNorm
  with pytest.raises(ValueError, match=f"--{penalty} penalise.*--nodiscriminator_batchnorm"):
    dcgan.check_options(config, (32, 32, 1))
  plain = resolved(tmp_path, **{penalty: 1.0}, options={"discriminator_batchnorm": False})
  dcgan.check_options(plain, (32, 32, 1))
