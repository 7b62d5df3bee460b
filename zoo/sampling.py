"""Drawing images from a generator: what `zoo.sample`, `zoo.evaluate` and evaluation during training share.

A class-conditional run's generator also takes the class of each sample: by default the labels cycle
through 0..K-1 (sample i is of class i mod K), so any number of samples covers the classes evenly.
"""
import dataclasses
import weakref

import numpy as np
import tensorflow as tf

from zoo import data
from zoo import explore
from zoo import models
from zoo import pixels
from zoo import pretrained
from zoo import runs

_SAMPLERS = weakref.WeakKeyDictionary()  # one traced function per generator, not one per call


def generated_images(outputs):
  """The images of a generator's outputs: the tensor itself, or the "images" entry of a dict."""
  return outputs["images"] if isinstance(outputs, dict) else outputs


def check_samples_from_noise(spec):
  """A ValueError for models whose generator needs an input image, not noise alone."""
  if not spec.samples_from_noise:
    tools = ", ".join(f"zoo.{tool}" for tool in spec.tools) or "its own tools"
    raise ValueError(f"{spec.name} generates from input images, not from noise alone, so it cannot be "
                     f"sampled; use {tools} (docs/{spec.name}.md).")


def num_classes(config) -> int:
  """K of a class-conditional run, 0 for an unconditional one."""
  return models.get_model(config.model).num_classes(config)


def cycling_labels(num: int, classes) -> np.ndarray:
  """int32 [num]: the labels `classes` (a count K for 0..K-1, or a list) repeated in order."""
  classes = np.arange(classes) if np.isscalar(classes) else np.asarray(classes)
  return np.resize(classes.astype(np.int32), num)


def check_labels(config, labels):
  """`labels` as int32 [N], or a ValueError that says which labels the run knows."""
  classes = num_classes(config)
  if not classes:
    raise ValueError(f"{config.logdir} is not class-conditional (trained with --conditional=none), so it "
                     "takes no labels; train with --conditional=projection to sample by class.")
  labels = np.asarray(labels)
  if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or not len(labels):
    raise ValueError(f"labels must be a non-empty list of class indices, got {labels!r}.")
  if labels.min() < 0 or labels.max() >= classes:
    raise ValueError(f"labels {sorted(set(labels.tolist()))} are not all classes of this run: it has "
                     f"{classes}, 0..{classes - 1}.")
  return labels.astype(np.int32)


def _sampler(generator, spec, pixel_range, conditional):
  samplers = _SAMPLERS.setdefault(generator, {})
  key = (pixel_range, conditional)
  if key not in samplers:
    def sample(z, labels=None):
      batch = {"label": labels} if conditional else {}
      outputs = generator(spec.generator_input(batch, z), training=False)
      return pixels.to_uint8(generated_images(outputs), pixel_range)
    samplers[key] = tf.function(sample)
  return samplers[key]


def noise_batch(latent_dim, size, seed, offset=0, truncation=None):
  """z [size, latent_dim] for samples offset..offset+size of the stream of `seed` (zoo/explore.py)."""
  return explore.noise(latent_dim, size, seed, offset, truncation)


def generate(generator, config, num: int, seed: int = 0, batch_size: int = 500, labels=None,
             progress=None, truncation=None) -> np.ndarray:
  """`num` uint8 NHWC samples from a noise-to-image generator, reproducible from `seed`.

  A class-conditional run's sample i is of class `labels[i]` (default `cycling_labels(num, K)`); the
  noise is the same with or without labels. `progress(done, num)` is called after every batch.
  `truncation` resamples the noise values beyond +-truncation (zoo/explore.py).
  """
  spec = models.get_model(config.model)
  classes = spec.num_classes(config)
  conditional = bool(classes)
  if conditional:
    labels = cycling_labels(num, classes) if labels is None else check_labels(config, labels)
    if len(labels) != num:
      raise ValueError(f"{len(labels)} labels for {num} samples.")
  elif labels is not None:
    check_labels(config, labels)  # raises: the run takes no labels
  sample = _sampler(generator, spec, config.pixel_range, conditional)
  if not num:
    return np.zeros((0,) + tuple(generator.output_shape[1:]), np.uint8)
  samples = None  # filled in place: concatenating chunks would need twice the memory at the end
  for start in range(0, num, batch_size):
    z = noise_batch(config.latent_dim, min(batch_size, num - start), seed, start, truncation)
    arguments = (z, tf.constant(labels[start:start + len(z)])) if conditional else (z,)
    chunk = sample(*arguments).numpy()
    if samples is None:
      samples = np.empty((num,) + chunk.shape[1:], np.uint8)
    samples[start:start + len(chunk)] = chunk
    if progress:
      progress(start + len(chunk), num)
  return samples


def dataset_size(config):
  """(height, width) of the dataset's own images when the run zero-padded them up to its image size
  (--image_resize=pad), else None: samples are cropped back to it, as zoo.evaluate crops them."""
  if data.image_resize(config) != "pad" or not config.image_size or data.is_folder(config.dataset):
    return None
  height, width = data.source_image_shape(config.dataset, config.data_dir)[:2]
  return None if (height, width) == (config.image_size, config.image_size) else (height, width)


def at_dataset_size(images, config):
  """uint8 samples [N, S, S, C] of a run, cropped to the dataset's own size if it was padded to S."""
  return pretrained.central_crop(images, dataset_size(config))


def interface(config, spec=None) -> dict:
  """What using a run's generator takes (the card fields zoo/pretrained.py reads): its inputs, noise
  size, classes, pixel range, the shape it draws and the dataset's own shape that users get."""
  spec = spec or models.get_model(config.model)
  drawn = tuple(data.image_shape(config.dataset, config.image_size, config.data_dir,
                                 resize=data.image_resize(config)))
  crop = dataset_size(config)
  classes = spec.num_classes(config)
  return {"inputs": "noise" if spec.samples_from_noise else "images", "latent_dim": config.latent_dim,
          "num_classes": classes,
          "class_names": list(data.class_names(config.dataset, config.data_dir) or []) if classes else [],
          "pixel_range": config.pixel_range, "model_image_shape": list(drawn),
          "image_shape": list(crop + drawn[2:]) if crop else list(drawn)}


def run_generator(logdir: str, use_ema: bool = True, log=print):
  """A run's noise-to-image generator as a zoo.pretrained.Generator, sampled, gridded and interpolated
  as a package is (at the dataset's own size); a ValueError for models that do not sample from noise."""
  config = runs.load_config(logdir)
  check_samples_from_noise(models.get_model(config.model))
  generator, config = runs.restore_generator(logdir, use_ema, log=log)
  return pretrained.Generator(config.logdir, interface(config), generator, logdir, dataclasses.asdict(config))


def available_memory() -> int | None:
  """Bytes the kernel says can be allocated without swapping (MemAvailable), or None where unknown."""
  try:
    with open("/proc/meminfo") as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          return int(line.split()[1]) * 1024  # the file says kB and means KiB
  except (OSError, ValueError, IndexError):
    pass
  return None


def check_memory(num: int, image_shape, copies: int = 1, available=None, flag: str = "--num") -> int:
  """The bytes `copies` arrays of `num` uint8 images need; a ValueError naming `flag` past the machine's
  free memory."""
  needed = copies * num * int(np.prod(image_shape))
  available = available_memory() if available is None else available
  if available is not None and needed > available:
    fits = max(available // max(copies * int(np.prod(image_shape)), 1), 0)
    shape = "x".join(str(n) for n in image_shape)
    raise ValueError(f"{flag}={num} needs about {gigabytes(needed)} of memory ({shape} uint8 per sample), "
                     f"more than the {gigabytes(available)} available: ask for at most {fits} samples"
                     f"{' per file' if flag == '--num' else ''}.")
  return needed


def gigabytes(size: int) -> str:
  return f"{size / 1e9:.1f} GB" if size >= 1e8 else f"{size / 1e6:.1f} MB"
