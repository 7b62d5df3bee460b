"""Real training images as a run's data pipeline makes them, saved for `zoo.evaluate --npz`: the floor of
the metrics at a resolution (docs/metrics.md, "Real data at every resolution").

  python experiments/real_data_floor.py --dataset=mnist --image_size=32 --image_resize=pad \
      --data_dir=../shared/tensorflow_datasets --out=/tmp/mnist_32_pad.npz
  python -m zoo.evaluate --npz=/tmp/mnist_32_pad.npz --dataset=mnist --image_size=32 --image_resize=pad \
      --data_dir=../shared/tensorflow_datasets

Writes the first --num_images of the train split through `zoo.data.load_images` with the given size and
resize method, exactly the images a run with those flags trains on, as uint8 [N, S, S, C] under the key
'images' (a few seconds). A generator that reproduced its training data perfectly would score what
`zoo.evaluate` gives for this file.
"""
import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLAGS = flags.FLAGS
flags.DEFINE_string("dataset", "mnist", "Dataset (mnist, fashion_mnist, or a folder with --data_dir).")
flags.DEFINE_string("data_dir", None, "TFDS data_dir (or the image folder).")
flags.DEFINE_integer("image_size", 0, "Side S of the images (0: the dataset's own size).")
flags.DEFINE_enum("image_resize", "area", ["area", "pad"], "How the images reach S, as zoo.train's flag.")
flags.DEFINE_integer("num_images", 10000, "The first this many training images.")
flags.DEFINE_string("split", "train", "Split to take them from.")
flags.DEFINE_string("out", None, "The .npz to write.")
flags.mark_flag_as_required("out")


def main(argv):
  del argv
  import numpy as np
  from zoo.metrics import features
  images = features.load_split_images(FLAGS.dataset, FLAGS.split, FLAGS.data_dir, limit=FLAGS.num_images,
                                      image_size=FLAGS.image_size, resize=FLAGS.image_resize)
  np.savez(FLAGS.out, images=images)
  print(f"Wrote {FLAGS.out}: {images.shape} {images.dtype}, {FLAGS.dataset}:{FLAGS.split}[:{len(images)}] "
        f"via {FLAGS.image_resize} to {images.shape[1]}x{images.shape[2]}.")


if __name__ == "__main__":
  app.run(main)
