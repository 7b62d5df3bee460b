"""Scores a trained run (or an .npz of uint8 images) against the real test split; see docs/metrics.md.

  python -m zoo.evaluate --logdir=runs/dense_gan_mnist [--num_samples=10000]
  python -m zoo.evaluate --npz=samples.npz --dataset=mnist --data_dir=../shared/tensorflow_datasets
  python -m zoo.evaluate --npz=samples.npz --dataset=mnist --image_size=32 --image_resize=pad
  python -m zoo.evaluate --npz=samples.npz --logdir=runs/dcgan_mnist   # dataset, size, resize of the run

Samples of side S are compared with the test split sent to S by the run's --image_resize (area or pad),
both then taking one way to the feature extractor's input. A run's scores are printed and written to
<logdir>/eval.json.

A class-conditional run (--conditional) is sampled with labels cycling through its K classes and also
scored class by class (docs/conditional.md): the domain classifier's agreement with the requested
label (label_accuracy), each class's intra-FID against the test images of that class (through the same
like-for-like path), precision and recall within the class, and the share of samples assigned to each
class (mode coverage). An .npz with a 'labels' array (zoo.sample of a conditional run) is scored alike.
"""
import json
import os
import sys
import time

from absl import flags

from zoo import cli

EVAL_FILE = "eval.json"
FLAGS = flags.FLAGS


def define_flags():
  """Defined only when run as a script, so importing this module never clashes with other CLIs' flags."""
  flags.DEFINE_string("logdir", None, "Run folder written by zoo.train (with --npz: only read for its "
                      "dataset, data_dir, image_size and image_resize).")
  flags.DEFINE_string("npz", None, "Instead of a run's samples: an .npz holding uint8 images [N, H, W, C] "
                      "(key 'images', or its only array).")
  flags.DEFINE_string("dataset", None, "Dataset to compare with (default: the run's; with --npz required "
                      "unless --logdir is given).")
  flags.DEFINE_integer("image_size", None, "With --npz: the side the images were made at (default: the run's "
                       "with --logdir, else the images' own side).")
  flags.DEFINE_enum("image_resize", None, ["area", "pad"], "With --npz: how the training images reached "
                    "that side, area or pad (default: the run's with --logdir, else area).")
  flags.DEFINE_string("data_dir", None, "TFDS data_dir (default: the run's, else $TFDS_DATA_DIR).")
  flags.DEFINE_integer("num_samples", 10000, "Samples to draw from the generator.")
  flags.DEFINE_integer("seed", 0, "Seed of the sampled noise.")
  flags.DEFINE_enum("feature_extractor", "auto", ["auto", "classifier", "inception"],
                    "auto: the domain classifier for MNIST-like data, else Inception-v3.")
  flags.DEFINE_string("inception_weights", None, "Local Inception-v3 no-top .h5 file (offline RGB scoring).")
  flags.DEFINE_string("output", None, "JSON file to write (default: <logdir>/eval.json; none for --npz).")
  flags.DEFINE_boolean("use_ema", True, "Score the EMA generator of a run trained with --ema_decay.")


def evaluate_run(logdir, num_samples=10000, data_dir=None, seed=0, feature_extractor="auto",
                 inception_weights=None, dataset=None, use_ema=True) -> dict:
  """Samples the newest readable checkpoint of a run and scores it; returns the JSON record."""
  from zoo import models, runs, sampling
  check_arguments(logdir, None, dataset)
  if num_samples < 2:
    raise ValueError(f"--num_samples must be at least 2 (better thousands), got {num_samples}.")
  began = time.time()
  config = runs.load_config(logdir)
  spec = models.get_model(config.model)
  sampling.check_samples_from_noise(spec)
  checkpoint = runs.latest_checkpoint(logdir, doing="scoring")
  generator, config = runs.restore_generator(logdir, use_ema, checkpoint=checkpoint)
  dataset = dataset or config.dataset
  evaluator = _evaluator(dataset, data_dir or config.data_dir, feature_extractor, inception_weights,
                         config.image_size, _image_resize(config))
  classes = spec.num_classes(config)
  labels = sampling.cycling_labels(num_samples, classes) if classes else None
  samples = sampling.generate(generator, config, num_samples, seed=seed, labels=labels)
  metrics, per_class = evaluator.score(samples, labels)
  step = runs.gan_step(checkpoint)
  record = {"metrics": metrics, "model": config.model, "logdir": logdir, "step": step,
            "images_seen": runs.images_seen(config, step), "num_samples": num_samples,
            "noise_seed": seed, "ema": use_ema and runs.has_ema(config), **evaluator.describe(),
            "seconds": round(time.time() - began, 1)}
  return _with_classes(record, per_class, dataset, data_dir or config.data_dir, "cycling 0..K-1")


def _with_classes(record, per_class, dataset, data_dir, labels):
  """`record` with a conditional run's per-class scores (under "classes", each named) and how its
  samples' labels were chosen."""
  if per_class is None:
    return record
  from zoo import data
  names = data.class_names(dataset, data_dir) or ()
  for entry in per_class:
    entry["name"] = names[entry["label"]] if entry["label"] < len(names) else str(entry["label"])
  return {**record, "sample_labels": labels, "classes": per_class}


def evaluate_npz(path, dataset=None, data_dir=None, feature_extractor="auto", inception_weights=None,
                 image_size=None, image_resize=None, logdir=None) -> dict:
  """Scores the uint8 images stored in an .npz file; returns the JSON record.

  `image_size`/`image_resize`: how the training images reached the images' side (None: the run's, with
  `logdir`, else the images' own side and area). `logdir` also gives the dataset and data_dir.
  """
  check_arguments(logdir, path, dataset)
  if logdir:
    from zoo import runs
    config = runs.load_config(logdir)
    dataset, data_dir = dataset or config.dataset, data_dir or config.data_dir
    image_size = config.image_size if image_size is None else image_size
    image_resize = image_resize or _image_resize(config)
  images = read_npz_images(path)
  labels = read_npz_labels(path)
  evaluator = _evaluator(dataset, data_dir, feature_extractor, inception_weights, image_size or 0,
                         image_resize or "area")
  metrics, per_class = evaluator.score(images, labels)
  record = {"metrics": metrics, "npz": path, "num_samples": len(images), **evaluator.describe()}
  record = _with_classes(record, per_class, dataset, data_dir, "the npz's 'labels'")
  return {**record, "logdir": logdir} if logdir else record


def read_npz_images(path):
  """The image array of an .npz file: its 'images' entry, or its only array."""
  import zipfile
  import numpy as np
  try:
    archive = np.load(path, allow_pickle=False)
  except (ValueError, OSError, zipfile.BadZipFile, EOFError):
    raise ValueError(f"--npz={path!r} is not an .npz file (write one with numpy.savez(path, images=...) "
                     "or python -m zoo.sample --out=FILE.npz).") from None
  if not isinstance(archive, np.lib.npyio.NpzFile):
    raise ValueError(f"--npz={path!r} holds a single .npy array, not an .npz archive; save it with "
                     "numpy.savez(path, images=array).")
  with archive:
    keys = list(archive.keys())
    if "images" not in keys and len(keys) != 1:
      raise ValueError(f"{path} holds arrays {keys}; name the image array 'images'.")
    return archive["images" if "images" in keys else keys[0]]


def read_npz_labels(path):
  """The 'labels' array of an .npz (the classes conditional samples were made for), or None."""
  import numpy as np
  with np.load(path, allow_pickle=False) as archive:
    return archive["labels"] if "labels" in archive else None


def _image_resize(config) -> str:
  from zoo import data
  return data.image_resize(config)


def _evaluator(dataset, data_dir, feature_extractor, inception_weights, image_size, image_resize):
  from zoo.metrics import evaluation
  return evaluation.get_evaluator(dataset, data_dir, True, feature_extractor, inception_weights or "imagenet",
                                  image_size=image_size, image_resize=image_resize)


def format_table(record) -> str:
  rows = [(name, f"{value:.4f}" if isinstance(value, float) else str(value))
          for name, value in record["metrics"].items()]
  width = max(len(name) for name, _ in rows)
  scored = record.get("model", record.get("npz"))
  header = f"{scored} vs {record['reference']} ({record['num_samples']} samples)"
  lines = [header] + [f"  {name:<{width}}  {value}" for name, value in rows]
  if record.get("classes"):
    lines += ["per class (samples made for the class vs the test images of the class):",
              "  class                  samples  label_acc  intra_fid  precision  recall  pred_share"]
    for entry in record["classes"]:
      cells = [_cell(entry.get(name), digits) for name, digits in _CLASS_COLUMNS]
      lines.append(f"  {entry['label']:>2} {entry['name'][:18]:<18}  {entry['num_samples']:>7}  "
                   f"{cells[0]:>9}  {cells[1]:>9}  {cells[2]:>9}  {cells[3]:>6}  {cells[4]:>10}")
  return "\n".join(lines)


_CLASS_COLUMNS = (("label_accuracy", 3), ("intra_fid", 2), ("precision", 3), ("recall", 3),
                  ("predicted_share", 3))


def _cell(value, digits):
  return "-" if value is None else f"{value:.{digits}f}"


def write_json(record, path) -> None:
  with open(path, "w") as f:
    json.dump(record, f, indent=2)
    f.write("\n")


def check_arguments(logdir, npz, dataset, image_size=None, image_resize=None):
  """Fails fast on a missing run, file or dataset, before TensorFlow is even imported."""
  if npz:
    if not dataset and not logdir:
      raise ValueError("--npz needs --dataset, the dataset whose test split the images are compared with "
                       "(or --logdir=RUN to take it from a run).")
    if not os.path.exists(npz):
      raise FileNotFoundError(f"--npz={npz!r} does not exist.")
    if logdir and not os.path.isdir(logdir):
      raise FileNotFoundError(f"--logdir={logdir!r} is not a folder; pass a run folder written by zoo.train.")
    if image_size is not None and image_size < 0:
      raise ValueError(f"--image_size must be 0 (the images' own side) or positive, got {image_size}.")
  elif image_size is not None or image_resize is not None:
    raise ValueError("--image_size and --image_resize describe the images of --npz; a run's samples are "
                     "scored at the run's own (its config.json).")
  elif not logdir:
    raise ValueError("pass --logdir=RUN_FOLDER (or --npz=FILE --dataset=NAME).")
  elif not os.path.isdir(logdir):
    raise FileNotFoundError(f"--logdir={logdir!r} is not a folder; pass a run folder written by zoo.train.")


def main(argv):
  del argv
  cli.quiet_library_logs()
  try:
    check_arguments(FLAGS.logdir, FLAGS.npz, FLAGS.dataset, FLAGS.image_size, FLAGS.image_resize)
  except (ValueError, FileNotFoundError) as e:
    sys.exit(f"error: {e}")
  from zoo import data
  try:
    if FLAGS.npz:
      record = evaluate_npz(FLAGS.npz, FLAGS.dataset, FLAGS.data_dir, FLAGS.feature_extractor,
                            FLAGS.inception_weights, FLAGS.image_size, FLAGS.image_resize, FLAGS.logdir)
      output = FLAGS.output
    else:
      record = evaluate_run(FLAGS.logdir, FLAGS.num_samples, FLAGS.data_dir, FLAGS.seed,
                            FLAGS.feature_extractor, FLAGS.inception_weights, FLAGS.dataset, FLAGS.use_ema)
      output = FLAGS.output or os.path.join(FLAGS.logdir, EVAL_FILE)
  except (ValueError, FileNotFoundError, data.DataUnavailableError) as e:  # metric errors are ValueErrors
    sys.exit(f"error: {e}")
  print(format_table(record))
  if output:
    write_json(record, output)
    print(f"Wrote {output}")


def run():
  """Console script `zoo-evaluate`."""
  cli.run(main, define_flags)


if __name__ == "__main__":
  run()
