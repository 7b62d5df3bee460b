"""Every registered model: shapes, output range, and a gradient for every trainable variable."""
import numpy as np
import pytest
import tensorflow as tf

from zoo import config as config_lib
from zoo import data, models
from zoo import trainer as trainer_lib
from zoo import pixels


@pytest.fixture(params=models.list_models())
def built(request, tmp_path):
  spec = models.get_model(request.param)
  config = config_lib.resolve(spec.name, str(tmp_path), {})
  shape = data.image_shape(config.dataset, config.image_size)
  return spec, config, shape, spec.build_generator(config, shape), spec.build_discriminator(config, shape)


def a_batch(spec, config, shape, size, seed):
  """Real-looking images in the model's range, prepared as the input pipeline would."""
  real = pixels.to_model_range(tf.random.uniform((size,) + tuple(shape), 0, 256, tf.int32, seed=seed),
                             config.pixel_range)
  if spec.prepare_batch is None:
    return {"real": real}
  return trainer_lib.as_batch(spec.prepare_batch(config, real, tf.constant([seed, 0], tf.int64)))


def generate(spec, config, generator, batch, training):
  z = tf.random.normal([batch["real"].shape[0], config.latent_dim], seed=1)
  outputs = generator(spec.generator_input(batch, z), training=training)
  return outputs, trainer_lib.generated_images(outputs)


def test_generator_output_shape_and_range(built):
  spec, config, shape, generator, _ = built
  _, images = generate(spec, config, generator, a_batch(spec, config, shape, 3, seed=1), training=False)
  images = images.numpy()
  assert images.shape == (3,) + tuple(shape)
  low, high = (0.0, 1.0) if config.pixel_range == "unit" else (-1.0, 1.0)
  assert images.min() >= low and images.max() <= high
  assert np.isfinite(images).all()


def test_discriminator_returns_one_logit_per_image(built):
  spec, config, shape, _, discriminator = built
  batch = a_batch(spec, config, shape, 5, seed=2)
  logits = discriminator(spec.discriminator_input(batch, batch["real"]), training=False)
  assert logits.shape == (5, 1)


def test_every_trainable_variable_gets_a_gradient(built):
  spec, config, shape, generator, discriminator = built
  batch = a_batch(spec, config, shape, 4, seed=3)

  def score(images):
    return discriminator(spec.discriminator_input(batch, images), training=True)

  with tf.GradientTape(persistent=True) as tape:
    outputs, fake = generate(spec, config, generator, batch, training=True)
    d_loss = tf.reduce_mean(spec.discriminator_loss(score(batch["real"]), score(fake)))
    g_loss = tf.reduce_mean(spec.generator_loss(score(fake)))
    if spec.extra_generator_losses:  # e.g. a codec's rate term, the only path to its entropy model
      g_loss += tf.add_n([tf.reduce_mean(term) for term in
                          spec.extra_generator_losses(config, batch, outputs).values()])
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
