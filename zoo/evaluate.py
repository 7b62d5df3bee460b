"""Scores a trained run (or an .npz of uint8 images) against the real test split; see docs/metrics.md.

  python -m zoo.evaluate --logdir=runs/dense_gan_mnist [--num_samples=10000]
  python -m zoo.evaluate --npz=samples.npz --dataset=mnist --data_dir=../shared/tensorflow_datasets
  python -m zoo.evaluate --npz=samples.npz --dataset=mnist --image_size=32 --image_resize=pad
  python -m zoo.evaluate --npz=samples.npz --logdir=runs/dcgan_mnist   # dataset, size, resize of the run
  python -m zoo.evaluate --pretrained=dcgan/mnist                        # a package, as its card was scored
  python -m zoo.evaluate --compare runs/a/eval.json runs/b/eval.json     # differences with intervals

Samples of side S are compared with the test split sent to S by the run's --image_resize (area or pad),
both then taking one way to the feature extractor's input. A run's scores are printed and written to
<logdir>/eval.json. Every report carries its protocol (feature network and weights sha256, resize,
reference set, number of samples, noise seed) and bootstrap intervals of FID and recall; --compare
refuses two reports whose protocols differ.

A class-conditional run (--conditional) is sampled with labels cycling through its K classes and also
scored class by class (docs/conditional.md): the domain classifier's agreement with the requested
label (label_accuracy), each class's intra-FID against the test images of that class (through the same
like-for-like path), precision and recall within the class, and the share of samples assigned to each
class (mode coverage). An .npz with a 'labels' array (zoo.sample of a conditional run) is scored alike.
"""
import json
import os
import sys
import tempfile
import time

from absl import flags

from zoo import cli
from zoo import files

EVAL_FILE = "eval.json"
DEFAULT_BOOTSTRAP = 20
# A --npz border counts as the black pad of --image_resize=pad when its mean pixel is at most this (0..255)
# while the centre's is at least PAD_CENTRE_MEAN: a generator trained on padded images draws it near 0.
PAD_BORDER_MEAN = 2.0
PAD_CENTRE_MEAN = 10.0
FLAGS = flags.FLAGS


def define_flags():
  """Defined only when run as a script, so importing this module never clashes with other CLIs' flags."""
  flags.DEFINE_string("logdir", None, "Run folder written by zoo.train (with --npz: only read for its "
                      "dataset, data_dir, image_size and image_resize).")
  flags.DEFINE_string("pretrained", None, "A pretrained package to score as its card was scored, e.g. "
                      "dcgan/mnist (python -m zoo.sample --list_pretrained lists them).")
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
                    "auto: the domain classifier for MNIST-like data, else the FID Inception.")
  flags.DEFINE_string("inception_weights", None, "Local copy of pytorch-fid's pt_inception-2015-12-05-"
                      "6726825d.pth (the FID Inception's published weights; default: a cached copy).")
  flags.DEFINE_enum("resize", "clean", ["clean", "legacy_tf", "legacy_pytorch"], "How the FID Inception's "
                    "input reaches 299x299: clean-fid's PIL bicubic, the original TF FID's bilinear, or "
                    "pytorch-fid's bilinear (docs/metrics.md).")
  flags.DEFINE_integer("bootstrap", DEFAULT_BOOTSTRAP, "Bootstrap resamples for the intervals of FID and "
                       "recall (0: none).")
  flags.DEFINE_string("compare", None, "A report (eval.json) to compare with a second one given after it: "
                      "--compare A.json B.json prints B - A per metric.")
  flags.DEFINE_string("output", None, "JSON file to write (default: <logdir>/eval.json, or "
                      "<logdir>/eval-<dataset>.json with another --dataset; none for --npz).")
  flags.DEFINE_boolean("use_ema", True, "Score the EMA generator of a run trained with --ema_decay.")


def evaluate_run(logdir, num_samples=10000, data_dir=None, seed=0, feature_extractor="auto",
                 inception_weights=None, dataset=None, use_ema=True, resize="clean",
                 bootstrap=DEFAULT_BOOTSTRAP) -> dict:
  """Samples the newest readable checkpoint of a run and scores it; returns the JSON record."""
  from zoo import models, runs, sampling
  check_arguments(logdir, None, dataset)
  if num_samples < 2:
    raise ValueError(f"--num_samples must be at least 2 (better thousands), got {num_samples}.")
  began = time.time()
  config = runs.load_config(logdir)
  spec = models.get_model(config.model)
  sampling.check_samples_from_noise(spec)
  restored = runs.restore_generator_and_path(logdir, use_ema, doing="scoring")
  generator, config, step = restored.generator, restored.config, restored.step
  sampling.check_memory(num_samples, generator.output_shape[1:], flag="--num_samples")
  dataset = dataset or config.dataset
  evaluator = _evaluator(dataset, data_dir or config.data_dir, feature_extractor, inception_weights,
                         config.image_size, _image_resize(config), resize)
  classes = spec.num_classes(config)
  labels = sampling.cycling_labels(num_samples, classes) if classes else None
  samples = sampling.generate(generator, config, num_samples, seed=seed, labels=labels)
  metrics, per_class, intervals = evaluator.score_with_intervals(samples, labels, bootstrap=bootstrap)
  record = {"metrics": metrics, "intervals": intervals, "protocol": evaluator.protocol(num_samples, seed),
            "model": config.model, "logdir": logdir, "step": step,
            "images_seen": runs.images_seen(config, step), "num_samples": num_samples,
            "noise_seed": seed, "ema": use_ema and runs.has_ema(config), **evaluator.describe(),
            "seconds": round(time.time() - began, 1)}
  return _with_classes(record, per_class, dataset, data_dir or config.data_dir, "cycling 0..K-1")


def default_output(logdir, dataset=None):
  """<logdir>/eval.json, or eval-<dataset>.json when the run is scored against another dataset than its
  own, so that a comparison never replaces the run's own report."""
  from zoo import runs
  if dataset and dataset != runs.load_config(logdir).dataset:
    return os.path.join(logdir, f"eval-{dataset}.json")
  return os.path.join(logdir, EVAL_FILE)


def evaluate_package(name, num_samples=10000, data_dir=None, seed=0, feature_extractor="auto",
                     inception_weights=None, resize="clean", bootstrap=DEFAULT_BOOTSTRAP) -> dict:
  """Scores pretrained package `name` (zoo/pretrained.py) as its card was scored; returns the record."""
  from zoo import models, pretrained, runs, sampling
  if num_samples < 2:
    raise ValueError(f"--num_samples must be at least 2 (better thousands), got {num_samples}.")
  began = time.time()
  package = pretrained.load(name)  # every file checked against its sha256
  sampling.check_memory(num_samples, package.model_image_shape, flag="--num_samples")
  config = runs.package_config(name, data_dir)
  spec = models.get_model(config.model)
  sampling.check_samples_from_noise(spec)
  evaluator = _evaluator(config.dataset, data_dir, feature_extractor, inception_weights, config.image_size,
                         _image_resize(config), resize)
  classes = spec.num_classes(config)
  labels = sampling.cycling_labels(num_samples, classes) if classes else None
  samples = sampling.generate(package.model, config, num_samples, seed=seed, labels=labels)
  metrics, per_class, intervals = evaluator.score_with_intervals(samples, labels, bootstrap=bootstrap)
  training = package.card.get("training", {})
  record = {"metrics": metrics, "intervals": intervals, "protocol": evaluator.protocol(num_samples, seed),
            "model": config.model, "pretrained": name, "step": training.get("steps"),
            "images_seen": training.get("images_seen"), "num_samples": num_samples, "noise_seed": seed,
            **evaluator.describe(), "seconds": round(time.time() - began, 1)}
  return _with_classes(record, per_class, config.dataset, data_dir, "cycling 0..K-1")


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
                 image_size=None, image_resize=None, logdir=None, resize="clean",
                 bootstrap=DEFAULT_BOOTSTRAP) -> dict:
  """Scores the uint8 images stored in an .npz file; returns the JSON record.

  `image_size`/`image_resize`: how the training images reached the images' side (None: the run's, with
  `logdir`, else the images' own side and area). `logdir` also gives the dataset and data_dir. Images
  with the black border of --image_resize=pad and neither of those given are refused (`check_pad_border`).
  """
  check_arguments(logdir, path, dataset)
  told = logdir or image_resize
  if logdir:
    from zoo import runs
    config = runs.load_config(logdir)
    dataset, data_dir = dataset or config.dataset, data_dir or config.data_dir
    image_size = config.image_size if image_size is None else image_size
    image_resize = image_resize or _image_resize(config)
  images = read_npz_images(path)
  if logdir and image_resize == "pad" and getattr(images, "ndim", 0) == 4 and image_size != images.shape[1]:
    from zoo import sampling  # zoo.sample gives a pad run's samples at the dataset's own size
    if tuple(images.shape[1:3]) == sampling.dataset_size(config):
      image_size = images.shape[1]
  labels = read_npz_labels(path)
  if not told and image_size in (None, 0, getattr(images, "shape", (0, 0))[1]):
    check_pad_border(images, dataset, data_dir)
  evaluator = _evaluator(dataset, data_dir, feature_extractor, inception_weights, image_size or 0,
                         image_resize or "area", resize)
  metrics, per_class, intervals = evaluator.score_with_intervals(images, labels, bootstrap=bootstrap)
  record = {"metrics": metrics, "intervals": intervals, "protocol": evaluator.protocol(len(images), None),
            "npz": path, "num_samples": len(images), **evaluator.describe()}
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
    key = "images" if "images" in keys else keys[0]
    try:
      return archive[key]
    except ValueError as e:  # an object array, which np.load refuses to unpickle
      raise ValueError(f"--npz={path!r}: its array {key!r} cannot be read ({e}); save uint8 images "
                       "[N, H, W, C] with numpy.savez(path, images=array).") from None


def check_pad_border(images, dataset, data_dir):
  """Refuses images larger than the dataset's stored side whose border is black around a drawn centre.

  That is how a --image_resize=pad run draws (28x28 digits padded to 32x32): scored the default area way,
  the reference would be stretched to the full square while the samples are not, and FID would measure
  the padding. The pixels cannot tell pad from area for data with black margins of its own (MNIST's
  digits), so the caller must say which; data that fills its frame is never asked.
  """
  import numpy as np
  from zoo import data
  from zoo.metrics import features
  side = data.stored_side(dataset, data_dir) if dataset in data.DATASETS else None
  array = np.asarray(images)
  if not side or array.ndim != 4 or array.dtype != np.uint8 or array.shape[1] != array.shape[2]:
    return
  if array.shape[1] <= side:
    return
  border = features.pad_border_mean(array, side)
  centre = float(features.back_to_side(array, side, "pad").mean())
  if border <= PAD_BORDER_MEAN and centre >= PAD_CENTRE_MEAN:
    raise ValueError(
        f"the --npz images are {array.shape[1]}x{array.shape[2]} with a black border around a central "
        f"{side}x{side} square (border mean {border:.2f} of 255), as a --image_resize=pad run draws them: "
        "say how they were made, --image_resize=pad or --image_resize=area (or --logdir=RUN).")


def read_npz_labels(path):
  """The 'labels' array of an .npz (the classes conditional samples were made for), or None."""
  import numpy as np
  with np.load(path, allow_pickle=False) as archive:
    return archive["labels"] if "labels" in archive else None


def _image_resize(config) -> str:
  from zoo import data
  return data.image_resize(config)


def _evaluator(dataset, data_dir, feature_extractor, inception_weights, image_size, image_resize, resize):
  from zoo.metrics import evaluation
  return evaluation.get_evaluator(dataset, data_dir, True, feature_extractor, inception_weights or "default",
                                  image_size=image_size, image_resize=image_resize, inception_resize=resize)


def format_table(record) -> str:
  rows = [(name, f"{value:.4f}" if isinstance(value, float) else str(value))
          for name, value in record["metrics"].items()]
  width = max(len(name) for name, _ in rows)
  scored = record.get("model", record.get("npz"))
  header = f"{scored} vs {record['reference']} ({record['num_samples']} samples)"
  intervals = record.get("intervals") or {}
  lines = [header] + [f"  {name:<{width}}  {value}{_interval_text(intervals, name)}" for name, value in rows]
  if record.get("protocol"):
    lines.append(f"protocol: {protocol_line(record['protocol'])}")
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


def _interval_text(intervals, name):
  if name not in intervals:
    return ""
  low, high = intervals[name]
  level, resamples = 100 * intervals["level"], intervals["resamples"]
  return f"  [{low:.4f}, {high:.4f}] {level:.0f}% bootstrap, {resamples} resamples"


def protocol_line(protocol) -> str:
  """One line naming a report's protocol, for tables and cards."""
  reference = protocol["reference"]
  weights = (protocol["weights_sha256"] or "random")[:12]
  seed = "from a file" if protocol["noise_seed"] is None else f"noise seed {protocol['noise_seed']}"
  return (f"{protocol['feature_network']} (sha256 {weights}), resize {protocol['resize']}, "
          f"{reference['dataset']}:{reference['split']} ({reference['size']} images at "
          f"{reference['image_size']}, {reference['image_resize']}), {protocol['num_samples']} samples, "
          f"{seed}")


def write_json(record, path) -> None:
  """Writes whole or not at all: a temporary file in the same folder, then renamed over `path`."""
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
  try:
    with os.fdopen(handle, "w") as f:
      json.dump(record, f, indent=2)
      f.write("\n")
    os.replace(temporary, path)
  except BaseException:
    if os.path.exists(temporary):
      os.remove(temporary)
    raise


def read_report(path) -> dict:
  """A report written by zoo.evaluate, with its protocol block (a one-line error otherwise)."""
  try:
    with open(path) as f:
      record = json.load(f)
  except (OSError, ValueError) as e:
    raise ValueError(f"--compare: {path} is not a readable JSON report ({type(e).__name__}).") from None
  if not isinstance(record, dict) or "metrics" not in record:
    raise ValueError(f"--compare: {path} is not a zoo.evaluate report (no 'metrics').")
  if not record.get("protocol"):
    raise ValueError(f"--compare: {path} has no protocol block (written by an older zoo.evaluate); "
                     "score the run again.")
  return record


def _flatten(protocol, prefix=""):
  for key, value in protocol.items():
    if isinstance(value, dict):
      yield from _flatten(value, f"{prefix}{key}.")
    else:
      yield f"{prefix}{key}", value


def compare_reports(first, second, first_name="A", second_name="B") -> str:
  """The table of `second` - `first` per metric, the difference's interval from the two bootstrap
  intervals (half-widths added in quadrature, as for independent estimates); a ValueError when the
  protocols differ, naming the first difference."""
  one, two = dict(_flatten(first["protocol"])), dict(_flatten(second["protocol"]))
  for key in sorted(set(one) | set(two)):
    if one.get(key) != two.get(key):
      raise ValueError(f"--compare: the protocols differ in {key}: {one.get(key)!r} ({first_name}) vs "
                       f"{two.get(key)!r} ({second_name}); their numbers are not comparable.")
  lines = [f"{second_name} - {first_name} ({protocol_line(first['protocol'])})",
           f"  {'metric':<16} {'A':>10} {'B':>10} {'B - A':>10}  interval of B - A"]
  intervals_a, intervals_b = first.get("intervals") or {}, second.get("intervals") or {}
  for name, value in first["metrics"].items():
    other = second["metrics"].get(name)
    if not isinstance(value, (int, float)) or not isinstance(other, (int, float)):
      continue
    difference = other - value
    interval = ""
    if name in intervals_a and name in intervals_b:
      half = ((intervals_a[name][1] - intervals_a[name][0]) ** 2
              + (intervals_b[name][1] - intervals_b[name][0]) ** 2) ** 0.5 / 2
      interval = f"[{difference - half:.4f}, {difference + half:.4f}]"
    lines.append(f"  {name:<16} {value:>10.4f} {other:>10.4f} {difference:>10.4f}  {interval}")
  return "\n".join(lines)


def save_report(record, output) -> None:
  """Writes the report, or says in one line why it could not: the scores are printed already."""
  try:
    write_json(record, output)
  except OSError as e:
    print(f"Could not write {output} ({e.strerror or e}); the scores above are not saved.")
    return
  print(f"Wrote {output}")


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


def compare_main(first, rest) -> None:
  if len(rest) != 1:
    sys.exit("error: --compare takes two reports: --compare A.json B.json")
  try:
    print(compare_reports(read_report(first), read_report(rest[0]), first, rest[0]))
  except ValueError as e:
    sys.exit(f"error: {e}")


def main(argv):
  if FLAGS.compare:
    return compare_main(FLAGS.compare, argv[1:])
  if len(argv) > 1:
    sys.exit(f"error: unexpected argument {argv[1]!r}; flags take the form --name=value.")
  if FLAGS.bootstrap < 0:
    sys.exit(f"error: --bootstrap must be 0 (no intervals) or a number of resamples, got {FLAGS.bootstrap}.")
  cli.quiet_library_logs()
  try:
    if not FLAGS.pretrained:
      check_arguments(FLAGS.logdir, FLAGS.npz, FLAGS.dataset, FLAGS.image_size, FLAGS.image_resize)
    elif FLAGS.logdir or FLAGS.npz:
      raise ValueError("--pretrained scores a package: leave out --logdir and --npz.")
    if FLAGS.output:  # refused now, not after minutes of scoring
      files.check_output_path(FLAGS.output, "--output")
  except (ValueError, FileNotFoundError) as e:
    sys.exit(f"error: {e}")
  from zoo import data
  try:
    if FLAGS.pretrained:
      record = evaluate_package(FLAGS.pretrained, FLAGS.num_samples, FLAGS.data_dir, FLAGS.seed,
                                FLAGS.feature_extractor, FLAGS.inception_weights, FLAGS.resize,
                                FLAGS.bootstrap)
      output = FLAGS.output
    elif FLAGS.npz:
      record = evaluate_npz(FLAGS.npz, FLAGS.dataset, FLAGS.data_dir, FLAGS.feature_extractor,
                            FLAGS.inception_weights, FLAGS.image_size, FLAGS.image_resize, FLAGS.logdir,
                            FLAGS.resize, FLAGS.bootstrap)
      output = FLAGS.output
    else:
      record = evaluate_run(FLAGS.logdir, FLAGS.num_samples, FLAGS.data_dir, FLAGS.seed,
                            FLAGS.feature_extractor, FLAGS.inception_weights, FLAGS.dataset, FLAGS.use_ema,
                            FLAGS.resize, FLAGS.bootstrap)
      output = FLAGS.output or default_output(FLAGS.logdir, FLAGS.dataset)
  except (ValueError, FileNotFoundError, data.DataUnavailableError) as e:  # metric errors are ValueErrors
    sys.exit(f"error: {e}")
  print(format_table(record))
  if output:
    save_report(record, output)


def run():
  """Console script `zoo-evaluate`."""
  cli.run(main, define_flags)


if __name__ == "__main__":
  run()
