"""DiffAugment (Zhao et al. 2020): differentiable augmentations of D's inputs, reals and fakes alike.

D only ever sees augmented images, and since every op is differentiable in the pixel values, G's
gradient passes through the augmentation of its fakes. A policy is a comma-separated list of
"color", "translation" and "cutout", applied in the order written, as in the paper's code (which uses
"color,translation,cutout"):

- color: brightness (add U(-0.5, 0.5)), then saturation (scale each pixel's deviation from its mean over
  channels by U(0, 2)), then contrast (scale the deviation from the image's mean by U(0.5, 1.5)). The
  magnitudes are the paper's for images in [-1, 1], used unchanged for [0, 1] images.
- translation: an integer shift of up to 1/8 of the side along each axis, zeros entering.
- cutout: zeroes a square of half the side, centred anywhere in the image (clipped at the borders).

Images are [B, H, W, C] with static H and W, any C. One draw per image per op; everything is drawn
statelessly from a [2] integer seed for the global batch and sliced for this replica, so 1 or 2
replicas, and a resumed run, augment every image the same way. Augment reals and fakes with different
seeds, or their augmentations are paired. TensorFlow's stateless draws from one seed differ inside and
outside XLA (TF 2.21 on CPU), so runs to be compared must call this in the same compile context.
"""
import tensorflow as tf

_TRANSLATION_RATIO = 1 / 8
_CUTOUT_RATIO = 1 / 2


def _global_batch_draw(seed, batch_size, minval, maxval, dtype, replica_id, num_replicas):
  """[batch_size] draws from U[minval, maxval): this replica's slice of one draw for the global batch."""
  values = tf.random.stateless_uniform([batch_size * num_replicas], seed, minval, maxval, dtype)
  return values[replica_id * batch_size:(replica_id + 1) * batch_size]


def _image_factors(images, seed, minval, maxval, replica_id, num_replicas):
  """One U[minval, maxval) draw per image, shaped [B, 1, 1, 1] to broadcast over its pixels."""
  values = _global_batch_draw(seed, tf.shape(images)[0], minval, maxval, tf.float32, replica_id, num_replicas)
  return tf.reshape(values, [-1, 1, 1, 1])


def brightness(images, seed, replica_id=0, num_replicas=1):
  """Adds one U(-0.5, 0.5) offset to every pixel of an image."""
  return images + _image_factors(images, seed, -0.5, 0.5, replica_id, num_replicas)


def saturation(images, seed, replica_id=0, num_replicas=1):
  """Scales each pixel's deviation from its channel mean by U(0, 2); a no-op for one channel."""
  factor = _image_factors(images, seed, 0.0, 2.0, replica_id, num_replicas)
  mean = tf.reduce_mean(images, axis=3, keepdims=True)
  return (images - mean) * factor + mean


def contrast(images, seed, replica_id=0, num_replicas=1):
  """Scales each pixel's deviation from the image's mean by U(0.5, 1.5)."""
  factor = _image_factors(images, seed, 0.5, 1.5, replica_id, num_replicas)
  mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
  return (images - mean) * factor + mean


def _shift_along(images, axis, shifts, limit):
  """Image b moved by shifts[b] pixels along `axis` (1 or 2), |shifts| <= limit, zeros entering.

  A gather from the zero-padded images: static shapes for XLA, no loop over the batch, and
  differentiable in the pixel values (the gradient is a scatter-add back to the source pixels).
  """
  size = images.shape[axis]
  padding = [[0, 0]] * 4
  padding[axis] = [limit, limit]
  # output[i] = input[i - shift] = padded[i - shift + limit]
  sources = tf.range(size)[None, :] + limit - shifts[:, None]  # [B, size]
  return tf.gather(tf.pad(images, padding), sources, axis=axis, batch_dims=1)


def translation(images, seed, replica_id=0, num_replicas=1):
  """Shifts each image by integers in [-s, s] along each axis, s = round(side / 8); zeros enter."""
  for axis in (1, 2):
    limit = int(images.shape[axis] * _TRANSLATION_RATIO + 0.5)
    shifts = _global_batch_draw(tf.random.experimental.stateless_fold_in(seed, axis), tf.shape(images)[0],
                                -limit, limit + 1, tf.int32, replica_id, num_replicas)
    images = _shift_along(images, axis, shifts, limit)
  return images


def _inside_band(size, length, centres):
  """[B, size] booleans: positions within a band of `length` centred at each image's centre."""
  start = centres[:, None] - length // 2
  positions = tf.range(size)[None, :]
  return (positions >= start) & (positions < start + length)


def cutout(images, seed, replica_id=0, num_replicas=1):
  """Zeroes a square of half the side (rounded) centred at a uniformly drawn pixel of each image.

  An even-sized square's centre may also be the pixel just past the last one, as in the paper's code,
  so that squares clipped at either border are equally likely.
  """
  bands = []
  for axis in (1, 2):
    size = images.shape[axis]
    length = int(size * _CUTOUT_RATIO + 0.5)
    centres = _global_batch_draw(tf.random.experimental.stateless_fold_in(seed, axis), tf.shape(images)[0],
                                 0, size + 1 - length % 2, tf.int32, replica_id, num_replicas)
    bands.append(_inside_band(size, length, centres))
  rows, columns = bands
  square = rows[:, :, None] & columns[:, None, :]                   # [B, H, W]
  return images * tf.cast(~square, images.dtype)[..., None]


_POLICIES = {
    "color": (brightness, saturation, contrast),
    "translation": (translation,),
    "cutout": (cutout,),
}
# Each op draws from its own seed, derived from its index here whatever the policy.
_OPS = (brightness, saturation, contrast, translation, cutout)


def parse_policy(text: str) -> tuple:
  """"translation,cutout,color" -> ("translation", "cutout", "color"); "" -> () (no augmentation)."""
  names = tuple(name.strip() for name in text.split(",")) if text.strip() else ()
  unknown = [name for name in names if name not in _POLICIES]
  if unknown:
    raise ValueError(f"Unknown DiffAugment op(s) {unknown} in {text!r}; valid ops: "
                     f"{', '.join(sorted(_POLICIES))} (comma-separated, or empty for none).")
  return names


def diff_augment(images, policy: tuple, seed, replica_id=0, num_replicas=1):
  """`images` [B, H, W, C] augmented by the ops of `policy` (from `parse_policy`), in its dtype.

  `seed` is a [2] integer tensor for this global batch; `replica_id`/`num_replicas` say which slice of
  the global batch this replica holds. The arithmetic is float32 (means over bfloat16 pixels would be
  coarse); the result is cast back to the input dtype.
  """
  if not policy:
    return images
  augmented = tf.cast(images, tf.float32)
  for name in policy:
    for op in _POLICIES[name]:
      op_seed = tf.random.experimental.stateless_fold_in(seed, _OPS.index(op))
      augmented = op(augmented, op_seed, replica_id, num_replicas)
  return tf.cast(augmented, images.dtype)
