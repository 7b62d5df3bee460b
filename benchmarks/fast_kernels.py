"""Whole training steps with zoo.accel's fast paths on and off, at each model's defaults.

  TF_CPP_MIN_LOG_LEVEL=2 python -m benchmarks.fast_kernels --models=dcgan,dense_gan
  TF_ENABLE_ONEDNN_OPTS=0 python -m benchmarks.fast_kernels --kernel_precision=float32   # Eigen kernels

For each model, the shared trainer at the model's defaults (its precision is --precision=auto's choice on
this host, its split a slice of MNIST) runs with --fast_kernels=off, with each fast path alone (one
layer class given its fast kernel, or the fused Adam), with --fast_kernels=auto (everything), and with
everything but one path (paths interact: what "all" loses without one is that path's share). Cases
are interleaved round by round, so a machine shared with other jobs slows them alike; a speed-up is
the median of the per-round ratios to "off", in images per wall-clock second and per CPU-second of
this process (the latter varies less on a loaded machine). The first line names the host: its CPU,
TensorFlow's CPU kernel library and the load average. A path that gains less than 1.2x on every host
measured is deleted from zoo/accel (docs/performance.md keeps the table).
"""
import os
import statistics

from absl import app, flags

from benchmarks import layers as layer_benchmarks
from benchmarks import throughput

FLAGS = flags.FLAGS
flags.DEFINE_list("models", ["dcgan", "dense_gan"], "Registered models to time at their defaults.")
flags.DEFINE_integer("kernel_rounds", 5, "Interleaved rounds.")
flags.DEFINE_integer("kernel_steps", 24, "Training steps per case and round.")
flags.DEFINE_string("kernel_precision", "", "A precision for every model instead of its default, e.g. "
                    "float32 with TF_ENABLE_ONEDNN_OPTS=0 to time TensorFlow's Eigen kernels on any CPU.")

TRAIN_SPLIT = "train[:2560]"


def _paths():
  """{case name: (fast_kernels, Keras classes given their kernels or None for all, fused Adam)}."""
  from zoo import accel
  cases = {"off": ("off", (), False)}
  for keras_class in accel.FAST_CLASSES:
    cases[f"{keras_class.__name__} only"] = ("on", (keras_class,), False)
  cases["fused Adam only"] = ("on", (), True)
  cases["auto (all)"] = ("auto", None, True)
  for keras_class in accel.FAST_CLASSES:  # paths can interact: each one's share of "all"
    others = tuple(c for c in accel.FAST_CLASSES if c is not keras_class)
    cases[f"all but {keras_class.__name__}"] = ("auto", others, True)
  cases["all but fused Adam"] = ("auto", None, False)
  return cases


def _runner(model, case, fast_kernels, classes, fused_adam):
  import keras
  from zoo import accel, training
  from zoo import config as config_lib
  values = {"data_dir": FLAGS.data_dir, "train_split": TRAIN_SPLIT, "fast_kernels": "off",
            **({"precision": FLAGS.kernel_precision} if FLAGS.kernel_precision else {})}
  config = config_lib.resolve(model, f"/tmp/benchmarks_fast_kernels/{model}/{case}", values)
  trainer = training.GANTrainer(config)
  state = trainer.state
  for network in (state.generator, state.discriminator, state.ema and state.ema.target):
    if network is not None:
      accel.accelerate(network, fast_kernels, classes)
  if fused_adam:  # before the first call traces the step
    for optimizer in (state.g_optimizer, state.d_optimizer):
      assert type(optimizer) is keras.optimizers.Adam
      optimizer.__class__ = accel.FusedAdam
  batches = trainer.distributed_batches(0)

  def run(steps):
    done = 0
    while done < steps:
      calls = min(config.steps_per_call, steps - done)
      trainer.train_steps(batches, calls)
      done += calls
  return run, config


def table(model):
  cases = _paths()
  runners = {}
  for case, (fast_kernels, classes, fused_adam) in cases.items():
    runners[case], config = _runner(model, case, fast_kernels, classes, fused_adam)
  for run in runners.values():  # compile, and fill the input pipeline's cache, outside the timing
    run(max(8, 2560 // config.batch_size + 1))
  wall = {case: [] for case in runners}
  cpu = {case: [] for case in runners}
  for round_index in range(FLAGS.kernel_rounds):
    order = list(runners) if round_index % 2 == 0 else list(reversed(runners))
    for case in order:
      wall_rate, cpu_rate = throughput.measure(runners[case], FLAGS.kernel_steps, config.batch_size)
      wall[case].append(wall_rate)
      cpu[case].append(cpu_rate)
    print(f"{model} round {round_index + 1}: " + ", ".join(f"{c} {r[-1]:.0f}" for c, r in wall.items()),
          flush=True)
  print(f"\n{model} at its defaults ({config.precision}, batch {config.batch_size}, "
        f"{config.steps_per_call} steps/call): medians over {FLAGS.kernel_rounds} interleaved rounds of "
        f"{FLAGS.kernel_steps} steps, load average now {os.getloadavg()[0]:.1f}\n\n"
        "| case | images/s | vs off | images per CPU-s | vs off |\n| --- | --- | --- | --- | --- |")
  for case in runners:
    print(f"| {case} | {statistics.median(wall[case]):.0f} | {_ratio(wall, case):.2f}x "
          f"| {statistics.median(cpu[case]):.0f} | {_ratio(cpu, case):.2f}x |", flush=True)


def _ratio(rates, case):
  return statistics.median(value / off for value, off in zip(rates[case], rates["off"]))


def main(argv):
  del argv
  print(layer_benchmarks.machine())
  for model in FLAGS.models:
    table(model)


if __name__ == "__main__":
  app.run(main)
