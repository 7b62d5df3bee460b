"""Renders the emoji dataset into an image folder for `--dataset=emoji` (docs/data.md), offline.

  apt-get install fonts-noto-color-emoji       # the font (SIL Open Font License)
  python -m zoo.emoji --out=data/emoji         # 1,372 emoji, 64x64 RGB on white, 8 classes, train/test

Every single-code-point emoji of the installed Noto Color Emoji font, labelled by its Unicode emoji group
(zoo/data/emoji_groups.json, from Unicode Emoji 15.0), in DIR/<split>/<group>/<CODE POINT>.png with
the counts in DIR/emoji.json. The same font gives the same bytes. Train on it with
`--dataset=emoji --data_dir=DIR`; without --data_dir, `--dataset=emoji` renders it into the zoo's cache.

  python -m zoo.emoji --derive_groups=/usr/share/unicode/emoji/emoji-test.txt   # refresh the group table
"""
from absl import flags

from zoo import cli  # before TensorFlow: keeps its C++ start-up lines quiet

FLAGS = flags.FLAGS


def define_flags():
  """Defined only when run as a script, so importing this module never clashes with other CLIs' flags."""
  flags.DEFINE_string("out", None, "Folder to create (must not exist, or be empty).")
  flags.DEFINE_integer("size", 64, "Side of the square images, in pixels.")
  flags.DEFINE_string("derive_groups", None, "Rewrite the packaged group table from this copy of "
                      "emoji-test.txt (the Debian package unicode-data installs one) instead of rendering.")
  flags.DEFINE_string("source", "from the Debian package unicode-data 15.0.0-1 (bookworm)",
                      "With --derive_groups: where that emoji-test.txt came from, recorded in the table.")


def main(argv):
  del argv
  from zoo.data import DataUnavailableError, emoji
  try:
    if FLAGS.derive_groups:
      table = emoji.write_groups(FLAGS.derive_groups, FLAGS.source)
      print(f"wrote {len(table['emoji']):,} emoji to {emoji.GROUPS_PATH} ({table['source']})")
      return
    if not FLAGS.out:
      raise ValueError("--out is required: the folder to render the emoji into.")
    if not 8 <= FLAGS.size <= emoji.MAX_SIZE:  # larger sizes only enlarge the bitmaps, by gigabytes at worst
      raise ValueError(f"--size must be from 8 to {emoji.MAX_SIZE} (the font's bitmaps are {emoji.MAX_SIZE} "
                       f"pixels square), got {FLAGS.size}.")
    manifest = emoji.render_folder(FLAGS.out, size=FLAGS.size)
  except (ValueError, OSError, DataUnavailableError) as e:
    cli.fail(e)
  print(emoji.count_table(manifest))
  missing = f"; no glyph for {', '.join(manifest['missing_glyphs'])}" if manifest["missing_glyphs"] else ""
  print(f"wrote {FLAGS.out} ({FLAGS.size}x{FLAGS.size}, counts in {emoji.MANIFEST}){missing}")


def run():
  """Console script `zoo-emoji`."""
  cli.run(main, define_flags)


if __name__ == "__main__":
  run()
