"""`compression_gan`: the GAN image codec of article 000 (../shared/SPEC.md section 2).

The article's generator becomes the decoder of a learned codec, so G here is the whole codec:

  encoder:   784 -> Dense(512, LReLU) -> Dense(256, LReLU) -> Dense(128, LReLU) -> Dense(code_size)
             (the article's G layer sizes mirrored, as an encoder must run them in reverse)
  quantiser: round; in training the decoder sees round(y) with an identity gradient (straight-through)
             and the entropy model sees y + U(-1/2, 1/2), whose density is the rounded code's pmf
  entropy:   a learned factorized prior, one mixture of logistics per code dimension
  decoder:   the article's G, code -> Dense(128) -> Dense(256) -> Dense(512) -> Dense(784) (LReLU 0.2)
  D:         the article's D, 784 -> Dense(512) -> Dense(256) -> Dense(128) -> Dense(1) logit

G minimises distortion + adversarial_weight * adversarial + rate_weight * rate, with distortion the
per-image MSE on [0, 1] pixels and rate the entropy model's bits per pixel; the operating point is
chosen by `rate_weight` (and `code_size`). `zoo/models/compression_gan/codec.py` turns a trained run
into real files.

`mode=jpeg_restore` is the article's literal reading: G (the same encoder and decoder, without
quantiser or entropy model) restores the decode of a low-quality JPEG, whose file is the bitstream.
Every departure from the article and why: docs/compression_gan.md.
"""
import functools

import tensorflow as tf

from zoo import pixels
from zoo.models.registry import ModelSpec, Option, register

DEFAULTS = {
    "dataset": "mnist",
    "batch_size": 128,
    "steps": 4000,                # ~8.5 epochs; the mid operating point of docs/compression_gan.md
    "g_learning_rate": 5e-4,
    "d_learning_rate": 2e-4,
    "beta_1": 0.5,
    "log_every": 200,
    "image_every": 1000,
    "checkpoint_every": 1000,
}
TUNING = {"steps_per_call": 20}  # small dense layers: amortise the per-call overhead
MODES = ("codec", "jpeg_restore")
OPTIONS = {
    "mode": Option("codec", "codec: encoder, entropy-coded code, decoder; jpeg_restore: G restores the "
                   "decode of a low-quality JPEG (the article's literal reading).", choices=MODES),
    "code_size": Option(32, "Latent dimensions of the code (the article's is 100)."),
    "rate_weight": Option(0.005, "lambda_rate, per bit per pixel: chooses the operating point."),
    "adversarial_weight": Option(1e-3, "lambda_adv, relative to the MSE distortion; 0 trains the same codec "
                                 "without the GAN term (distortion + rate only)."),
    "jpeg_qualities": Option((1, 5, 10, 20), "jpeg_restore: training draws one of these JPEG qualities "
                             "per image."),
}


def check_options(config, image_shape):
  """Raises ValueError naming the option and a valid value when an option cannot work."""
  del image_shape  # any size works: the networks are dense
  options = config.options
  if not 1 <= options["code_size"] <= 1024:
    raise ValueError(f"compression_gan: code_size={options['code_size']} must be in 1..1024, e.g. 32.")
  if options["rate_weight"] < 0:
    raise ValueError(f"compression_gan: rate_weight={options['rate_weight']} must be >= 0, e.g. 0.01.")
  if options["adversarial_weight"] < 0:
    raise ValueError(f"compression_gan: adversarial_weight={options['adversarial_weight']} must be >= 0 "
                     "(0: no adversarial term), e.g. 1e-3.")
  if not options["jpeg_qualities"] or not all(1 <= q <= 95 for q in options["jpeg_qualities"]):
    raise ValueError(f"compression_gan: jpeg_qualities={options['jpeg_qualities']!r} must be "
                     "comma-separated integers in 1..95, e.g. 1,5,10,20.")


# networks.py defines Keras layer classes, so importing it loads Keras: it is imported where a network is
# built, not with the registry (zoo/models/registry.py says why).
def build_generator(config, image_shape):
  from zoo.models.compression_gan import networks
  code_size = config.options["code_size"]
  generator = networks.CodecGenerator(image_shape, code_size, config.options["mode"],
                                      name="compression_gan_codec")
  # Build every variable now, so checkpoints restore into an existing model.
  generator({"images": tf.zeros((1,) + tuple(image_shape)), "noise": tf.zeros([1, code_size])})
  return generator


def build_discriminator(config, image_shape):
  from zoo.models.compression_gan import networks
  del config  # the article's D has no settings
  return networks.build_discriminator(image_shape)


def inference_model(config, generator):
  from zoo.models.compression_gan import networks
  del config  # the trained codec holds everything its inference model needs
  return networks.inference_model(generator)


# ---- trainer hooks --------------------------------------------------------------------------------

def jpeg_round_trip(images, quality):
  """Decode of a JPEG at `quality` of unit-range images [H, W, C] (TF's libjpeg, as in training)."""
  encoded = tf.io.encode_jpeg(pixels.to_uint8(images, "unit"), quality=quality)
  return pixels.to_model_range(tf.io.decode_jpeg(encoded, channels=images.shape[-1]), "unit")


def _jpeg_degrade(real, qualities, seed):
  """Each image through a JPEG round trip at a quality drawn (from `seed`) among `qualities`."""
  choices = tf.random.stateless_uniform([tf.shape(real)[0]], seed, 0, len(qualities), tf.int32)

  def degrade_one(args):
    image, choice = args
    return tf.switch_case(choice, [functools.partial(jpeg_round_trip, image, q) for q in qualities])
  return tf.map_fn(degrade_one, (real, choices),
                   fn_output_signature=tf.TensorSpec(real.shape[1:], tf.float32))


def prepare_batch(config, real, seed):
  """Adds the quantisation noise (codec) or the JPEG-degraded input (jpeg_restore), from `seed`."""
  if config.options["mode"] == "jpeg_restore":
    return {"real": real, "degraded": _jpeg_degrade(real, config.options["jpeg_qualities"], seed)}
  noise = tf.random.stateless_uniform([tf.shape(real)[0], config.options["code_size"]], seed,
                                      -0.5, 0.5)
  return {"real": real, "noise": noise}


def generator_input(batch, z):
  del z  # a codec's only input is the image
  if "degraded" in batch:
    return {"images": batch["degraded"]}
  return {"images": batch["real"], "noise": batch["noise"]}


def distortion(real, decoded):
  """Per-example MSE on unit-range pixels, [B]."""
  return tf.reduce_mean(tf.square(tf.cast(decoded, tf.float32) - real), axis=[1, 2, 3])


def bits_per_pixel(bits, real):
  return bits / tf.cast(tf.reduce_prod(tf.shape(real)[1:]), tf.float32)


def adversarial_weight(config):
  """1 (the other terms are scaled instead, see below), or 0 for the codec without the GAN term."""
  return 1.0 if config.options["adversarial_weight"] else 0.0


def extra_generator_losses(config, batch, outputs):
  """distortion + rate_weight * rate, divided by adversarial_weight (when it is not 0).

  The trainer adds the adversarial term with weight 1, so dividing the other two terms by
  adversarial_weight gives G's objective distortion + adversarial_weight * adversarial + rate_weight *
  rate times a constant 1/adversarial_weight, which Adam's updates hardly depend on (only through its
  epsilon); keeping it so keeps the documented runs' numbers.
  """
  scale = 1.0 / (config.options["adversarial_weight"] or 1.0)
  real = batch["real"]
  terms = {"distortion": scale * distortion(real, outputs["images"])}
  terms["rate"] = scale * config.options["rate_weight"] * bits_per_pixel(outputs["bits"], real)
  return terms


def grid_rows(batch, fake):
  """Originals above their reconstructions; in jpeg_restore mode the JPEG decodes in between."""
  if "degraded" in batch:
    return [batch["real"], batch["degraded"], fake]
  return [batch["real"], fake]


SPEC = register(ModelSpec(
    name="compression_gan",
    build_generator=build_generator,
    build_discriminator=build_discriminator,
    defaults=DEFAULTS,
    options=OPTIONS,
    tuning=TUNING,
    check_options=check_options,
    variants={mode: {"options": {"mode": mode}} for mode in MODES},
    tools=("compress",),
    pixel_range="unit",  # distortion, rate and JPEG all work on [0, 1] pixels
    description="GAN image codec: encoder, entropy-coded code, the article's G as decoder (article 000)",
    prepare_batch=prepare_batch,
    generator_input=generator_input,
    extra_generator_losses=extra_generator_losses,
    adversarial_weight=adversarial_weight,
    generator_terms=("distortion", "rate"),
    grid_rows=grid_rows,
    export_model=inference_model,
))
