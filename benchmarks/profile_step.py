"""Where a model's training step spends its time: kernel time per TensorFlow op type, from a profile.

  TF_CPP_MIN_LOG_LEVEL=2 python -m benchmarks.profile_step --model=dcgan               # ~2 min
  TF_CPP_MIN_LOG_LEVEL=2 python -m benchmarks.profile_step --model=dcgan --keras_layers

Builds the case of `benchmarks/throughput.py` (the model's defaults, or Keras' own layer kernels with
--keras_layers, or the tutorial-style reference with --reference), warms it through one epoch of the
benchmark's split, then records `--steps` steps with `tf.profiler` and sums the duration of every op
executed by TensorFlow's executor threads, per op type. Durations are per op, not per core: ops run
two at a time on this 2-core CPU, so the total exceeds the wall time of a step. Reads the profile
with TensorFlow's bundled XPlane protobuf (an internal module; tested with TF 2.21).
"""
import collections
import glob
import os
import tempfile
import time

from absl import app, flags

from benchmarks import throughput

FLAGS = flags.FLAGS
flags.DEFINE_integer("profile_steps", 16, "Steps recorded in the profile.")
flags.DEFINE_bool("keras_layers", False, "Build the networks with Keras' own layer kernels.")
flags.DEFINE_bool("reference", False, "Profile the tutorial-style reference step instead.")
flags.DEFINE_integer("top", 20, "Op types listed.")


def kernel_time_by_op_type(xplane_path):
  """{op type: total picoseconds} over the executor threads of a profile."""
  from tensorflow.tsl.profiler.protobuf import xplane_pb2
  space = xplane_pb2.XSpace()
  with open(xplane_path, "rb") as f:
    space.ParseFromString(f.read())
  totals = collections.Counter()
  for plane in space.planes:
    for line in plane.lines:
      if not line.name.startswith("tf_Compute"):  # the executor's threads; not Eigen's inner pools
        continue
      for event in line.events:
        name = plane.event_metadata[event.metadata_id].name
        # Ops are named "scope/op_name:OpType"; the executor's own events ("ExecutorState::Process",
        # which encloses the ops it runs) are skipped.
        if ":" in name and "::" not in name:
          totals[name.rsplit(":", 1)[1]] += event.duration_ps
  return totals


def main(argv):
  del argv
  import tensorflow as tf
  model = FLAGS.model
  config = throughput._config(model, "profile", {})
  if FLAGS.reference:
    run = throughput.reference_runner(model, config)
  else:
    run = throughput.zoo_runner(model, config, keras_layers=FLAGS.keras_layers)
  run(throughput.train_examples(model) // config.batch_size + 1)  # compile and fill the input cache
  steps = FLAGS.profile_steps
  began = time.perf_counter()
  run(steps)
  step_ms = (time.perf_counter() - began) / steps * 1000
  with tempfile.TemporaryDirectory() as logdir:
    tf.profiler.experimental.start(logdir)
    run(steps)
    tf.profiler.experimental.stop()
    totals = kernel_time_by_op_type(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)[0])
  total = sum(totals.values())
  print(f"\n{model}: {step_ms:.0f} ms per step (wall, unprofiled), {total / 1e9 / steps:.0f} ms of op time "
        f"per step\n\n| op type | ms per step | share |\n| --- | --- | --- |")
  for op_type, picoseconds in totals.most_common(FLAGS.top):
    print(f"| {op_type} | {picoseconds / 1e9 / steps:.1f} | {picoseconds / total:.0%} |")


if __name__ == "__main__":
  app.run(main)
