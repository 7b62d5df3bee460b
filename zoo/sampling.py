"""Drawing images from a generator: what `zoo.sample`, `zoo.evaluate` and evaluation during training share."""
import weakref

import numpy as np
import tensorflow as tf

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


def _sampler(generator, pixel_range):
  samplers = _SAMPLERS.setdefault(generator, {})
  if pixel_range not in samplers:
    samplers[pixel_range] = tf.function(
        lambda z: pixels.to_uint8(generated_images(generator(z, training=False)), pixel_range))
  return samplers[pixel_range]


def noise_batch(latent_dim, size, seed, offset=0):
  """z [size, latent_dim] for samples offset..offset+size of the stream of `seed`."""
  return tf.random.stateless_normal([size, latent_dim], seed=[seed, offset])


def generate(generator, config, num: int, seed: int = 0, batch_size: int = 500) -> np.ndarray:
  """`num` uint8 NHWC samples from a noise-to-image generator, reproducible from `seed`."""
  sample = _sampler(generator, config.pixel_range)
  chunks = [sample(noise_batch(config.latent_dim, min(batch_size, num - start), seed, start)).numpy()
            for start in range(0, num, batch_size)]
  if not chunks:
    return np.zeros((0,) + tuple(generator.output_shape[1:]), np.uint8)
  return np.concatenate(chunks)
