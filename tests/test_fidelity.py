import numpy as np
import pytest

from zoo.metrics import fidelity


def test_psnr_matches_its_definition():
  rng = np.random.default_rng(0)
  a = rng.integers(0, 256, [3, 8, 8, 1], dtype=np.uint8)
  b = np.clip(a.astype(int) + 10, 0, 255).astype(np.uint8)
  mse = np.mean((a.astype(float) - b) ** 2, axis=(1, 2, 3))
  np.testing.assert_allclose(fidelity.psnr(a, b), 10 * np.log10(255**2 / mse))
  assert np.all(fidelity.psnr(a, a) == 100.0)


def test_ssim_is_one_for_identical_images_and_falls_with_more_noise():
  rng = np.random.default_rng(0)
  a = np.tile(np.linspace(0, 255, 28).astype(np.uint8)[None, None, :, None], [2, 28, 1, 1])

  def noisy(amplitude):
    return np.clip(a.astype(int) + rng.integers(-amplitude, amplitude + 1, a.shape), 0, 255).astype(np.uint8)

  np.testing.assert_allclose(fidelity.ssim(a, a), 1.0, atol=1e-5)
  assert np.all(fidelity.ssim(a, noisy(80)) < fidelity.ssim(a, noisy(10)))
  assert np.all(fidelity.ssim(a, noisy(10)) < 0.99)


def test_bad_inputs_are_rejected():
  with pytest.raises(ValueError, match="one shape"):
    fidelity.psnr(np.zeros([1, 4, 4, 1], np.uint8), np.zeros([1, 4, 4, 3], np.uint8))
  with pytest.raises(ValueError, match="uint8"):
    fidelity.ssim(np.zeros([1, 4, 4, 1], np.float32), np.zeros([1, 4, 4, 1], np.float32))
