"""Builds a folder of real RGB photo patches for `--dataset=folder` (docs/data.md), offline.

  python -m zoo.photo_patches --out=data/photo_patches                      # 4,000 train + 1,000 test, 64x64
  python -m zoo.photo_patches --out=/tmp/patches --size=32 --num=40 --seed=1

The patches are cut from public-domain and CC0 photos that ship inside the scikit-image wheel
(`pip install scikit-image`); test patches come from other photos than train patches.
"""
from absl import flags

from zoo import cli  # before TensorFlow: keeps its C++ start-up lines quiet

FLAGS = flags.FLAGS


def define_flags():
  """Defined only when run as a script, so importing this module never clashes with other CLIs' flags."""
  flags.DEFINE_string("out", None, "Folder to create (must not exist, or be empty).", required=True)
  flags.DEFINE_integer("size", 64, "Side of the square patches, in pixels.")
  flags.DEFINE_integer("num", 4000, "Number of train patches.")
  flags.DEFINE_integer("num_test", None, "Number of test patches (default: num // 4).")
  flags.DEFINE_integer("seed", 0, "Seed of the patch positions and scales (same seed, same folder).")


def main(argv):
  del argv
  from zoo.data import photos
  try:
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
