"""Pretrained packages: trained generators loaded by name, checked, and sampled without their run.

  import zoo
  generator = zoo.load("dcgan/mnist")
  images = generator.sample(64, seed=0)            # uint8 [64, 28, 28, 1]
  images = generator(z)                            # z float32 [N, latent_dim] (and labels int [N])

A package is a folder <model>/<name>/, named "<model>/<name>" (e.g. dcgan/mnist,
dcgan/fashion_mnist-conditional, image_gan/denoise-mnist), holding:

  generator.keras    the generator in float32 (the EMA one where the run has one), stock Keras layers
                     only: `keras.saving.load_model` reads it without the zoo
  config.json        the TrainConfig of the run it came from (zoo/config.py)
  card.json          the model card's facts, machine-readable: what the model is and how it was trained
                     and measured, and what `load` needs (inputs, latent_dim, classes, image shapes)
  model_card.md      the same card for people
  codec/<model id>/  compression_gan only: the frozen codec `zoo.compress` encodes and decodes with
  MANIFEST.sha256    "<sha256>  <path>" of every other file; a package whose files differ is refused

Packages are looked up in the folders of $ZOO_PRETRAINED_DIR (os.pathsep-separated, first match wins),
then in the zoo's own zoo/pretrained/. experiments/package.py makes one from a finished run.
"""
import hashlib
import json
import os

import numpy as np

ENV = "ZOO_PRETRAINED_DIR"
SHIPPED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained")
KERAS_FILE = "generator.keras"
CONFIG_FILE = "config.json"
CARD_FILE = "card.json"
CARD_TEXT = "model_card.md"
MANIFEST = "MANIFEST.sha256"
CODEC_FOLDER = "codec"
FORMAT = 1
BATCH = 500  # samples per generator call: the batches of zoo.sampling.generate, so the noise is the same


class PackageError(ValueError):
  """A package that is unknown, incomplete or altered; the message says which and what to do."""


# ---- finding packages ----

def roots():
  """The folders searched for packages, in order: $ZOO_PRETRAINED_DIR's, then the zoo's own."""
  extra = [folder for folder in os.environ.get(ENV, "").split(os.pathsep) if folder]
  return extra + [SHIPPED]


def missing_roots() -> str:
  """What is wrong with $ZOO_PRETRAINED_DIR, when it names something that is not a folder, else "".
  A mistyped one is otherwise silent: its packages are simply not found."""
  absent = [root for root in roots()[:-1] if not os.path.isdir(root)]
  if not absent:
    return ""
  verb = "is not a folder" if len(absent) == 1 else "are not folders"
  return f"${ENV} names {', '.join(absent)}, which {verb}"


def _found():
  """{name: folder} of every package under `roots()`; an earlier root's package hides a later one's."""
  found = {}
  for root in roots():
    for model in sorted(os.listdir(root)) if os.path.isdir(root) else []:
      for name in sorted(os.listdir(os.path.join(root, model))) if os.path.isdir(os.path.join(root, model)) \
          else []:
        folder = os.path.join(root, model, name)
        if os.path.isfile(os.path.join(folder, CARD_FILE)):
          found.setdefault(f"{model}/{name}", folder)
  return found


def list_packages():
  """The names of every package found, sorted."""
  return sorted(_found())


def locate(name: str) -> str:
  """The folder of package `name`, or a one-line PackageError listing the valid names."""
  found = _found()
  if name not in found:
    valid = ", ".join(sorted(found)) or f"none installed (searched {', '.join(roots())})"
    missing = missing_roots()
    hint = f"; {missing}" if missing else ""
    raise PackageError(f"Unknown pretrained package {name!r}; valid names: {valid}{hint}.")
  return found[name]


def read_card(name_or_folder: str) -> dict:
  """card.json of a package, given its name or its folder (not verified: see `verify`)."""
  folder = name_or_folder if os.path.isdir(name_or_folder) else locate(name_or_folder)
  path = os.path.join(folder, CARD_FILE)
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise PackageError(f"{path} is not a readable card ({e}); reinstall the package.") from None


# ---- integrity ----

def sha256_file(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def package_files(folder: str):
  """Every file of a package folder but its manifest, as sorted '/'-separated relative paths."""
  paths = []
  for parent, _, names in os.walk(folder):
    for name in names:
      relative = os.path.relpath(os.path.join(parent, name), folder).replace(os.sep, "/")
      if relative != MANIFEST:
        paths.append(relative)
  return sorted(paths)


def write_manifest(folder: str) -> str:
  """Writes folder/MANIFEST.sha256 over every other file (sha256sum's format) and returns its path."""
  lines = [f"{sha256_file(os.path.join(folder, path))}  {path}\n" for path in package_files(folder)]
  path = os.path.join(folder, MANIFEST)
  with open(path, "w") as f:
    f.writelines(lines)
  return path


def verify(folder: str) -> None:
  """A one-line PackageError naming the first file of the package that is missing, unlisted or whose
  sha256 differs from MANIFEST.sha256's (a truncated or edited file)."""
  manifest = os.path.join(folder, MANIFEST)
  try:
    with open(manifest) as f:
      lines = [line.rstrip("\n") for line in f if line.strip()]
  except OSError as e:
    raise PackageError(f"{manifest} is missing or unreadable ({e.strerror}); reinstall the "
                       "package.") from None
  listed = {}
  for line in lines:
    digest, _, path = line.partition("  ")
    if len(digest) != 64 or not path or path.startswith("/") or ".." in path.split("/"):
      raise PackageError(f"{manifest} has a malformed line {line[:80]!r}; reinstall the package.")
    listed[path] = digest
  for path in package_files(folder):
    if path not in listed:
      raise PackageError(f"{os.path.join(folder, path)} is not in {MANIFEST}: the package was altered; "
                         "remove the file or reinstall the package.")
  for path, digest in listed.items():
    full = os.path.join(folder, path)
    if not os.path.isfile(full):
      raise PackageError(f"{full} is missing from the package; reinstall it.")
    if sha256_file(full) != digest:
      raise PackageError(f"{full} fails its sha256 check (truncated or edited); reinstall the package.")


def codec_folder(folder: str):
  """The frozen codec folder of a compression_gan package (codec/<model id>/), else None."""
  codecs = os.path.join(folder, CODEC_FOLDER)
  names = sorted(os.listdir(codecs)) if os.path.isdir(codecs) else []
  return os.path.join(codecs, names[0]) if names else None


# ---- images ----

def central_crop(images, size):
  """uint8 [N, H, W, C] -> [N, h, w, C], the central (h, w) = `size` (None: unchanged), with the offsets
  of the zero-padding it undoes (zoo/data/pipeline.py: the odd pixel of a margin at the bottom, right)."""
  if size is None or tuple(images.shape[1:3]) == tuple(size):
    return images
  height, width = size
  top, left = (images.shape[1] - height) // 2, (images.shape[2] - width) // 2
  return images[:, top:top + height, left:left + width]


def check_count(value, name: str, minimum: int = 0) -> int:
  """`value` as an int, or a ValueError naming `name`: a count is a whole number, `minimum` or more."""
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
    raise ValueError(f"{name}={value!r} must be a whole number, {minimum} or more.")
  return int(value)


def sample_labels(num: int, labels, classes: int) -> np.ndarray:
  """int32 [num]: `labels` (one class, or a list cycled) or, when None, 0..classes-1 cycled."""
  wanted = np.arange(classes) if labels is None else np.atleast_1d(np.asarray(labels))
  if not len(wanted) or not np.issubdtype(wanted.dtype, np.integer) or wanted.min() < 0 \
      or wanted.max() >= classes:
    raise ValueError(f"labels {wanted.tolist()} must be class indices 0..{classes - 1}.")
  return np.resize(wanted.astype(np.int32), num)


# ---- loading ----

def load(name: str, check: bool = True):
  """The package `name` ready to use: a `Generator` for noise-to-image models, a `Restorer` for models
  that map images to images (image_gan, compression_gan). `check` verifies MANIFEST.sha256 first."""
  folder = locate(name)
  if check:
    verify(folder)
  card = read_card(folder)
  if card.get("format") != FORMAT:
    raise PackageError(f"{folder} is a package of format {card.get('format')}; this zoo reads format "
                       f"{FORMAT}: upgrade the zoo or the package.")
  import keras
  with open(os.path.join(folder, CONFIG_FILE)) as f:
    config = json.load(f)
  model = keras.saving.load_model(os.path.join(folder, KERAS_FILE), compile=False)
  return (Generator if card["inputs"] == "noise" else Restorer)(name, card, model, folder, config)


class _Package:
  """What every package gives: its name, card, Keras model, folder and config (a dict of config.json).

  zoo.sampling wraps a run's generator in the same classes, so runs and packages are used alike.
  """

  def __init__(self, name, card, model, folder=None, config=None):
    self.name, self.card, self.model, self.folder, self.config = name, card, model, folder, config
    self.pixel_range = card["pixel_range"]
    self.image_shape = tuple(card["image_shape"])              # what users get: the dataset's size
    self.model_image_shape = tuple(card["model_image_shape"])  # what the generator draws
    self._call = None

  def _run(self, inputs):
    """The model on one batch, in a function traced once per input signature."""
    import tensorflow as tf
    if self._call is None:
      self._call = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)
    return self._call(inputs)

  def _finish(self, outputs, output):
    """Model-range float outputs -> uint8 (or float [0, 1] for output="float") at the dataset's size."""
    from zoo import pixels
    outputs = outputs["images"] if isinstance(outputs, dict) else outputs
    if output == "float":
      images = np.clip(pixels.to_unit(np.float32(outputs), self.pixel_range), 0.0, 1.0)
    elif output == "uint8":
      images = pixels.to_uint8(outputs, self.pixel_range).numpy()
    else:
      raise ValueError(f"output={output!r} must be 'uint8' or 'float'.")
    return central_crop(images, self.image_shape[:2])

  def __repr__(self):
    return f"<pretrained {self.name}: {self.card.get('summary', '')}>"


class Generator(_Package):
  """A noise-to-image package. Called on z float32 [N, latent_dim] (and, when conditional, labels int
  [N]) it returns images [N, H, W, C] at the dataset's own size, uint8 (or float in [0, 1])."""

  def __init__(self, name, card, model, folder=None, config=None):
    super().__init__(name, card, model, folder, config)
    self.latent_dim = int(card["latent_dim"])
    self.num_classes = int(card.get("num_classes", 0))
    self.class_names = card.get("class_names") or []

  def __call__(self, z, labels=None, output="uint8", progress=None):
    import tensorflow as tf
    z = np.asarray(z, np.float32)
    if z.ndim != 2 or z.shape[1] != self.latent_dim:
      raise ValueError(f"z must be float32 [N, {self.latent_dim}], got shape {z.shape}.")
    if not np.isfinite(z).all():  # NaN noise draws blank images without a word
      raise ValueError(f"z holds {np.size(z) - np.isfinite(z).sum()} NaN or infinite values; give finite "
                       "noise, e.g. generator.noise(N, seed).")
    if self.num_classes and labels is None:
      raise ValueError(f"{self.name} is class-conditional: pass labels, class indices "
                       f"0..{self.num_classes - 1}.")
    if not self.num_classes and labels is not None:
      raise ValueError(f"{self.name} is not class-conditional: it takes no labels.")
    if self.num_classes:
      labels = np.asarray(labels)
      if labels.shape != (len(z),):
        raise ValueError(f"labels must be one class index per z ([{len(z)}]), got shape {labels.shape}.")
      labels = sample_labels(len(z), labels, self.num_classes)
    chunks = []
    for start in range(0, len(z), BATCH):
      inputs = tf.constant(z[start:start + BATCH])
      if self.num_classes:
        inputs = {"z": inputs, "label": tf.constant(labels[start:start + BATCH])}
      chunks.append(self._finish(self._run(inputs), output))
      if progress:
        progress(start + len(chunks[-1]), len(z))
    return np.concatenate(chunks) if chunks else np.zeros((0,) + self.image_shape, np.uint8)

  def noise(self, num: int, seed: int = 0, truncation=None) -> np.ndarray:
    """z [num, latent_dim] of `seed`'s stream, the noise `zoo.sample` gives a run (zoo/explore.py)."""
    from zoo import explore
    num = check_count(num, "num")
    return np.concatenate([explore.noise(self.latent_dim, min(BATCH, num - start), seed, start,
                                         truncation).numpy() for start in range(0, num, BATCH)]
                          or [np.zeros((0, self.latent_dim), np.float32)])

  def labels_for(self, num: int, labels=None):
    """The labels `sample` gives `num` samples (None for an unconditional package)."""
    return sample_labels(num, labels, self.num_classes) if self.num_classes else None

  def sample(self, num: int, seed: int = 0, labels=None, truncation=None, output="uint8", progress=None):
    """`num` samples of `seed`; a conditional package's cycle through `labels` (one class or a list;
    default every class in turn). `truncation` resamples noise values beyond +-truncation."""
    if not self.num_classes and labels is not None:
      raise ValueError(f"{self.name} is not class-conditional: it takes no labels.")
    return self(self.noise(num, seed, truncation), self.labels_for(num, labels), output, progress)

  def class_grid(self, columns: int, seed: int = 0, classes=None, truncation=None):
    """One row per class (default all), the same noise down each column: [rows * columns, H, W, C]."""
    if not self.num_classes:
      raise ValueError(f"{self.name} is not class-conditional: it has no classes to draw a grid of; use "
                       "sample().")
    columns = check_count(columns, "columns", minimum=1)
    classes = np.arange(self.num_classes) if classes is None else np.asarray(classes)
    z = np.tile(self.noise(columns, seed, truncation), (len(classes), 1))
    return self(z, np.repeat(sample_labels(len(classes), classes, self.num_classes), columns))

  def interpolate(self, seeds, steps: int = 8, labels=None, truncation=None, closed: bool = False):
    """[segments, steps, H, W, C]: slerp between the first sample of each seed (the sample `sample(1,
    seed)` gives) and the next's, holding the label (default class 0) fixed."""
    from zoo import explore
    ends = np.concatenate([self.noise(1, int(seed), truncation) for seed in seeds])
    path = explore.path(ends, steps, closed)
    z = path.reshape(-1, self.latent_dim)
    label = None if not self.num_classes else np.full(len(z), 0 if labels is None else int(labels), np.int32)
    return self(z, label).reshape(path.shape[:2] + self.image_shape)

  def interpolate_classes(self, classes, steps: int = 8, seed: int = 0, truncation=None):
    """[segments, steps, H, W, C]: the noise of `seed` held fixed while the class embeddings move
    from each class to the next (linearly: BigGAN's interpolation between classes)."""
    if not self.num_classes:
      raise ValueError(f"{self.name} is not class-conditional: it has no classes to interpolate between.")
    classes = sample_labels(len(classes), classes, self.num_classes)
    if len(classes) < 2 or steps < 2:
      raise ValueError("An interpolation between classes needs at least 2 classes and 2 steps.")
    z = self.noise(1, seed, truncation)
    rows = []
    for a, b in zip(classes[:-1], classes[1:]):
      rows.append(np.concatenate([self._mixed_class(z, a, b, t) for t in np.linspace(0.0, 1.0, steps)]))
    return np.stack(rows)

  def _mixed_class(self, z, a, b, t):
    """G(z) with class a's row of every label embedding replaced by (1 - t) e_a + t e_b."""
    tables = [layer for layer in self.model.layers if type(layer).__name__ == "Embedding"]
    saved = [layer.embeddings.numpy() for layer in tables]
    try:
      for layer, table in zip(tables, saved):
        mixed = table.copy()
        mixed[a] = (1.0 - t) * table[a] + t * table[b]
        layer.embeddings.assign(mixed)
      return self(z, np.full(len(z), a, np.int32))
    finally:
      for layer, table in zip(tables, saved):
        layer.embeddings.assign(table)


class Restorer(_Package):
  """An image-to-image package (image_gan's restorations, compression_gan's reconstruction). Called on
  uint8 images [N, H, W, C] of the package's `image_shape` it returns its uint8 outputs."""

  def __init__(self, name, card, model, folder=None, config=None):
    super().__init__(name, card, model, folder, config)
    self.codec_folder = codec_folder(folder) if folder else None

  def __call__(self, images, output="uint8"):
    import tensorflow as tf
    from zoo import pixels
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.shape[1:] != self.model_image_shape:
      raise ValueError(f"{self.name} takes uint8 images [N, {', '.join(map(str, self.model_image_shape))}], "
                       f"got {images.dtype} {images.shape}.")
    chunks = [self._finish(self._run(pixels.to_model_range(tf.constant(images[start:start + BATCH]),
                                                           self.pixel_range)), output)
              for start in range(0, len(images), BATCH)]
    return np.concatenate(chunks) if chunks else np.zeros((0,) + self.image_shape, np.uint8)
