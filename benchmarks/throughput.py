"""Training images/s of the shared trainer against a TF-tutorial-style step on the same networks.

  TF_CPP_MIN_LOG_LEVEL=2 python -m benchmarks.throughput --model=dense_gan
  TF_CPP_MIN_LOG_LEVEL=2 python -m benchmarks.throughput --model=tutorial_dcgan
  TF_CPP_MIN_LOG_LEVEL=2 python -m benchmarks.throughput --model=dcgan

The reference is the step of the TensorFlow DCGAN tutorial (tensorflow.org/tutorials/generative/dcgan):
one tf.function per step called from a Python loop over a tf.data pipeline, two GradientTapes, D
called separately on real and fake, float32, no XLA. Each zoo case runs the same networks, data and
losses through `zoo.training.GANTrainer`; most add one optimisation to the case above them, and the
model's defaults are among them. The reference builds its networks with Keras' own layers
and Adam, as a tutorial writes them; so do the zoo cases with --fast_kernels=off ("Keras layers").
Cases are interleaved round by round, so a machine shared with other jobs slows them alike; a ratio is
the median of the per-round ratios. Images per CPU-second of this process are printed too: they vary
less on a busy machine.

The bfloat16 cases run only where bf16 is the zoo's automatic precision (AMX/AVX512-BF16 CPUs, recent
GPUs, TPUs) unless --all_cases. Expected on a 2-core CPU: 2-10 minutes per model (docs/performance.md).
"""
import statistics
import time

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_enum("model", "dense_gan", ["dense_gan", "tutorial_dcgan", "dcgan"], "Networks to time.")
flags.DEFINE_string("data_dir", "../shared/tensorflow_datasets", "TFDS data_dir with mnist prepared.")
flags.DEFINE_integer("steps", 0, "Training steps per case per round (0: the model's setting below).")
flags.DEFINE_integer("rounds", 3, "Interleaved rounds.")
flags.DEFINE_bool("all_cases", False, "Also run the bfloat16 cases where bf16 is emulated (slow).")

REFERENCE = "reference (tutorial step, float32)"
# Every pipeline decodes this split's PNGs once, then serves it from its cache. Decoding steals CPU from
# the step it runs beside, so the cases are warmed through one whole epoch (the cache filled) before
# timing; the split is small to keep that short. What is timed is the steady state, as the tutorial's
# in-memory NumPy input would give.
TRAIN_EXAMPLES = 6400
TRAIN_SPLIT = f"train[:{TRAIN_EXAMPLES}]"
_PLAIN_D = {"options": {"discriminator_batchnorm": False}}
_FLOAT32_ONE_STEP = dict(precision="float32", joint_discriminator_pass=False, steps_per_call=1,
                         jit_compile=False)

# Per model: the data settings, steps per round, and the zoo cases (each adds one thing).
BENCHMARKS = {
    "dense_gan": dict(
        data=dict(batch_size=128),
        steps=400,
        cases={
            "zoo float32": _FLOAT32_ONE_STEP,
            "+ 20 steps/call": {**_FLOAT32_ONE_STEP, "steps_per_call": 20},
            "+ joint D pass": {**_FLOAT32_ONE_STEP, "steps_per_call": 20, "joint_discriminator_pass": True},
            "+ XLA": {**_FLOAT32_ONE_STEP, "steps_per_call": 20, "joint_discriminator_pass": True,
                      "jit_compile": True},
            "+ bf16 (instead of XLA)": {**_FLOAT32_ONE_STEP, "steps_per_call": 20,
                                        "joint_discriminator_pass": True, "precision": "mixed_bfloat16"},
            "+ bf16 and XLA": {**_FLOAT32_ONE_STEP, "steps_per_call": 20, "joint_discriminator_pass": True,
                               "precision": "mixed_bfloat16", "jit_compile": True},
            "bf16, XLA, separate D passes": {**_FLOAT32_ONE_STEP, "steps_per_call": 20,
                                             "precision": "mixed_bfloat16", "jit_compile": True},
        }),
    "tutorial_dcgan": dict(
        data=dict(batch_size=256),
        steps=12,
        cases={
            "zoo float32": _FLOAT32_ONE_STEP,
            "+ bf16": {**_FLOAT32_ONE_STEP, "precision": "mixed_bfloat16"},
            "+ 4 steps/call": {**_FLOAT32_ONE_STEP, "precision": "mixed_bfloat16", "steps_per_call": 4},
            "+ joint D pass": {**_FLOAT32_ONE_STEP, "precision": "mixed_bfloat16", "steps_per_call": 4,
                               "joint_discriminator_pass": True},
        }),
    "dcgan": dict(
        # dcgan's defaults: MNIST zero-padded to 32x32, batch 64, G's moving average. The first rows
        # are the speed ladder; the last four price the recipe's additions on a D without BatchNorm
        # (R1 needs one: dcgan refuses R1 with its BatchNorm D), each row adding one to the row above
        # (the indented row replaces the one above it).
        data=dict(dataset="mnist", batch_size=64),
        train_examples=1280,
        steps=20,
        cases={
            "zoo float32, Keras layers, no EMA": {**_FLOAT32_ONE_STEP, "ema_decay": 0.0,
                                                  "fast_kernels": "off"},
            "+ fast kernels": {**_FLOAT32_ONE_STEP, "ema_decay": 0.0},
            "+ 4 steps/call": {"precision": "float32", "ema_decay": 0.0},
            "+ G's EMA (dcgan defaults, float32)": {"precision": "float32"},
            "+ bf16 (dcgan defaults on AMX)": {"precision": "mixed_bfloat16"},
            "D without BatchNorm, no EMA": {"precision": "float32", "ema_decay": 0.0, **_PLAIN_D},
            "+ G's EMA": {"precision": "float32", **_PLAIN_D},
            "+ lazy R1 (every 4)": {"precision": "float32", "r1_gamma": 1.0, "r1_every": 4, **_PLAIN_D},
            "  (R1 every 16 instead)": {"precision": "float32", "r1_gamma": 1.0, "r1_every": 16, **_PLAIN_D},
            "+ DiffAugment translation,cutout": {"precision": "float32", "r1_gamma": 1.0, "r1_every": 4,
                                                "augment": "translation,cutout", **_PLAIN_D},
        }),
}


def _spec(model):
  if model == "tutorial_dcgan":
    from benchmarks import tutorial_dcgan
    return tutorial_dcgan.SPEC
  from zoo import models
  return models.get_model(model)


def _config(model, case, overrides):
  from zoo import config as config_lib
  values = {"data_dir": FLAGS.data_dir, "dataset": "mnist",
            "train_split": f"train[:{train_examples(model)}]", **BENCHMARKS[model]["data"], **overrides}
  return config_lib.resolve(model, f"/tmp/throughput/{model}/{case}", values, spec=_spec(model))


def train_examples(model):
  return BENCHMARKS[model].get("train_examples", TRAIN_EXAMPLES)


def _cases(model):
  """The model's cases; bfloat16 ones only where bf16 is the zoo's automatic choice (AMX/AVX512-BF16
  CPUs, GPUs, TPUs) or --all_cases: elsewhere bf16 is emulated, many times slower than float32."""
  from zoo import hardware
  cases = BENCHMARKS[model]["cases"]
  if FLAGS.all_cases or hardware.auto_precision("default") == "mixed_bfloat16":
    return cases
  kept = {case: overrides for case, overrides in cases.items()
          if overrides.get("precision") != "mixed_bfloat16"}
  skipped = ", ".join(case for case in cases if case not in kept)
  if skipped:
    print(f"Skipped (bf16 is emulated on this CPU; --all_cases runs them): {skipped}")
  return kept


def reference_runner(model, config):
  """The tutorial's training step around the same networks and losses."""
  import keras
  import tensorflow as tf
  from zoo import data
  from zoo.recipe import losses
  spec = _spec(model)
  loss = losses.get(config.loss)  # the model's default family, as the zoo cases use
  shape = data.image_shape(config.dataset, config.image_size, config.data_dir)
  keras.utils.set_random_seed(config.seed)
  generator = spec.build_generator(config, shape)
  discriminator = spec.build_discriminator(config, shape)
  g_optimizer = keras.optimizers.Adam(config.g_learning_rate, beta_1=config.beta_1)
  d_optimizer = keras.optimizers.Adam(config.d_learning_rate, beta_1=config.beta_1)

  def regularization(model):
    return tf.add_n(model.losses) if model.losses else 0.0

  @tf.function
  def train_step(images):
    z = tf.random.normal([config.batch_size, config.latent_dim])
    with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
      fake = generator(z, training=True)
      real_logits = discriminator(images, training=True)
      fake_logits = discriminator(fake, training=True)
      g_loss = tf.reduce_mean(loss.generator(real_logits, fake_logits)) + regularization(generator)
      d_loss = (tf.reduce_mean(loss.discriminator(real_logits, fake_logits))
                + regularization(discriminator))
    g_optimizer.apply_gradients(zip(g_tape.gradient(g_loss, generator.trainable_variables),
                                    generator.trainable_variables))
    d_optimizer.apply_gradients(zip(d_tape.gradient(d_loss, discriminator.trainable_variables),
                                    discriminator.trainable_variables))
    return g_loss

  batches = iter(data.training_batches(config))

  def run(steps):
    for _ in range(steps):
      loss = train_step(next(batches))
    float(loss)  # wait for the last step
  return run


def zoo_runner(model, config):
  """The shared trainer at `config`."""
  from zoo import training
  trainer = training.GANTrainer(config, spec=_spec(model))
  batches = trainer.distributed_batches(0)

  def run(steps):
    done = 0
    while done < steps:
      calls = min(config.steps_per_call, steps - done)
      trainer.train_steps(batches, calls)  # returns host values: the work has finished
      done += calls
  return run


def measure(run, steps, batch_size):
  """(images per wall-clock second, images per CPU second of this process)."""
  began, began_cpu = time.perf_counter(), time.process_time()
  run(steps)
  images = steps * batch_size
  return images / (time.perf_counter() - began), images / (time.process_time() - began_cpu)


def main(argv):
  del argv
  model = FLAGS.model
  steps = FLAGS.steps or BENCHMARKS[model]["steps"]
  reference_config = _config(model, "reference", {})
  runners = {REFERENCE: reference_runner(model, reference_config)}
  for case, overrides in _cases(model).items():
    runners[case] = zoo_runner(model, _config(model, str(len(runners)), overrides))
  epoch_steps = train_examples(model) // reference_config.batch_size + 1
  for run in runners.values():  # compile, and fill the input pipelines' caches, outside the timing
    run(max(2, steps // 4, epoch_steps))
  wall = {case: [] for case in runners}
  cpu = {case: [] for case in runners}
  for round_index in range(FLAGS.rounds):
    for case, run in runners.items():
      wall_rate, cpu_rate = measure(run, steps, reference_config.batch_size)
      wall[case].append(wall_rate)
      cpu[case].append(cpu_rate)
    print(f"round {round_index + 1} images/s: " +
          ", ".join(f"{c} {r[-1]:.0f}" for c, r in wall.items()), flush=True)
  print(f"\n{model}: medians over {FLAGS.rounds} interleaved rounds of {steps} steps, "
        f"batch {reference_config.batch_size}\n")
  print("| case | images/s | vs reference | images per CPU-s | vs reference |\n"
        "| --- | --- | --- | --- | --- |")
  for case in runners:
    print(f"| {case} | {statistics.median(wall[case]):.0f} | {_ratio(wall, case):.2f}x "
          f"| {statistics.median(cpu[case]):.0f} | {_ratio(cpu, case):.2f}x |")


def _ratio(rates, case):
  return statistics.median(value / reference for value, reference in zip(rates[case], rates[REFERENCE]))


if __name__ == "__main__":
  app.run(main)
