"""Full-reference fidelity of reconstructions: PSNR and SSIM on uint8 images, per image.

Both follow the usual definitions with a peak of 255: PSNR = 10 log10(255^2 / MSE), SSIM with an 11x11
Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, averaged over channels (tf.image.ssim). A pair of
identical images has infinite PSNR; callers that average should cap or report it (see `psnr`).
"""
import numpy as np
import tensorflow as tf

_BATCH = 1000


def _check_pairs(reference, distorted):
  reference, distorted = np.asarray(reference), np.asarray(distorted)
  if reference.shape != distorted.shape or reference.ndim != 4:
    raise ValueError(f"Want two uint8 batches [N, H, W, C] of one shape, got {reference.shape} and "
                     f"{distorted.shape}.")
  if reference.dtype != np.uint8 or distorted.dtype != np.uint8:
    raise ValueError(f"Want uint8 images, got {reference.dtype} and {distorted.dtype}.")
  return reference, distorted


def psnr(reference, distorted, max_db: float = 100.0) -> np.ndarray:
  """Per-image PSNR in dB, [N]; identical images get `max_db` instead of infinity."""
  reference, distorted = _check_pairs(reference, distorted)
  diff = reference.astype(np.float64) - distorted.astype(np.float64)
  mse = np.mean(diff * diff, axis=(1, 2, 3))
  with np.errstate(divide="ignore"):
    values = 10.0 * np.log10(255.0**2 / mse)
  return np.minimum(values, max_db)


def ssim(reference, distorted) -> np.ndarray:
  """Per-image SSIM, [N]."""
  reference, distorted = _check_pairs(reference, distorted)
  scores = [tf.image.ssim(tf.constant(reference[i:i + _BATCH]), tf.constant(distorted[i:i + _BATCH]),
                          max_val=255).numpy()
            for i in range(0, len(reference), _BATCH)]
  return np.concatenate(scores) if scores else np.zeros([0], np.float32)
