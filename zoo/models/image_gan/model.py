"""`image_gan`: image restoration as conditional image-to-image translation (article 004, SPEC section 5).

The article describes a generator that extracts features with conv layers and encodes them into a
better image, a discriminator with conv and fully connected layers that scores how alike a generated
and a real image are, and "pixel-level modification of real images"; the zoo reads it as pix2pix-style
restoration (Isola et al. 2017):

- the input pipeline degrades each real batch (`--task`: denoise, inpaint, superres, colorize;
  zoo/degradations.py), seeded by (seed, batch index);
- G: a conv encoder-decoder with skip connections (U-Net) from the degraded image to the restored one;
  Conv(f, 3) -> Conv(2f, 4, 2) -> Conv(4f, 4, 2) -> Conv(4f, 3) -> ConvT(2f, 4, 2) + skip ->
  ConvT(f, 4, 2) + skip -> Conv(C, 3), linear while training and clipped when restoring, f =
  `generator_filters`;
- D: scores the (degraded input, image) pair, channel-concatenated: Conv(df, 4, 2) -> Conv(2df, 4, 2)
  -> Flatten -> Dense(1) per image (`discriminator=image`, the article's conv + fully connected D), or a
  Conv(1, 3) logit per 18x18-pixel patch (`discriminator=patch`, pix2pix's PatchGAN);
- G's loss: the non-saturating adversarial loss + `l1_weight` x mean |G(x) - real| (logged as train/l1,
  weighted), in the [-1, 1] pixel range.
Departures and results: docs/image_gan.md.
"""
import tensorflow as tf

from zoo import pixels
from zoo.models.image_gan import degradations
from zoo.models.registry import ModelSpec, Option, register

DEFAULTS = {
    "dataset": "mnist",
    "batch_size": 64,
    "g_learning_rate": 2e-4,          # pix2pix: Adam(2e-4, beta_1=0.5)
    "d_learning_rate": 2e-4,
    "beta_1": 0.5,
    "steps": 1000,                    # ~1.1 epochs; sized for a shared 2-core CPU (docs/image_gan.md)
    "log_every": 50,
    "image_every": 250,
    "checkpoint_every": 500,
    "num_grid_images": 8,             # grid rows of degraded | restored | original
}

TUNING = {"steps_per_call": 10}
DISCRIMINATORS = ("image", "patch")
# Each is also a plain flag of zoo.train, e.g. --task=inpaint.
OPTIONS = {
    "task": Option("denoise", "The degradation G learns to undo (colorize needs RGB data).",
                   choices=degradations.TASKS),
    "noise_sigma": Option(0.3, "denoise: Gaussian sigma in [0, 1] pixel units."),
    "mask_size": Option(14, "inpaint: side of the square hole (a quarter of a 28x28 image)."),
    "scale": Option(4, "superres: downsampling factor."),
    "l1_weight": Option(100.0, "lambda of the L1 term (pix2pix's value)."),
    "discriminator": Option("image", "image: conv + dense, one logit per image; patch: PatchGAN.",
                            choices=DISCRIMINATORS),
    "generator_filters": Option(16, "f of the U-Net; 16 keeps a step cheap on CPU."),
    "discriminator_filters": Option(32, "Filters of D's first convolution."),
}
DOWNSAMPLING = 4  # G halves the image twice
PIXEL_RANGE = "symmetric"  # [-1, 1], as pix2pix


def check_options(config, image_shape):
  """Every option mistake as one ValueError naming the fix, before any layer is built."""
  options = config.options
  height, width, channels = image_shape
  degradations.check_task(options["task"], channels)
  if height % DOWNSAMPLING or width % DOWNSAMPLING:
    raise ValueError(f"image_gan's U-Net halves the image twice, so its sides must be multiples of "
                     f"{DOWNSAMPLING}; got {height}x{width}. Set --image_size, e.g. --image_size=32.")
  if options["noise_sigma"] <= 0:
    raise ValueError(f"--noise_sigma must be positive (a standard deviation in [0, 1] pixel units, e.g. "
                     f"0.3), got {options['noise_sigma']}.")
  if not 1 <= options["mask_size"] <= min(height, width):
    raise ValueError(f"--mask_size must be between 1 and the image side {min(height, width)}, got "
                     f"{options['mask_size']}.")
  if options["scale"] < 1:
    raise ValueError(f"--scale must be 1 or more, got {options['scale']}.")
  if options["task"] == "superres" and (height % options["scale"] or width % options["scale"]):
    raise ValueError(f"--scale={options['scale']} must divide the image size {height}x{width}.")
  if options["l1_weight"] < 0:
    raise ValueError(f"--l1_weight must be >= 0, got {options['l1_weight']}.")
  for name in ("generator_filters", "discriminator_filters"):
    if options[name] <= 0:
      raise ValueError(f"--{name} must be positive, got {options[name]}.")


# networks.py defines Keras layer classes, so importing it loads Keras: it is imported by the builders below,
# not with the registry (zoo/models/registry.py says why).
def build_generator(config, image_shape):
  from zoo.models.image_gan import networks
  return networks.build_generator(image_shape, config.options["generator_filters"], PIXEL_RANGE)


def build_discriminator(config, image_shape):
  from zoo.models.image_gan import networks
  return networks.build_discriminator(image_shape, config.options["discriminator_filters"],
                                      config.options["discriminator"])


def degrade_batch(config, real, seed):
  """The trainer's `prepare_batch`: adds the degraded copy of a global batch of real images."""
  options = config.options
  degraded = degradations.degrade(pixels.to_unit(real, PIXEL_RANGE), seed, options["task"],
                                  options["noise_sigma"], options["mask_size"], options["scale"])
  # Quantised to 8 bits: G trains on exactly the pixel values a saved PNG of the input would hold.
  return {"real": real, "degraded": pixels.from_unit(pixels.quantize_unit(degraded), PIXEL_RANGE)}


def degraded_input(batch, z):
  del z  # the degradation is the only randomness G needs
  return batch["degraded"]


def input_and_output_pair(batch, images):
  return tf.concat([tf.cast(batch["degraded"], images.dtype), images], axis=-1)


def weighted_l1(config, batch, restored):
  """{"l1": l1_weight x per-example mean absolute error to the original} [B]."""
  error = tf.abs(tf.cast(restored, tf.float32) - tf.cast(batch["real"], tf.float32))
  return {"l1": config.options["l1_weight"] * tf.reduce_mean(error, axis=[1, 2, 3])}


def restoration_rows(batch, restored):
  return [batch["degraded"], restored, batch["real"]]


def stock_generator(config, generator):
  from zoo.models.image_gan import networks
  return networks.stock_generator(config, generator)


SPEC = register(ModelSpec(
    name="image_gan",
    build_generator=build_generator,
    build_discriminator=build_discriminator,
    defaults=DEFAULTS,
    options=OPTIONS,
    tuning=TUNING,
    check_options=check_options,
    variants={**{task: {"options": {"task": task}} for task in ("denoise", "inpaint", "superres")},
              # Real RGB photo patches (tests/helpers.py points the folder at them), at a small size.
              "colorize": {"dataset": "folder_rgb", "image_size": 16, "train_split": "train",
                           "options": {"task": "colorize"}}},
    tools=("restore",),
    export_model=stock_generator,
    pixel_range=PIXEL_RANGE,
    description="conditional image-to-image restoration GAN, U-Net G, pair D, adversarial + L1 (004)",
    prepare_batch=degrade_batch,
    generator_input=degraded_input,
    discriminator_input=input_and_output_pair,
    extra_generator_losses=weighted_l1,
    generator_terms=("l1",),
    grid_rows=restoration_rows,
))
