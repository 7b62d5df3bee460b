"""--eval_every's default: about ten evaluations where scoring is cheap (a shipped domain classifier and a
model that samples from noise), none elsewhere or in a smoke run."""
import os

import pytest

from zoo import config as config_lib
from zoo.data import datasets
from zoo.metrics import classifier


@pytest.mark.parametrize("model, overrides, expected", [
    ("dcgan", {}, 9375 // 10),
    ("dcgan", {"dataset": "fashion_mnist", "steps": 2000}, 200),
    ("dcgan", {"dataset": "emoji", "steps": 2344}, 234),
    ("dense_gan", {}, 2000),
    ("dcgan", {"steps": 999}, 0),                       # a smoke run: evaluations would dominate it
    ("dcgan", {"dataset": "folder_rgb"}, 0),            # no classifier: the FID Inception is slow/offline
    ("image_gan", {}, 0),                               # restores images, does not sample from noise
    ("dcgan", {"eval_every": 0}, 0),
    ("dcgan", {"eval_every": 50}, 50),
    ("dcgan", {"eval_every": -1, "steps": 5000}, 500),
])
def test_default_eval_every(model, overrides, expected):
  assert config_lib.resolve(model, "/tmp/unused", overrides).eval_every == expected


def test_datasets_marked_with_a_classifier_are_those_that_ship_one():
  marked = {name for name, info in datasets.DATASETS.items() if info.classifier}
  shipped = {name for name in datasets.DATASETS if os.path.exists(classifier.weights_path(name))}
  assert marked == shipped == {"mnist", "fashion_mnist", "emoji"}


def test_an_explicit_negative_interval_other_than_auto_is_refused():
  with pytest.raises(ValueError, match=r"--eval_every must be -1 .* got -2\."):
    config_lib.resolve("dcgan", "/tmp/unused", {"eval_every": -2})
