"""The datasets of the scoring scripts (compression_rd, image_gan_eval): TFDS names, or an image folder.

A folder dataset (`folder`, `folder_rgb`) reads the folder given by --folder; TFDS datasets read
--data_dir. Importing this module defines both flags.
"""
import os

from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "TFDS data_dir with prepared mnist and fashion_mnist.")
flags.DEFINE_string("folder", None, "The image folder that folder datasets (folder, folder_rgb) read.")


def is_folder(dataset):
  from zoo import data  # TensorFlow loads only when a script runs, not for --help
  return data.is_folder(dataset)


def data_dir_of(dataset):
  if is_folder(dataset) and not FLAGS.folder:
    raise ValueError(f"--datasets={dataset} is an image folder: pass --folder=PATH.")
  return FLAGS.folder if is_folder(dataset) else FLAGS.data_dir


def label(dataset):
  """The name of a dataset in run folders and file names: a folder's own name, else the dataset's."""
  return os.path.basename(os.path.normpath(FLAGS.folder)) if is_folder(dataset) else dataset
