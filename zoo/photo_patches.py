"""Builds a folder of real RGB photo patches for `--dataset=folder` (docs/data.md), offline.

  python -m zoo.photo_patches --out=data/photo_patches                      # 4,000 train + 1,000 test, 64x64
  python -m zoo.photo_patches --out=/tmp/patches --size=32 --num=40 --seed=1

The patches are cut from public-domain and CC0 photos that ship inside the scikit-image wheel
(`pip install scikit-image`); test patches come from other photos than train patches. A patch is never
larger than the short side of its photo unless `--upsample` allows it: such patches are enlarged photos,
not photo detail.
"""
import os

from absl import flags

from zoo import cli  # before TensorFlow: keeps its C++ start-up lines quiet
from zoo import files

FLAGS = flags.FLAGS


def define_flags():
  """Defined only when run as a script, so importing this module never clashes with other CLIs' flags."""
  flags.DEFINE_string("out", None, "Folder to create (must not exist, or be empty).", required=True)
  flags.DEFINE_integer("size", 64, "Side of the square patches, in pixels.")
  flags.DEFINE_integer("num", 4000, "Number of train patches.")
  flags.DEFINE_integer("num_test", None, "Number of test patches (default: num // 4).")
  flags.DEFINE_integer("seed", 0, "Seed of the patch positions and scales (same seed, same folder).")
  flags.DEFINE_boolean("upsample", False, "Allow a --size above a photo's short side (its patches are then "
                       "the whole photo, enlarged).")


def check_size(size, shapes, upsample):
  """One line, as an error (or, with `upsample`, a warning), when `size` exceeds a photo's short side.

  `shapes` maps photo names to their [H, W, C]. Returns the warning, or None when every photo is large
  enough."""
  small = {name: shape for name, shape in shapes.items() if min(shape[:2]) < size}
  if not small:
    return None
  largest = min(min(shape[:2]) for shape in shapes.values())
  named = ", ".join(f"{name} {shape[1]}x{shape[0]}" for name, shape in small.items())
  message = (f"--size={size} is larger than the short side of {len(small)} of the {len(shapes)} photos "
             f"({named}): their patches would be whole photos enlarged")
  if not upsample:
    raise ValueError(f"{message}. Use --size={largest} or less, or pass --upsample to allow it.")
  return f"warning: {message} (--upsample)."


def check_disk(out, size, num, num_test, free=None):
  """A ValueError when the patches would not fit on the disk of `out` (a PNG of photo detail is about as
  large as its pixels), found before any is cut: --num=10**9 otherwise runs for hours, then fails."""
  import shutil
  from zoo.data import photos
  needed = (num + photos.num_test_patches(num, num_test)) * size * size * 3
  if free is None:
    free = shutil.disk_usage(files.nearest_existing(os.path.dirname(os.path.abspath(out)))).free
  if needed > free:
    fits = max(free // (size * size * 3) * 4 // 5, 1)  # train and test patches, 4:1 by default
    raise ValueError(f"--num={num} patches of {size}x{size} need about {needed / 1e9:.1f} GB on disk, more "
                     f"than the {free / 1e9:.1f} GB free there: ask for at most {fits} (or free some space).")


def main(argv):
  del argv
  from zoo.data import photos
  try:
    check_disk(FLAGS.out, FLAGS.size, FLAGS.num, FLAGS.num_test)
    warning = check_size(FLAGS.size, {p.name: photos.read_photo(p).shape for p in photos.PHOTOS},
                         FLAGS.upsample)
    if warning:
      print(warning, flush=True)
    manifest = photos.build_patch_folder(FLAGS.out, FLAGS.size, FLAGS.num, FLAGS.num_test, FLAGS.seed)
  except (ValueError, ImportError, OSError) as e:
    cli.fail(e)
  used = ", ".join(f"{p['name']} ({p['split']}, {p['licence']})" for p in manifest["photos"])
  print(f"wrote {manifest['counts']['train']:,} train and {manifest['counts']['test']:,} test patches of "
        f"{FLAGS.size}x{FLAGS.size} to {FLAGS.out} from {used}")


def run():
  """Console script `zoo-photo-patches`."""
  cli.run(main, define_flags)


if __name__ == "__main__":
  run()
