"""Seeded image degradations for image-to-image restoration (`image_gan`, its baselines, `zoo.restore`).

Every function takes float images [B, H, W, C] in [0, 1] and a stateless-RNG seed [2] and returns
images of the same shape in [0, 1], so a degraded image is a valid picture (it can be saved as a PNG
and fed back through `zoo.restore`). They are pure TF ops: usable inside tf.data, and the same seed
gives the same result on any machine or number of replicas.

- denoise:  adds Gaussian noise of standard deviation `noise_sigma` (in [0, 1] units), then clips;
- inpaint:  paints one random `mask_size` x `mask_size` square per image with `MASK_VALUE`;
- superres: `scale` x area downsampling, then bicubic upsampling back to the original size, so the
            generator maps images to images of one shape (the low-resolution picture is kept whole:
            bicubic interpolation passes through it, nothing is lost beyond the downsampling);
- colorize: replaces RGB by its luma (ITU-R BT.601 weights) in all three channels.
"""
import tensorflow as tf

TASKS = ("denoise", "inpaint", "superres", "colorize")
# Mid-grey marks the hole: MNIST-like images are mostly near 0 or 1, so a flat 0.5 square is easy for
# a network to locate, and a user can mark a hole for `zoo.restore` by painting it with grey 128.
MASK_VALUE = 128 / 255
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def _check_images(images):
  if images.shape.rank != 4:
    raise ValueError(f"Degradations want images [B, H, W, C], got shape {images.shape}.")


def add_noise(images, seed, noise_sigma):
  """Gaussian noise of standard deviation `noise_sigma`, clipped back to [0, 1]."""
  _check_images(images)
  if noise_sigma <= 0:
    raise ValueError(f"noise_sigma must be positive, got {noise_sigma}.")
  noise = tf.random.stateless_normal(tf.shape(images), seed=seed, dtype=images.dtype)
  return tf.clip_by_value(images + noise_sigma * noise, 0.0, 1.0)


def square_masks(images, seed, mask_size):
  """Float masks [B, H, W, 1], 1 inside one square of side `mask_size` per image, placed uniformly."""
  batch, (height, width) = tf.shape(images)[0], images.shape[1:3]
  if not 0 < mask_size <= min(height, width):
    raise ValueError(f"mask_size must be between 1 and the image side {min(height, width)}, got "
                     f"{mask_size}.")
  # Integer draws take one scalar range only; scaling uniform floats gives each axis its own.
  positions = tf.constant([height - mask_size + 1, width - mask_size + 1], tf.float32)
  corners = tf.cast(tf.random.stateless_uniform([batch, 2], seed=seed) * positions, tf.int32)
  rows = tf.range(height)[None, :, None]
  columns = tf.range(width)[None, None, :]
  top, left = corners[:, 0, None, None], corners[:, 1, None, None]
  inside = ((rows >= top) & (rows < top + mask_size) & (columns >= left) & (columns < left + mask_size))
  return tf.cast(inside, tf.float32)[..., None]


def mask_square(images, seed, mask_size):
  """Each image with one random square painted `MASK_VALUE`."""
  _check_images(images)
  masks = tf.cast(square_masks(images, seed, mask_size), images.dtype)
  return images * (1.0 - masks) + MASK_VALUE * masks


def downsample(images, scale):
  """Area (box-filter) downsampling by an integer factor: each output pixel is one block's mean."""
  _check_images(images)
  height, width = images.shape[1], images.shape[2]
  if scale < 2 or height % scale or width % scale:
    raise ValueError(f"superres scale must be an integer >= 2 dividing the image size {height}x{width}, "
                     f"got {scale}.")
  return tf.nn.avg_pool2d(images, ksize=scale, strides=scale, padding="VALID")


def upsample_bicubic(images, size):
  return tf.clip_by_value(tf.image.resize(images, size, method="bicubic"), 0.0, 1.0)


def low_resolution(images, scale):
  """`scale`x downsampled, then bicubic back to the input size: what the generator sees for superres."""
  return upsample_bicubic(downsample(images, scale), images.shape[1:3])


def to_grayscale(images):
  """RGB -> luma, repeated in three channels so input and output shapes match."""
  _check_images(images)
  if images.shape[-1] != 3:
    raise ValueError(f"colorize needs RGB images (3 channels), got {images.shape[-1]} channel(s); "
                     "use an RGB dataset, or another --task (denoise, inpaint, superres).")
  luma = tf.reduce_sum(images * tf.constant(LUMA_WEIGHTS, images.dtype), axis=-1, keepdims=True)
  return tf.repeat(luma, 3, axis=-1)


def check_task(task, channels):
  """Raises a ValueError naming the fix when `task` is unknown or does not fit the data."""
  if task not in TASKS:
    raise ValueError(f"Unknown task {task!r}; valid tasks: {', '.join(TASKS)} (e.g. --task=denoise).")
  if task == "colorize" and channels != 3:
    raise ValueError(f"--task=colorize needs an RGB dataset; this one has {channels} channel(s). Use "
                     "--task=denoise, inpaint or superres, or an RGB dataset such as celeb_a.")


def degrade(images, seed, task, noise_sigma=0.3, mask_size=14, scale=4):
  """Applies `task` to images [B, H, W, C] in [0, 1] with the stateless seed [2]."""
  check_task(task, images.shape[-1])
  images = tf.convert_to_tensor(images, tf.float32)
  if task == "denoise":
    return add_noise(images, seed, noise_sigma)
  if task == "inpaint":
    return mask_square(images, seed, mask_size)
  if task == "superres":
    return low_resolution(images, scale)
  return to_grayscale(images)
