"""Adaptive discriminator augmentation, ADA (Karras et al. 2020, "Training Generative Adversarial
Networks with Limited Data", StyleGAN2-ADA): every image D sees is augmented, each transform applied
with probability p, and a controller raises p while D overfits the reals and lowers it otherwise.

The pipeline, in the paper's order; an augmentation set names its groups ("bgc", the paper's default,
"bg", "b", "c", ...) or, for experiments, its transforms ("xflip,brightness"):

- b, pixel blitting, exact pixel moves: x-flip (half the time when applied), rotation by a multiple of
  90 degrees (uniform), integer translation by up to 1/8 of the side per axis, reflected at the borders.
- g, general geometric: isotropic scale 2^N(0, 0.2^2); arbitrary rotation U(-pi, pi), applied before
  and after the anisotropic scale 2^N(0, 0.2^2) with probability 1 - sqrt(1 - p) each, so that some
  rotation happens with probability p; fractional translation N(0, 0.125^2) of the side. One affine warp,
  sampled bilinearly with reflection at the borders (the paper also upsamples 2x through a wavelet
  low-pass filter around the warp against aliasing: left out here, where images are 28-64 px).
- c, colour, as one 4x4 matrix on (R, G, B, 1) per image: brightness + N(0, 0.2^2), contrast
  x 2^N(0, 0.5^2), luma flip (a reflection of the luma axis, half the time), hue rotation U(-pi, pi)
  about the luma axis, saturation x 2^N(0, 1) off the luma axis. Magnitudes are the paper's for pixels in
  [-1, 1]; other ranges (`pixel_bounds`) are mapped there and back. Hue and saturation need 3 channels;
  one channel gets the mean of the matrix's rows, as in the paper's code.

Every transform's decision and parameter are drawn statelessly from a [2] seed for the global batch, of
which this replica takes its slice (as in zoo/recipe/augment.py), so 1 or 2 replicas and a resumed run
augment every image alike. An image a transform is not applied to gets that transform's identity,
exactly (cos 0 = 1, 2^0 = 1, ...), so p = 0 returns the images bit for bit.

`AdaController` holds p and the statistics it is tuned from, in variables for the checkpoint.
"""
import math

import tensorflow as tf

GROUPS = {
    "b": ("xflip", "rotate90", "xint"),
    "g": ("scale", "rotate", "aniso", "xfrac"),
    "c": ("brightness", "contrast", "lumaflip", "hue", "saturation"),
}
# Pipeline order; a transform's index also keys its random draws, whatever the set.
TRANSFORMS = tuple(name for group in "bgc" for name in GROUPS[group])
DEFAULT_SET = "bgc"
DEFAULT_TRANSFORMS = TRANSFORMS  # what DEFAULT_SET names
# Random numbers per image and transform: 2 gates (rotate has two), then up to 2 parameters' worth.
_UNIFORM_COLUMNS = 4
_NORMAL_COLUMNS = 2

_XINT_MAX = 0.125  # of the side
_SCALE_STD = 0.2  # log2
_ANISO_STD = 0.2  # log2
_XFRAC_STD = 0.125  # of the side
_BRIGHTNESS_STD = 0.2
_CONTRAST_STD = 0.5  # log2
_SATURATION_STD = 1.0  # log2


def parse_set(text: str) -> tuple:
  """"bgc" (groups) or "xflip,hue" (transforms) -> the transforms in pipeline order; "" -> ()."""
  text = text.strip()
  if text and set(text) <= set(GROUPS):
    names = {name for group in text for name in GROUPS[group]}
  else:
    names = {name.strip() for name in text.split(",")} if text else set()
    unknown = sorted(names - set(TRANSFORMS))
    if unknown:
      raise ValueError(f"Unknown ADA augmentation(s) {unknown} in {text!r}: give groups from 'bgc' (b: "
                       f"blit, g: geometric, c: colour), e.g. 'bgc' or 'bg', or transforms from "
                       f"{', '.join(TRANSFORMS)}.")
  return tuple(name for name in TRANSFORMS if name in names)


def _exp2(x):
  return tf.pow(2.0, x)  # exactly 1 at 0


# ---- random draws --------------------------------------------------------------------------------


class _Draws:
  """Each transform's gate (applied or not) and parameter, from its own seed, for the GLOBAL batch.

  Parameters, and the matrices built from them, are computed for the whole global batch and only then
  sliced for this replica (`local`): TensorFlow's vectorised sin, cos and pow give other bits for a
  tensor of another length, so computing them on a replica's slice would break 1 vs 2 replica equality.
  """

  def __init__(self, seed, local_batch_size, p, replica_id, num_replicas):
    self.p = p
    self.local_batch_size, self.replica_id = local_batch_size, replica_id
    self.batch_size = local_batch_size * num_replicas
    # Two random ops for the whole pipeline (each XLA-compiled random op costs seconds of compile time);
    # a transform reads the columns of its index in TRANSFORMS, whichever transforms the set has.
    count = len(TRANSFORMS)
    self._uniform = tf.random.stateless_uniform([self.batch_size, count, _UNIFORM_COLUMNS], seed)
    self._normal = tf.random.stateless_normal([self.batch_size, count, _NORMAL_COLUMNS],
                                              tf.random.experimental.stateless_fold_in(seed, 1))

  def local(self, values):
    """This replica's slice of global-batch values."""
    start = self.replica_id * self.local_batch_size
    return values[start:start + self.local_batch_size]

  def gate(self, name, probability=None, second=False):
    """[B] booleans: whether each image gets `name` (probability p unless given)."""
    probability = self.p if probability is None else probability
    return self._uniform[:, TRANSFORMS.index(name), int(second)] < probability

  def uniform(self, name, minval=0.0, maxval=1.0, columns=1, second=False):
    """[B] (or [B, columns]) draws from U[minval, maxval)."""
    first = 2 + int(second) * columns
    values = self._uniform[:, TRANSFORMS.index(name), first:first + columns]
    values = minval + (maxval - minval) * values
    return values[:, 0] if columns == 1 else values

  def normal(self, name, stddev=1.0, columns=1):
    values = stddev * self._normal[:, TRANSFORMS.index(name), :columns]
    return values[:, 0] if columns == 1 else values

  def gated(self, name, value, identity, probability=None, second=False):
    """`value` where the image gets `name`, else `identity` (broadcast over value's trailing axes)."""
    applied = self.gate(name, probability, second)
    applied = tf.reshape(applied, [-1] + [1] * (len(value.shape) - 1))
    return tf.where(applied, value, tf.cast(identity, value.dtype))


# ---- pixel blitting ------------------------------------------------------------------------------


def flip_x(images, flips):
  """Images [B, H, W, C] mirrored left-right where `flips` [B] is true."""
  return tf.where(tf.reshape(flips, [-1, 1, 1, 1]), tf.reverse(images, [2]), images)


def rotate90(images, quarters):
  """Images [B, S, S, C] rotated counter-clockwise by `quarters` [B] (0..3) quarter turns."""
  if images.shape[1] != images.shape[2]:
    raise ValueError(f"ADA's 90-degree rotations need square images, got {images.shape[1]}x"
                     f"{images.shape[2]}: use an augmentation set without 'b' (e.g. --ada_set=gc).")
  # Not tf.image.rot90: its shape assertions are dropped with a warning under XLA.
  transposed = tf.transpose(images, [0, 2, 1, 3])
  turned = {1: tf.reverse(transposed, [1]), 2: tf.reverse(images, [1, 2]), 3: tf.reverse(transposed, [2])}
  out = images
  for quarter, rotated in turned.items():
    out = tf.where(tf.reshape(quarters == quarter, [-1, 1, 1, 1]), rotated, out)
  return out


def _reflect(positions, size):
  """Positions (integer or not) reflected into [0, size - 1] about the border pixels' centres."""
  period = 2.0 * (size - 1)
  folded = tf.math.floormod(positions, period) if size > 1 else tf.zeros_like(positions)
  return tf.where(folded > size - 1, period - folded, folded)


def translate_int(images, shifts):
  """Images [B, H, W, C] moved by integer `shifts` [B, 2] (right, down) pixels, reflected at the borders."""
  for axis, column in ((2, 0), (1, 1)):
    size = images.shape[axis]
    sources = tf.range(size, dtype=tf.float32)[None, :] - tf.cast(shifts[:, column:column + 1], tf.float32)
    indices = tf.cast(_reflect(sources, size), tf.int32)  # [B, size]
    images = tf.gather(images, indices, axis=axis, batch_dims=1)
  return images


def _blit(images, draws: _Draws, transforms):
  batch_size = draws.batch_size
  if "xflip" in transforms:
    flips = draws.uniform("xflip") < 0.5
    images = flip_x(images, draws.local(flips & draws.gate("xflip")))
  if "rotate90" in transforms:
    quarters = tf.cast(tf.floor(draws.uniform("rotate90", maxval=4.0)), tf.int32)
    quarters = tf.where(draws.gate("rotate90"), quarters, tf.zeros([batch_size], tf.int32))
    images = rotate90(images, draws.local(quarters))
  if "xint" in transforms:
    side = tf.constant([images.shape[2], images.shape[1]], tf.float32)
    shifts = tf.round(draws.uniform("xint", -_XINT_MAX, _XINT_MAX, columns=2) * side)
    images = translate_int(images, draws.local(draws.gated("xint", shifts, 0.0)))
  return images


# ---- general geometric transforms ----------------------------------------------------------------


def _compose(first, second):
  """first @ second for [B, n, n] matrices, elementwise: the same bits for any batch size, which a
  batched matmul does not promise."""
  size = first.shape[-1]
  return tf.add_n([first[:, :, k:k + 1] * second[:, k:k + 1, :] for k in range(size)])


def _stack_matrix(rows):
  """[[a, b, c], ...] of [B] tensors or numbers -> [B, n, n]."""
  entries = [entry for row in rows for entry in row]
  reference = next(entry for entry in entries if isinstance(entry, tf.Tensor))
  entries = [entry if isinstance(entry, tf.Tensor) else tf.fill(tf.shape(reference), float(entry))
             for entry in entries]
  return tf.reshape(tf.stack(entries, axis=-1), [-1, len(rows), len(rows)])


def scale2d(sx, sy):
  return _stack_matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]])


def rotate2d(theta):
  return _stack_matrix([[tf.cos(theta), -tf.sin(theta), 0], [tf.sin(theta), tf.cos(theta), 0], [0, 0, 1]])


def translate2d(tx, ty):
  return _stack_matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]])


def warp(images, inverse):
  """Images [B, H, W, C] through the affine maps whose inverses `inverse` [B, 3, 3] take an output pixel's
  (x, y), centred on the image's centre, to the input position it is read from: bilinear sampling,
  reflection at the borders. An identity matrix returns the image exactly."""
  batch, height, width, channels = tf.shape(images)[0], images.shape[1], images.shape[2], images.shape[3]
  centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
  ys, xs = tf.meshgrid(tf.range(height, dtype=tf.float32), tf.range(width, dtype=tf.float32), indexing="ij")
  out_x, out_y = tf.reshape(xs, [1, -1]) - centre_x, tf.reshape(ys, [1, -1]) - centre_y  # [1, H*W]

  def source(row):  # elementwise, not a matmul: the same bits for any batch size
    return inverse[:, row, 0:1] * out_x + inverse[:, row, 1:2] * out_y + inverse[:, row, 2:3]

  x = _reflect(source(0) + centre_x, width)  # [B, H*W]
  y = _reflect(source(1) + centre_y, height)
  x0, y0 = tf.floor(x), tf.floor(y)
  wx, wy = (x - x0)[..., None], (y - y0)[..., None]
  x0, y0 = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)
  x1, y1 = tf.minimum(x0 + 1, width - 1), tf.minimum(y0 + 1, height - 1)
  flat = tf.reshape(images, [batch, height * width, channels])

  def pixels(row, column):
    return tf.gather(flat, row * width + column, batch_dims=1)  # [B, H*W, C]

  top = pixels(y0, x0) * (1 - wx) + pixels(y0, x1) * wx
  bottom = pixels(y1, x0) * (1 - wx) + pixels(y1, x1) * wx
  return tf.reshape(top * (1 - wy) + bottom * wy, [batch, height, width, channels])


def _geometric(images, draws: _Draws, transforms):
  """One warp for all the geometric transforms drawn; the images unchanged when none is chosen."""
  batch_size = draws.batch_size
  inverse = tf.eye(3, batch_shape=[batch_size])
  if "scale" in transforms:
    scale = draws.gated("scale", _exp2(draws.normal("scale", stddev=_SCALE_STD)), 1.0)
    inverse = _compose(inverse, scale2d(1 / scale, 1 / scale))
  # Rotation before and after the anisotropic scale, each with probability 1 - sqrt(1 - p), so that
  # P(either) = p.
  rotation_probability = 1 - tf.sqrt(tf.clip_by_value(1 - draws.p, 0.0, 1.0))
  if "rotate" in transforms:
    theta = draws.gated("rotate", draws.uniform("rotate", minval=-math.pi, maxval=math.pi), 0.0,
                        rotation_probability)
    inverse = _compose(inverse, rotate2d(-theta))
  if "aniso" in transforms:
    scale = draws.gated("aniso", _exp2(draws.normal("aniso", stddev=_ANISO_STD)), 1.0)
    inverse = _compose(inverse, scale2d(1 / scale, scale))
  if "rotate" in transforms:
    theta = draws.gated("rotate", draws.uniform("rotate", minval=-math.pi, maxval=math.pi, second=True),
                        0.0, rotation_probability, second=True)
    inverse = _compose(inverse, rotate2d(-theta))
  if "xfrac" in transforms:
    side = tf.constant([images.shape[2], images.shape[1]], tf.float32)
    shift = draws.gated("xfrac", draws.normal("xfrac", stddev=_XFRAC_STD, columns=2) * side, 0.0)
    inverse = _compose(inverse, translate2d(-shift[:, 0], -shift[:, 1]))
  return warp(images, draws.local(inverse))


# ---- colour ------------------------------------------------------------------------------------


def translate3d(offset):
  return _stack_matrix([[1, 0, 0, offset], [0, 1, 0, offset], [0, 0, 1, offset], [0, 0, 0, 1]])


def scale3d(factor):
  return _stack_matrix([[factor, 0, 0, 0], [0, factor, 0, 0], [0, 0, factor, 0], [0, 0, 0, 1]])


def _along_luma():
  """[1, 4, 4]: the projection of (R, G, B, 1) on the luma axis (1, 1, 1, 0) / sqrt(3)."""
  luma = tf.constant([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3.0)
  return tf.tensordot(luma, luma, 0)[None]


def luma_flip(flips):
  """Householder reflections of the luma axis where `flips` [B] is 1, identities where it is 0."""
  return tf.eye(4) - 2 * _along_luma() * tf.reshape(flips, [-1, 1, 1])


def hue_rotation(theta):
  """Rotations by `theta` [B] about the luma axis (Rodrigues' formula; exact identity at 0)."""
  vx = vy = vz = 1 / math.sqrt(3.0)
  s, c = tf.sin(theta), tf.cos(theta)
  cc = 1 - c
  return _stack_matrix([
      [vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s, 0],
      [vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s, 0],
      [vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c, 0],
      [0, 0, 0, 1]])


def saturation_scale(factor):
  """Scales colours' distance from the luma axis by `factor` [B] (written so that 1 gives I exactly)."""
  return tf.eye(4) + (tf.eye(4) - _along_luma()) * tf.reshape(factor - 1, [-1, 1, 1])


def apply_color(images, matrices, pixel_bounds=(-1.0, 1.0)):
  """Images [B, H, W, C] (C = 3, or 1: the rows' mean) through colour matrices [B, 4, 4] that act on
  pixels mapped from `pixel_bounds` to [-1, 1]."""
  low, high = pixel_bounds
  gain = 2.0 / (high - low)
  to_symmetric = scale3d(tf.fill([1], gain)) @ translate3d(tf.fill([1], -low - 1.0 / gain))
  back = translate3d(tf.fill([1], low + 1.0 / gain)) @ scale3d(tf.fill([1], 1.0 / gain))
  batch = tf.shape(matrices)[0]
  to_symmetric, back = (tf.tile(m, [batch, 1, 1]) for m in (to_symmetric, back))
  # Exact identities stay exact: the factors are powers of 2.
  matrices = _compose(_compose(back, matrices), to_symmetric)
  channels = images.shape[3]
  if channels == 3:
    entries = matrices[:, None, None]  # [B, 1, 1, 4, 4]
    return (images[..., 0:1] * entries[..., :3, 0] + images[..., 1:2] * entries[..., :3, 1]
            + images[..., 2:3] * entries[..., :3, 2] + entries[..., :3, 3])
  if channels == 1:
    mean = tf.reduce_mean(matrices[:, :3, :], axis=1)  # [B, 4]
    return images * tf.reduce_sum(mean[:, :3], axis=1)[:, None, None, None] + mean[:, None, None, 3:]
  raise ValueError(f"ADA's colour transforms need 1 or 3 channels, got {channels}: use --ada_set=bg.")


def _color(images, draws: _Draws, transforms, pixel_bounds):
  batch_size, channels = draws.batch_size, images.shape[3]
  matrix = tf.eye(4, batch_shape=[batch_size])
  if "brightness" in transforms:
    offset = draws.gated("brightness", draws.normal("brightness", stddev=_BRIGHTNESS_STD), 0.0)
    matrix = _compose(translate3d(offset), matrix)
  if "contrast" in transforms:
    factor = draws.gated("contrast", _exp2(draws.normal("contrast", stddev=_CONTRAST_STD)), 1.0)
    matrix = _compose(scale3d(factor), matrix)
  if "lumaflip" in transforms:
    flips = tf.floor(draws.uniform("lumaflip", maxval=2.0))
    matrix = _compose(luma_flip(draws.gated("lumaflip", flips, 0.0)), matrix)
  if "hue" in transforms and channels > 1:
    theta = draws.gated("hue", draws.uniform("hue", minval=-math.pi, maxval=math.pi), 0.0)
    matrix = _compose(hue_rotation(theta), matrix)
  if "saturation" in transforms and channels > 1:
    factor = draws.gated("saturation", _exp2(draws.normal("saturation", stddev=_SATURATION_STD)), 1.0)
    matrix = _compose(saturation_scale(factor), matrix)
  return apply_color(images, draws.local(matrix), pixel_bounds)


# ---- the pipeline --------------------------------------------------------------------------------


def ada_augment(images, p, seed, replica_id=0, num_replicas=1, transforms=DEFAULT_TRANSFORMS,
                pixel_bounds=(-1.0, 1.0)):
  """`images` [B, H, W, C] with each of `transforms` (from `parse_set`) applied with probability `p`.

  `p`: a float32 scalar (tensor or variable); `seed`: a [2] integer tensor for this global batch;
  `replica_id`/`num_replicas`: which slice of the global batch this replica holds. The arithmetic is
  float32 and the result is cast back to the input dtype. Nothing is computed while p is 0.
  """
  if not transforms:
    return images
  pixels = tf.cast(images, tf.float32)
  p = tf.cast(p, tf.float32)

  def augmented():
    draws = _Draws(seed, tf.shape(pixels)[0], p, replica_id, num_replicas)
    out = pixels
    if set(transforms) & set(GROUPS["b"]):
      out = _blit(out, draws, transforms)
    if set(transforms) & set(GROUPS["g"]):
      out = _geometric(out, draws, transforms)
    if set(transforms) & set(GROUPS["c"]):
      out = _color(out, draws, transforms, pixel_bounds)
    return out

  return tf.cast(tf.cond(p > 0, augmented, lambda: pixels), images.dtype)


# ---- the controller ------------------------------------------------------------------------------


def real_sign_sum(real_logits):
  """Sum of sign(D(real)) over this replica's images: the controller's statistic, before the sum over
  replicas."""
  return tf.reduce_sum(tf.sign(tf.cast(real_logits, tf.float32)))


class AdaController(tf.Module):
  """p and the overfitting statistic r_t = E[sign(D(real))] it is tuned from (the paper's section 3).

  After every training step, in cross-replica context, call `update(sign_sum, count, step)` with the sum
  of sign(D(real logit)) over the step's global batch and the number of reals it covers. Every
  `interval` steps (when step + 1 is a multiple of it), r_t = sum / count over those steps, then
  p += sign(r_t - target) * count / (kimg * 1000), clipped to [0, 1], and the sums restart: p can go
  from 0 to 1 in kimg thousand reals. (The paper clips at 0 only; p above 1 would change nothing here.)
  Every number lives in a variable, so a checkpoint that tracks this module resumes it exactly.
  """

  def __init__(self, target=0.6, interval=4, kimg=500, name="ada"):
    super().__init__(name=name)
    if not 0 <= target <= 1 or interval < 1 or kimg <= 0:
      raise ValueError(f"ADA needs 0 <= target <= 1, interval >= 1 and kimg > 0 (got target={target}, "
                       f"interval={interval}, kimg={kimg}).")
    self.target, self.interval, self.speed_images = float(target), int(interval), float(kimg) * 1000

    def variable(variable_name):
      # Written only in cross-replica context, to the same value on every replica.
      return tf.Variable(0.0, trainable=False, name=variable_name, dtype=tf.float32,
                         synchronization=tf.VariableSynchronization.ON_WRITE,
                         aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

    with self.name_scope:
      self.p = variable("p")
      self.r_t = variable("r_t")  # the last interval's r_t, for logging
      self.sign_sum = variable("sign_sum")
      self.count = variable("count")

  def update(self, sign_sum, count, step):
    """Adds one step's statistic; every `interval` steps, moves p. Returns the (new) p."""
    sign_sum = self.sign_sum.assign_add(tf.cast(sign_sum, tf.float32))
    count = self.count.assign_add(tf.cast(count, tf.float32))

    def adjust():
      r_t = sign_sum / tf.maximum(count, 1.0)
      step_size = tf.sign(r_t - self.target) * count / self.speed_images
      self.p.assign(tf.clip_by_value(self.p + step_size, 0.0, 1.0))
      self.r_t.assign(r_t)
      self.sign_sum.assign(0.0)
      self.count.assign(0.0)
      return tf.identity(self.p)

    due = tf.equal(tf.math.floormod(tf.cast(step, tf.int64) + 1, self.interval), 0)
    return tf.cond(due, adjust, lambda: tf.identity(self.p))
