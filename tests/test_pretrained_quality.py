"""CI guards what ships: every noise-to-image package in zoo/pretrained/ scores as its card says.

For each package, `zoo.evaluate --pretrained` of 2,000 samples (the card's noise seed, no bootstrap) must
give the FID and recall that `experiments/train_pretrained.py` recorded in the card's quality_check,
within its tolerance. The same generator, noise and protocol give the same numbers up to rounding, so a
change that breaks sampling, export, the EMA generator or preprocessing fails here.
"""
import os

import pytest

from tests.conftest import DATA_DIR
from zoo import pretrained


def _shipped():
  """(name, card) of the packages installed with the zoo (not $ZOO_PRETRAINED_DIR's) that carry a check."""
  found = []
  for model in sorted(os.listdir(pretrained.SHIPPED)):
    if not os.path.isdir(os.path.join(pretrained.SHIPPED, model)):
      continue
    for dataset in sorted(os.listdir(os.path.join(pretrained.SHIPPED, model))):
      card = pretrained.read_card(os.path.join(pretrained.SHIPPED, model, dataset))
      if "quality_check" in card:
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
