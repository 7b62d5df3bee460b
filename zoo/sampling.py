"""Drawing images from a generator: what `zoo.sample`, `zoo.evaluate` and evaluation during training share.

A class-conditional run's generator also takes the class of each sample: by default the labels cycle
through 0..K-1 (sample i is of class i mod K), so any number of samples covers the classes evenly.
"""
import weakref

import numpy as np
import tensorflow as tf

from zoo import models
from zoo import pixels

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


def noise_batch(latent_dim, size, seed, offset=0):
  """z [size, latent_dim] for samples offset..offset+size of the stream of `seed`."""
  return tf.random.stateless_normal([size, latent_dim], seed=[seed, offset])


def generate(generator, config, num: int, seed: int = 0, batch_size: int = 500, labels=None,
             progress=None) -> np.ndarray:
  """`num` uint8 NHWC samples from a noise-to-image generator, reproducible from `seed`.

  A class-conditional run's sample i is of class `labels[i]` (default `cycling_labels(num, K)`); the
  noise is the same with or without labels. `progress(done, num)` is called after every batch.
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
    z = noise_batch(config.latent_dim, min(batch_size, num - start), seed, start)
    arguments = (z, tf.constant(labels[start:start + len(z)])) if conditional else (z,)
    chunk = sample(*arguments).numpy()
    if samples is None:
      samples = np.empty((num,) + chunk.shape[1:], np.uint8)
    samples[start:start + len(chunk)] = chunk
    if progress:
      progress(start + len(chunk), num)
  return samples


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


def check_memory(num: int, image_shape, copies: int = 1, available=None) -> int:
  """The bytes `copies` arrays of `num` uint8 images need; a ValueError past the machine's free memory."""
  needed = copies * num * int(np.prod(image_shape))
  available = available_memory() if available is None else available
  if available is not None and needed > available:
    fits = max(available // max(copies * int(np.prod(image_shape)), 1), 0)
    shape = "x".join(str(n) for n in image_shape)
    raise ValueError(f"--num={num} needs about {gigabytes(needed)} of memory ({shape} uint8 per sample), "
                     f"more than the {gigabytes(available)} available: ask for at most {fits} samples "
                     "per file.")
  return needed


def gigabytes(size: int) -> str:
  return f"{size / 1e9:.1f} GB" if size >= 1e8 else f"{size / 1e6:.1f} MB"
