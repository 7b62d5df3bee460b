"""Every registered model: shapes, output range, and a gradient for every trainable variable."""
import numpy as np
import pytest
import tensorflow as tf

from zoo import config as config_lib
from zoo import data, models


@pytest.fixture(params=models.list_models())
def built(request, tmp_path):
  spec = models.get_model(request.param)
  config = config_lib.resolve(spec.name, str(tmp_path), {})
  shape = data.image_shape(config.dataset, config.image_size)
  return spec, config, shape, spec.build_generator(config, shape), spec.build_discriminator(config, shape)


def test_generator_output_shape_and_range(built):
  _, config, shape, generator, _ = built
  z = tf.random.normal([3, config.latent_dim], seed=1)
  images = generator(z, training=False).numpy()
  assert images.shape == (3,) + tuple(shape)
  low, high = (0.0, 1.0) if config.pixel_range == "unit" else (-1.0, 1.0)
  assert images.min() >= low and images.max() <= high
  assert np.isfinite(images).all()


def test_discriminator_returns_one_logit_per_image(built):
  _, _, shape, _, discriminator = built
  logits = discriminator(tf.zeros((5,) + tuple(shape)), training=False)
  assert logits.shape == (5, 1)


def test_every_trainable_variable_gets_a_gradient(built):
  spec, config, shape, generator, discriminator = built
  real = tf.random.uniform((4,) + tuple(shape), seed=2)
  z = tf.random.normal([4, config.latent_dim], seed=3)
  with tf.GradientTape(persistent=True) as tape:
    fake = generator(z, training=True)
    d_loss = tf.reduce_mean(spec.discriminator_loss(discriminator(real, training=True),
                                                    discriminator(fake, training=True)))
    g_loss = tf.reduce_mean(spec.generator_loss(discriminator(fake, training=True)))
  for loss, model in ((d_loss, discriminator), (g_loss, generator)):
    grads = tape.gradient(loss, model.trainable_variables)
    missing = [v.path for v, g in zip(model.trainable_variables, grads) if g is None]
    assert not missing, f"{model.name}: no gradient for {missing}"
    assert all(np.isfinite(g.numpy()).all() for g in grads)


def test_unknown_model_lists_valid_names():
  with pytest.raises(ValueError, match="Valid names: .*dense_gan"):
    models.get_model("no_such_gan")


def test_registering_a_name_twice_fails():
  with pytest.raises(ValueError, match="registered twice"):
    models.register(models.get_model("dense_gan"))
