"""GAN losses as small pure functions of logits, returning per-example losses [B].

They compute in float32 whatever the model's compute dtype, so mixed precision never reduces a loss
in bfloat16/float16.
"""
import tensorflow as tf


def _bce_with_logits(labels, logits):
  logits = tf.cast(tf.reshape(logits, [tf.shape(logits)[0], -1]), tf.float32)
  per_unit = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels * tf.ones_like(logits), logits=logits)
  return tf.reduce_mean(per_unit, axis=1)


def non_saturating_discriminator_loss(real_logits, fake_logits):
  """-log D(x) - log(1 - D(G(z))): binary cross-entropy with real=1, fake=0."""
  return _bce_with_logits(1.0, real_logits) + _bce_with_logits(0.0, fake_logits)


def non_saturating_generator_loss(fake_logits):
  """-log D(G(z)) (Goodfellow et al. 2014, sec. 3): strong gradients while D still wins easily."""
  return _bce_with_logits(1.0, fake_logits)
