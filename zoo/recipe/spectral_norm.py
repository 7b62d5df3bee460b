"""Spectral normalisation of D (Miyato et al. 2018), an option for every model's discriminator.

`spectrally_normalized(D)` wraps each Dense and Conv2D layer of a built functional or Sequential D, the
logit layer included as in the paper, so that it computes with W / sigma(W), sigma the largest singular
value of its kernel reshaped to [fan_in, units], estimated by power iteration. Nothing else changes:
the other layers (BatchNormalization, LeakyReLU, ...) are the same objects, with their
weights and dtype policies, and so are the wrapped layers.

Keras' own keras.layers.SpectralNormalization is not used as it is, for two reasons found by testing
it (Keras 3.15):
- In training mode it *assigns* W / sigma to the kernel variable, so the optimiser then updates the
  normalised kernel: a projection after each step, with no gradient through sigma, where the paper
  keeps W as the parameter and backpropagates through W / sigma(W).
- Under a mixed_bfloat16 policy it reads the kernel inside the layer's autocast scope, so every training
  call rounds the float32 master kernel to bfloat16, and updates smaller than bfloat16's resolution
  are lost.
The subclass here keeps Keras' layer (its `vector_u` weight and config) but computes W / sigma(W) in
float32 and runs the wrapped layer with that kernel substituted (a keras.StatelessScope), leaving the
kernel variable untouched.

Under MirroredStrategy, u is updated in replica context. Its default aggregation (NONE) is what makes
that work: each replica assigns its own copy, and since u depends only on the mirrored kernel, every
replica computes the same value. MEAN or ONLY_FIRST_REPLICA would need a cross-replica merge, which
fails inside the XLA-compiled forward pass the trainer uses on several replicas.
"""
import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="zoo")
class SpectralNormalization(keras.layers.SpectralNormalization):
  """Wraps a Dense or Conv2D layer so that it computes with W / sigma(W) (Miyato et al. 2018).

  u (`vector_u`, [1, units], float32, non-trainable) estimates the first right singular vector of the
  kernel W reshaped to [fan_in, units]. Each training-mode call refines it by `power_iterations`
  steps of the power method and stores it; every call then divides W by sigma(W) = ||W u||, with u
  held constant in the gradient, as in the paper. u is a weight of the model, so checkpoints keep it.
  A kernel must not start at zero (u would collapse to zero, as in any power iteration).

  The wrapped layer keeps its dtype policy and casts its inputs and the normalised kernel as usual. The
  wrapper itself is float32 without autocast, so that it reads the float32 kernel and u: with
  autocast=False alone, a mixed-policy layer called outside any autocast scope still opens one (Keras
  3.15, Layer.__call__), and the power iteration would run in bfloat16.
  """

  def __init__(self, layer, power_iterations=1, **kwargs):
    super().__init__(layer, power_iterations=power_iterations,
                     **{**kwargs, "dtype": "float32", "autocast": False})

  def compute_output_spec(self, inputs, training=False):
    return self.layer.compute_output_spec(inputs)  # the wrapped layer's output dtype, not float32

  def call(self, inputs, training=False):
    u = self.vector_u.value
    if training:
      u = self._power_iteration(u)
      self.vector_u.assign(u)
    with keras.StatelessScope(state_mapping=[(self.kernel, self._normalized(u))]):
      return self.layer(inputs)

  def normalized_kernel(self):
    """W / sigma(W) with the stored u, shaped like the kernel (float32)."""
    return self._normalized(self.vector_u.value)

  def _matrix(self):
    return tf.reshape(self.kernel.value, [-1, self.kernel_shape[-1]])  # float32 [fan_in, units]

  def _power_iteration(self, u):
    kernel = self._matrix()
    for _ in range(self.power_iterations):
      v = tf.math.l2_normalize(tf.matmul(u, kernel, transpose_b=True))  # [1, fan_in]
      u = tf.math.l2_normalize(tf.matmul(v, kernel))                    # [1, units]
    return tf.stop_gradient(u)

  def _normalized(self, u):
    # u is a unit vector after any training call; normalising it again only matters before the first
    # one, where Keras' initial u (TruncatedNormal(0.02)) would give sigma the wrong scale.
    sigma = tf.norm(tf.matmul(tf.math.l2_normalize(u), self._matrix(), transpose_b=True))
    return self.kernel.value / sigma


def _wrap(layer):
  if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D)):
    return SpectralNormalization(layer)
  return layer


def spectrally_normalized(discriminator: keras.Model) -> keras.Model:
  """`discriminator` with every Dense and Conv2D layer (nested models' too) spectrally normalised.

  The result shares the original's layers, and so its weights: use it in place of the original. Each
  wrapper adds one non-trainable weight, its u. Subclassed models cannot be rewired and raise.
  """
  return keras.models.clone_model(discriminator, clone_function=_wrap, recursive=True)
