"""Adam whose per-variable update is one fused TensorFlow kernel instead of about ten element-wise ops.

Keras 3's Adam updates each variable with separate ops for m, v and the step, each a full pass over
memory; on a CPU that made the optimiser a large share of a small model's step (docs/performance.md).
`ResourceApplyAdam` does the same update in one pass. The arithmetic is Keras's: m and v moving
averages, the bias correction folded into the step size, epsilon added to sqrt(v). The subclass keeps
Keras's slot variables, so checkpoints of either optimiser restore into the other.
"""
import keras
import tensorflow as tf


class FusedAdam(keras.optimizers.Adam):
  """`keras.optimizers.Adam` with the update of each variable in one `ResourceApplyAdam` kernel."""

  def update_step(self, gradient, variable, learning_rate):
    if self.amsgrad or variable.dtype != "float32":
      return super().update_step(gradient, variable, learning_rate)
    index = self._get_variable_index(variable)
    step = tf.cast(self.iterations + 1, tf.float32)
    tf.raw_ops.ResourceApplyAdam(
        var=variable.handle, m=self._momentums[index].handle, v=self._velocities[index].handle,
        beta1_power=tf.pow(tf.constant(self.beta_1, tf.float32), step),
        beta2_power=tf.pow(tf.constant(self.beta_2, tf.float32), step),
        lr=tf.cast(learning_rate, tf.float32), beta1=tf.constant(self.beta_1, tf.float32),
        beta2=tf.constant(self.beta_2, tf.float32), epsilon=tf.constant(self.epsilon, tf.float32),
        grad=tf.cast(gradient, tf.float32))


def adam(mode, learning_rate, beta_1, beta_2):
  """The run's Adam: fused unless --fast_kernels=off (it pays on every host measured)."""
  optimizer = keras.optimizers.Adam if mode == "off" else FusedAdam
  return optimizer(learning_rate, beta_1=beta_1, beta_2=beta_2)
