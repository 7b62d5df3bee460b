"""The emoji dataset (zoo/data/emoji.py, python -m zoo.emoji): the packaged Unicode groups, rendering, the
fixed split, --dataset=emoji through zoo.data, and the one-line error without the font."""
import collections
import os

import numpy as np
import pytest
from PIL import Image

from tests.helpers import run_module
from zoo import data
from zoo.data import emoji, folder

# A few emoji of different groups; the first two are in the test split.
FEW = [emoji.Emoji(0x1F600, "Smileys & Emotion", "grinning face"),
       emoji.Emoji(0x1F680, "Travel & Places", "rocket"),
       emoji.Emoji(0x1F436, "Animals & Nature", "dog face"),
       emoji.Emoji(0x2615, "Food & Drink", "hot beverage"),
       emoji.Emoji(0x1F4A1, "Objects", "light bulb")]
# Pinned: the split of the 1,372 emoji (train, test) per class folder; it must never change.
SPLIT_COUNTS = {
    "activities": (71, 14), "animals_and_nature": (122, 26), "food_and_drink": (103, 30),
    "objects": (220, 41), "people_and_body": (124, 32), "smileys_and_emotion": (124, 36),
    "symbols": (172, 39), "travel_and_places": (172, 46),
}


@pytest.fixture(scope="module")
def font():
  if not os.path.isfile(emoji.font_path()):
    pytest.fail(f"{emoji.font_path()} is missing: apt-get install fonts-noto-color-emoji")
  return emoji.load_font()


@pytest.fixture
def cache_base(tmp_path, monkeypatch):
  monkeypatch.setenv(folder.CACHE_ENV, str(tmp_path / "cache"))
  folder.clear_memory_cache()
  yield str(tmp_path / "cache")
  folder.clear_memory_cache()


def test_parse_emoji_test_keeps_single_code_points_with_their_group():
  text = "\n".join([
      "# group: Smileys & Emotion",
      "1F600                                  ; fully-qualified     # 😀 E1.0 grinning face",
      "263A FE0F                              ; fully-qualified     # ☺️ E0.6 smiling face",
      "263A                                   ; unqualified         # ☺ E0.6 smiling face",
      "1F62E 200D 1F4A8                       ; fully-qualified     # 😮‍💨 E13.1 face exhaling",
      "# group: Component",
      "1F3FB                                  ; component           # 🏻 E1.0 light skin tone",
      "# group: Flags",
      "1F1E6 1F1E8                            ; fully-qualified     # 🇦🇨 E2.0 flag: Ascension Island",
  ])
  assert emoji.parse_emoji_test(text) == [
      ("1F600", "Smileys & Emotion", "grinning face"), ("263A", "Smileys & Emotion", "smiling face"),
      ("1F3FB", "Component", "light skin tone")]


def test_packaged_groups_say_where_they_come_from_and_the_dataset_has_eight_classes():
  table = emoji.read_groups()
  assert "Unicode Emoji 15.0" in table["source"] and "unicode-data 15.0.0-1" in table["source"]
  assert len(table["source_sha256"]) == 64
  chosen = emoji.emoji_list(table)
  assert len(chosen) == 1372 and len({item.code_point for item in chosen}) == 1372
  assert sorted({emoji.class_folder(item.group) for item in chosen}) == sorted(SPLIT_COUNTS)
  assert not {item.group for item in chosen} & set(emoji.LEFT_OUT_GROUPS)


def test_the_split_is_fixed_by_the_code_point():
  counts = collections.defaultdict(lambda: [0, 0])
  for item in emoji.emoji_list():
    counts[emoji.class_folder(item.group)][emoji.split_of(item.code_point) == "test"] += 1
  assert {name: tuple(pair) for name, pair in counts.items()} == SPLIT_COUNTS
  assert [emoji.split_of(item.code_point) for item in FEW] == ["test", "test", "train", "train", "train"]


def test_render_draws_a_64x64_colour_emoji_on_white(font):
  image = emoji.render(font, 0x1F600)  # grinning face: a yellow disc
  assert image.shape == (64, 64, 3) and image.dtype == np.uint8
  np.testing.assert_array_equal(image[0, 0], [255, 255, 255])  # corners stay white
  centre = image[24:40, 24:40].reshape(-1, 3).astype(int)
  assert np.mean((centre[:, 0] > 200) & (centre[:, 1] > 150) & (centre[:, 2] < 100)) > 0.3  # yellow
  assert not emoji.has_glyph(font, ord("A"))  # the font draws emoji only


def test_render_folder_writes_labelled_splits_deterministically(font, tmp_path):
  first = emoji.render_folder(str(tmp_path / "a"), FEW)
  second = emoji.render_folder(str(tmp_path / "b"), FEW)
  assert first == second
  assert first["counts"] == {"train": {"animals_and_nature": 1, "food_and_drink": 1, "objects": 1},
                             "test": {"smileys_and_emotion": 1, "travel_and_places": 1}}
  paths = sorted(os.path.relpath(os.path.join(d, f), tmp_path / "a")
                 for d, _, files in os.walk(tmp_path / "a") for f in files if f.endswith(".png"))
  assert paths == ["test/smileys_and_emotion/1F600.png", "test/travel_and_places/1F680.png",
                   "train/animals_and_nature/1F436.png", "train/food_and_drink/2615.png",
                   "train/objects/1F4A1.png"]
  for path in paths:
    assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes()
    with Image.open(tmp_path / "a" / path) as image:
      assert image.size == (64, 64) and image.mode == "RGB"
      assert np.asarray(image).min() < 128  # not blank
  with pytest.raises(ValueError, match="not an empty folder"):
    emoji.render_folder(str(tmp_path / "a"), FEW)


def test_dataset_emoji_reads_a_rendered_folder_and_else_renders_into_the_cache(font, tmp_path, cache_base,
                                                                               monkeypatch):
  monkeypatch.setattr(emoji, "emoji_list", lambda groups=None: FEW)
  rendered = str(tmp_path / "rendered")
  emoji.render_folder(rendered)
  assert data.folder_root("emoji", rendered) == rendered
  names = ("animals_and_nature", "food_and_drink", "objects", "smileys_and_emotion", "travel_and_places")
  assert data.class_names("emoji", rendered) == names
  images, labels = zip(*data.load_examples("emoji", "test", rendered, 64).as_numpy_iterator())
  assert sorted(labels) == [3, 4] and np.stack(images).shape == (2, 64, 64, 3)
  # A data_dir without a rendered set (a TFDS data directory) is not read: the cache's copy is.
  root = data.folder_root("emoji", str(tmp_path))
  assert root.startswith(cache_base) and emoji.is_rendered(root)
  assert data.folder_root("emoji", None) == root
  assert data.image_shape("emoji", 64) == (64, 64, 3)
  assert data.num_examples("emoji", "train", None, 64) == 3


def test_missing_font_is_one_line_naming_the_package(tmp_path, cache_base, monkeypatch):
  monkeypatch.setenv(emoji.FONT_ENV, str(tmp_path / "NotoColorEmoji.ttf"))
  with pytest.raises(emoji.FontMissingError, match="apt-get install fonts-noto-color-emoji"):
    emoji.render_folder(str(tmp_path / "out"), FEW)
  with pytest.raises(data.DataUnavailableError, match="apt-get install fonts-noto-color-emoji"):
    data.image_shape("emoji", 64)
  assert not os.path.exists(tmp_path / "out")


def test_cli_without_the_font_fails_with_one_line(tmp_path):
  result = run_module("zoo.emoji", f"--out={tmp_path / 'out'}",
                      env={emoji.FONT_ENV: str(tmp_path / "missing.ttf")})
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      f"error: The Noto Color Emoji font {tmp_path / 'missing.ttf'} is not installed: run `apt-get install "
      "fonts-noto-color-emoji` (or set $ZOO_EMOJI_FONT to a copy of NotoColorEmoji.ttf).")


def test_the_emoji_set_brings_its_own_size_to_any_models_defaults():
  from zoo import config as config_lib
  config = config_lib.resolve("dcgan", "", {"dataset": "emoji"})  # dcgan's defaults pad digits to 32
  assert (config.image_size, config.image_resize) == (64, "area")
  flagged = config_lib.resolve("dcgan", "", {"dataset": "emoji", "image_size": 32})
  assert (flagged.image_size, flagged.image_resize) == (32, "area")
  assert config_lib.resolve("dcgan", "", {}).image_resize == "pad"  # MNIST keeps the model's defaults
