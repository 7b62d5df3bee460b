"""CI guards what ships: every package in zoo/pretrained/ scores as its card says.

For a noise-to-image package, `zoo.evaluate --pretrained` of 2,000 samples (the card's noise seed, no
bootstrap) must give the FID and recall that `experiments/train_pretrained.py` recorded in the card's
quality_check, within its tolerance; for a restorer or the codec, its PSNR and SSIM (and bpp) over the
first 1,000 test images. The same generator, noise and inputs give the same numbers up to rounding, so a
change that breaks sampling, export, the EMA generator, degradation or preprocessing fails here. The
colouriser's test patches are rebuilt offline by zoo.photo_patches from the photos in the scikit-image
wheel, as its package was trained on them.
"""
import os

import pytest

from tests.conftest import DATA_DIR
from zoo import pretrained


def _shipped(kind="samples"):
  """(name, card) of the packages installed with the zoo (not $ZOO_PRETRAINED_DIR's) that carry a check of
  `kind`: "samples" (FID and recall of samples) or "fidelity" (a restorer's or codec's PSNR and SSIM)."""
  found = []
  for model in sorted(os.listdir(pretrained.SHIPPED)):
    if not os.path.isdir(os.path.join(pretrained.SHIPPED, model)):
      continue
    for dataset in sorted(os.listdir(os.path.join(pretrained.SHIPPED, model))):
      card = pretrained.read_card(os.path.join(pretrained.SHIPPED, model, dataset))
      check = card.get("quality_check", {})
      if check and ("fid" in check["metrics"]) == (kind == "samples"):
        found.append(pytest.param(f"{model}/{dataset}", card, id=f"{model}/{dataset}"))
  return found


@pytest.mark.parametrize("name, card", _shipped())
def test_a_shipped_package_scores_as_its_card_says(name, card, monkeypatch):
  from zoo import evaluate
  monkeypatch.delenv(pretrained.ENV, raising=False)  # the shipped copy, nothing else
  check = card["quality_check"]
  record = evaluate.evaluate_package(name, check["num_samples"], DATA_DIR, seed=check["noise_seed"],
                                     bootstrap=0)
  expected, got, tolerance = check["metrics"], record["metrics"], check["tolerance"]
  fid_allowed = tolerance["fid_absolute"] + tolerance["fid_relative"] * expected["fid"]
  assert abs(got["fid"] - expected["fid"]) <= fid_allowed, (name, got["fid"], expected["fid"])
  assert abs(got["recall"] - expected["recall"]) <= tolerance["recall_absolute"], (name, got, expected)


def _photo_patch_test_split(folder, size, num_test, seed):
  """The test patches zoo.photo_patches cuts with these settings (they do not depend on --num)."""
  from zoo.data import photos
  photos.build_patch_folder(str(folder), size=size, num=1, num_test=num_test, seed=seed)
  return str(folder)


@pytest.mark.parametrize("name, card", _shipped(kind="fidelity"))
def test_a_shipped_restorer_or_codec_scores_as_its_card_says(name, card, tmp_path):
  from experiments import package
  check = card["quality_check"]
  data_dir = (_photo_patch_test_split(tmp_path / "patches", **check["photo_patches"])
              if "photo_patches" in check else DATA_DIR)
  got = package.fidelity(name, check["split"], data_dir)
  expected, tolerance = check["metrics"], check["tolerance"]
  assert abs(got["psnr"] - expected["psnr"]) <= tolerance["psnr_absolute"], (name, got, expected)
  assert abs(got["ssim"] - expected["ssim"]) <= tolerance["ssim_absolute"], (name, got, expected)
  if "bpp" in expected:
    assert abs(got["bpp"] - expected["bpp"]) <= tolerance["bpp_relative"] * expected["bpp"], (name, got)


def test_every_shipped_package_is_guarded():
  guarded = {param.values[0] for param in _shipped() + _shipped(kind="fidelity")}
  shipped = {f"{model}/{name}" for model in os.listdir(pretrained.SHIPPED)
             if os.path.isdir(os.path.join(pretrained.SHIPPED, model))
             for name in os.listdir(os.path.join(pretrained.SHIPPED, model))}
  assert shipped == guarded
