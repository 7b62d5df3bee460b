"""gan-zoo: GAN architectures from five tutorial articles on one shared tf.distribute trainer."""


def load(name: str, check: bool = True):
  """Pretrained package `name` (e.g. "dcgan/mnist"), ready to sample: zoo.load("dcgan/mnist").sample(64).

  See zoo/pretrained.py. TensorFlow is imported here, on first use, so `import zoo` stays light.
  """
  from zoo import pretrained
  return pretrained.load(name, check)
