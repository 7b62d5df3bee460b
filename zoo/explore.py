"""The latent space of a noise-to-image generator: its noise stream, truncation and interpolation.

One noise stream serves runs (zoo/sampling.py) and pretrained packages (zoo/pretrained.py), so the same
seed gives the same samples from a run and from the package made of it. Sample i of seed s is row i of
the stream [s, 500 k] that starts at its batch (`noise`).

Truncation (BigGAN, Brock et al. 2019) resamples every noise value with |z_i| > t from the standard
normal restricted to [-t, t]; values inside keep their place in the stream, so a truncated sample
differs from the untruncated one of the same seed only where the noise was large. It trades variety
for typicality: precision rises and recall falls as t shrinks.

Interpolation is spherical (slerp, Shoemake 1985; White 2016 for GAN latents): a Gaussian z lives near
the sphere of radius sqrt(D), and the straight line between two such points passes inside it, through
noise the generator rarely saw.
"""
import numpy as np
import tensorflow as tf

RESAMPLE_STREAM = 1  # folded into a batch's seed for the values that truncation replaces


INT64 = (-2 ** 63, 2 ** 63 - 1)  # the seeds a stateless stream takes


def noise(latent_dim: int, size: int, seed: int, offset: int = 0, truncation=None):
  """z float32 [size, latent_dim] for samples offset..offset+size of the stream of `seed`, truncated to
  |z_i| <= `truncation` when it is set."""
  stream = tf.constant([check_seed(seed), offset], tf.int64)
  z = tf.random.stateless_normal([size, latent_dim], seed=stream)
  return z if truncation is None else truncate(z, truncation, stream)


def check_seed(seed) -> int:
  """`seed` as an int, or a ValueError naming it: a whole number that fits in 64 bits."""
  if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not INT64[0] <= seed <= INT64[1]:
    raise ValueError(f"--seed={seed!r} must be a whole number from {INT64[0]} to {INT64[1]}, e.g. 0.")
  return int(seed)


def check_truncation(truncation):
  """`truncation` as a float, or a ValueError: it must be positive (None: no truncation)."""
  if truncation is None:
    return None
  try:
    truncation = float(truncation)
  except (TypeError, ValueError):
    raise ValueError(f"--truncation={truncation!r} must be a positive number, e.g. 0.7 (or leave it unset "
                     "for none).") from None
  if not truncation > 0:
    raise ValueError(f"--truncation={truncation} must be positive, e.g. 0.7 (or leave it unset for none).")
  return truncation


def truncate(z, truncation: float, seed):
  """z with every value beyond +-`truncation` replaced by a draw from the normal restricted to that range.

  The replacement is exact (inverse CDF of the truncated normal), which is what BigGAN's rejection
  loop converges to, and seeded by `seed` [2], so the same batch always truncates the same way.
  """
  truncation = check_truncation(truncation)
  z = tf.convert_to_tensor(z, tf.float32)
  uniform = tf.random.stateless_uniform(tf.shape(z), tf.random.experimental.stateless_fold_in(
      tf.cast(seed, tf.int64), RESAMPLE_STREAM), dtype=tf.float64)
  edge = 0.5 * tf.math.erfc(tf.constant(truncation / np.sqrt(2.0), tf.float64))  # Phi(-t)
  inside = tf.math.ndtri(edge + uniform * (1.0 - 2.0 * edge))
  inside = tf.cast(tf.clip_by_value(inside, -truncation, truncation), tf.float32)  # float64 rounding
  return tf.where(tf.abs(z) > truncation, inside, z)


def slerp(z0, z1, t):
  """Spherical interpolation from z0 [..., D] (t = 0) to z1 (t = 1), float32; t broadcasts against the
  batch dimensions. Nearly parallel vectors fall back to the straight line, where slerp tends to it."""
  z0, z1 = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
  t = np.asarray(t, np.float64)[..., None]
  unit0 = z0 / np.linalg.norm(z0, axis=-1, keepdims=True)
  unit1 = z1 / np.linalg.norm(z1, axis=-1, keepdims=True)
  omega = np.arccos(np.clip(np.sum(unit0 * unit1, axis=-1, keepdims=True), -1.0, 1.0))
  sin_omega = np.sin(omega)
  parallel = sin_omega < 1e-6
  safe = np.where(parallel, 1.0, sin_omega)
  curved = (np.sin((1.0 - t) * omega) / safe) * z0 + (np.sin(t * omega) / safe) * z1
  straight = (1.0 - t) * z0 + t * z1
  return np.where(parallel, straight, curved).astype(np.float32)


def path(endpoints, steps: int, closed: bool = False):
  """[segments, steps, D]: slerp from each endpoint [K, D] to the next, `steps` points per segment
  including both ends; `closed` adds the segment from the last back to the first (an animation loop)."""
  endpoints = np.asarray(endpoints, np.float32)
  if steps < 2:
    raise ValueError(f"--steps={steps}: an interpolation needs at least 2 points (its two ends).")
  if len(endpoints) < 2:
    raise ValueError(f"An interpolation needs at least 2 endpoints, got {len(endpoints)}.")
  ends = np.concatenate([endpoints, endpoints[:1]]) if closed else endpoints
  t = np.linspace(0.0, 1.0, steps)
  return np.stack([slerp(ends[i][None], ends[i + 1][None], t) for i in range(len(ends) - 1)])


def write_gif(out: str, frames, seconds_per_frame: float = 0.08) -> None:
  """uint8 frames [N, H, W, C] (C 1 or 3) as an endlessly looping GIF, written atomically."""
  import io
  from PIL import Image
  from zoo import files
  frames = np.asarray(frames)
  if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] not in (1, 3):
    raise ValueError(f"GIF frames must be uint8 [N, H, W, 1 or 3], got {frames.dtype} {frames.shape}.")
  pictures = [Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame) for frame in frames]
  buffer = io.BytesIO()
  pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], loop=0,
                   duration=max(int(seconds_per_frame * 1000), 20))
  files.write_bytes(out, buffer.getvalue())
