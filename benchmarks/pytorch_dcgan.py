"""The pytorch/examples DCGAN recipe at 32x32, as the reference for dcgan's time to quality.

  pip install torch==2.13.0   # CPU build; not a dependency of the zoo
  python -m benchmarks.pytorch_dcgan --dataset=mnist --images=600000 --out=runs/pytorch_dcgan_mnist
  python -m zoo.evaluate --npz=runs/pytorch_dcgan_mnist/samples.npz --dataset=mnist \
      --image_size=32 --image_resize=pad --data_dir=../shared/tensorflow_datasets

The recipe (Radford et al. 2016 as pytorch/examples/dcgan implements it), written here from the paper's
description: G z(100) -> ConvT(256, 4, 1, 0) -> BN -> ReLU -> ConvT(128, 4, 2, 1) -> BN -> ReLU ->
ConvT(64, 4, 2, 1) -> BN -> ReLU -> ConvT(1, 4, 2, 1) -> tanh; D Conv(64, 4, 2, 1) -> LReLU(0.2) ->
Conv(128) -> BN -> LReLU -> Conv(256) -> BN -> LReLU -> Conv(1, 4, 1, 0); N(0, 0.02) weights, BN scales
N(1, 0.02); Adam(2e-4, beta_1=0.5); batch 64; BCE with real=1, fake=0; the non-saturating G loss.
MNIST is zero-padded from 28x28 to 32x32, pixels in [-1, 1]. The images come from the zoo's own input
pipeline (`--image_resize=pad`), so both sides train on the same pixels.

It prints img/s and the wall time of training alone, and writes 10,000 samples as uint8 for
`zoo.evaluate --npz`. The zoo's equivalent network is
`--generator_filters=256 --discriminator_convolutions=3 --discriminator_batchnorm
--weight_init=dcgan_normal --discriminator_dropout=0 --image_size=32 --image_resize=pad`.
"""
import json
import os
import time

import numpy as np
from absl import app, flags

from zoo import cli  # noqa: F401  (before TensorFlow: keeps its C++ start-up lines quiet)

FLAGS = flags.FLAGS
flags.DEFINE_string("dataset", "mnist", "mnist or fashion_mnist.")
flags.DEFINE_string("data_dir", "../shared/tensorflow_datasets", "TFDS data_dir.")
flags.DEFINE_integer("images", 600_000, "Real images shown to D (steps x batch).")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.DEFINE_integer("seed", 0, "Seed of weights, noise and data order.")
flags.DEFINE_integer("threads", 0, "torch intra-op threads (0: torch's default).")
flags.DEFINE_string("out", None, "Output folder (samples.npz, result.json).", required=True)

LATENT = 100
SIZE = 32


def networks(torch, channels):
  nn = torch.nn
  generator = nn.Sequential(
      nn.ConvTranspose2d(LATENT, 256, 4, 1, 0, bias=False), nn.BatchNorm2d(256), nn.ReLU(True),
      nn.ConvTranspose2d(256, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(True),
      nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(True),
      nn.ConvTranspose2d(64, channels, 4, 2, 1, bias=False), nn.Tanh())
  discriminator = nn.Sequential(
      nn.Conv2d(channels, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
      nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2, True),
      nn.Conv2d(128, 256, 4, 2, 1, bias=False), nn.BatchNorm2d(256), nn.LeakyReLU(0.2, True),
      nn.Conv2d(256, 1, 4, 1, 0, bias=False))

  def initialize(module):
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
      nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
      nn.init.normal_(module.weight, 1.0, 0.02)
      nn.init.zeros_(module.bias)
  generator.apply(initialize)
  discriminator.apply(initialize)
  return generator, discriminator


def real_images(dataset, data_dir):
  """All training images padded to 32x32, float32 NCHW in [-1, 1], through the zoo's own pipeline."""
  from zoo import data
  images = data.load_images(dataset, "train", data_dir, SIZE, resize="pad")
  pixels = np.stack(list(images.as_numpy_iterator())).astype(np.float32) / 127.5 - 1.0
  return pixels.transpose(0, 3, 1, 2)


def train(torch, images, total_images, batch_size, seed):
  """Returns (generator, seconds of training, steps)."""
  torch.manual_seed(seed)
  rng = np.random.default_rng(seed)
  generator, discriminator = networks(torch, images.shape[1])
  g_optimizer = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
  d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
  bce = torch.nn.BCEWithLogitsLoss()
  steps = total_images // batch_size
  order = rng.permutation(len(images))
  position = 0
  began = time.time()
  for step in range(steps):
    if position + batch_size > len(order):
      order, position = rng.permutation(len(images)), 0
    real = torch.from_numpy(images[order[position:position + batch_size]])
    position += batch_size
    ones, zeros = torch.ones(batch_size), torch.zeros(batch_size)
    fake = generator(torch.randn(batch_size, LATENT, 1, 1))
    d_optimizer.zero_grad()
    d_loss = bce(discriminator(real).view(-1), ones) + bce(discriminator(fake.detach()).view(-1), zeros)
    d_loss.backward()
    d_optimizer.step()
    g_optimizer.zero_grad()
    g_loss = bce(discriminator(fake).view(-1), ones)
    g_loss.backward()
    g_optimizer.step()
    if step % 500 == 0:
      print(f"step {step}/{steps} d_loss {d_loss.item():.3f} g_loss {g_loss.item():.3f} "
            f"{(step + 1) * batch_size / (time.time() - began):.0f} img/s", flush=True)
  return generator, time.time() - began, steps


def samples(torch, generator, count=10_000):
  generator.eval()
  with torch.no_grad():
    images = torch.cat([generator(torch.randn(500, LATENT, 1, 1)) for _ in range(count // 500)])
  images = images.numpy().transpose(0, 2, 3, 1)
  return np.round((np.clip(images, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)


def main(argv):
  del argv
  import torch
  if FLAGS.threads:
    torch.set_num_threads(FLAGS.threads)
  images = real_images(FLAGS.dataset, FLAGS.data_dir)
  generator, seconds, steps = train(torch, images, FLAGS.images, FLAGS.batch_size, FLAGS.seed)
  os.makedirs(FLAGS.out, exist_ok=True)
  np.savez_compressed(os.path.join(FLAGS.out, "samples.npz"), images=samples(torch, generator))
  images_shown = steps * FLAGS.batch_size
  result = {"dataset": FLAGS.dataset, "images": images_shown, "steps": steps,
            "train_seconds": round(seconds, 1), "images_per_second": round(images_shown / seconds),
            "torch": torch.__version__, "threads": torch.get_num_threads(), "seed": FLAGS.seed}
  with open(os.path.join(FLAGS.out, "result.json"), "w") as f:
    json.dump(result, f, indent=2)
  print(json.dumps(result))


if __name__ == "__main__":
  app.run(main)
