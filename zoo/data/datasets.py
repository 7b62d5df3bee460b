"""The dataset names the zoo knows, and the errors that say why data could not be read."""
import dataclasses
import os
from typing import Any, Optional, Tuple

DATA_DIR_ENV = "TFDS_DATA_DIR"


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  tfds_name: Optional[str]  # None: an image folder at --data_dir (zoo/data/folder.py)
  center_crop: Optional[int] = None  # square crop (pixels) taken before resizing, for face photos
  channels: Optional[int] = None  # folders: 1 or 3 forced; None: detected from the images
  rendered: bool = False  # a folder the zoo makes itself (emoji): found or made by `zoo.data.folder_root`
  # A domain classifier ships for it (zoo/metrics/classifiers/), so scoring samples is cheap and offline:
  # a default run logs FID and recall while it trains (TrainConfig.eval_every).
  classifier: bool = False
  # TrainConfig settings this dataset needs whatever the model's defaults are (flags and --recipe still
  # win), e.g. the emoji's own 64x64 side where a model's defaults pad 28x28 digits to 32x32.
  defaults: Tuple[Tuple[str, Any], ...] = ()

  @property
  def is_folder(self) -> bool:
    return self.tfds_name is None


DATASETS = {
    "mnist": DatasetInfo("mnist", classifier=True),
    "fashion_mnist": DatasetInfo("fashion_mnist", classifier=True),
    # Aligned CelebA faces are 218x178; the DCGAN convention crops the central 140x140 face region.
    "celeb_a": DatasetInfo("celeb_a", center_crop=140),
    # Your own images: --dataset=folder --data_dir=PATH (docs/data.md). The suffix forces the channels.
    "folder": DatasetInfo(None),
    "folder_rgb": DatasetInfo(None, channels=3),
    "folder_gray": DatasetInfo(None, channels=1),
    # The Noto Color Emoji font rendered at 64x64, labelled by Unicode emoji group (zoo/data/emoji.py).
    "emoji": DatasetInfo(None, channels=3, rendered=True, classifier=True,
                         defaults=(("image_size", 64), ("image_resize", "area"))),
}


class DataUnavailableError(RuntimeError):
  """The dataset is neither prepared in the data directory nor downloadable from here."""


class FolderError(DataUnavailableError, ValueError):
  """An image folder that cannot be read as a dataset; the message says what is wrong and what to do.

  Both a DataUnavailableError and a ValueError, so callers that catch either see it.
  """


def resolve_data_dir(data_dir: Optional[str]) -> Optional[str]:
  return data_dir or os.environ.get(DATA_DIR_ENV) or None


def dataset_info(dataset: str) -> DatasetInfo:
  if dataset not in DATASETS:
    raise ValueError(f"Unknown dataset {dataset!r}. Valid names: {', '.join(sorted(DATASETS))}.")
  return DATASETS[dataset]


def is_folder(dataset: str) -> bool:
  """Whether `dataset` names an image folder (read from --data_dir) rather than a TFDS dataset."""
  return dataset_info(dataset).is_folder
