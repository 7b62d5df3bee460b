"""Time of FID Inception features for 1,000 64x64 RGB samples (random weights: they do not change the cost).

  python -m benchmarks.fid_inception [--samples=1000] [--side=64] [--resize=clean]

Prints the host (CPU model, whether it has AVX-512 BF16, load average) and the seconds for the resize to
299x299 and for the network, so docs/metrics.md can state what a 1,000-sample Inception evaluation costs.
The network runs in float32 whatever --precision a run trains with.
"""
import os
import time

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_integer("samples", 1000, "Number of uint8 RGB samples.")
flags.DEFINE_integer("side", 64, "Side of the samples.")
flags.DEFINE_enum("resize", "clean", ["clean", "legacy_tf", "legacy_pytorch"], "Resize mode to 299x299.")


def host_line() -> str:
  model, flags_line = "unknown CPU", ""
  with open("/proc/cpuinfo") as f:
    for line in f:
      if line.startswith("model name") and model == "unknown CPU":
        model = line.split(":", 1)[1].strip()
      elif line.startswith("flags") and not flags_line:
        flags_line = line
  bf16 = "yes" if "avx512_bf16" in flags_line.split() else "no"
  load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
  return f"{model}, {os.cpu_count()} cores, avx512_bf16 {bf16}, load average {load}"


def main(argv):
  del argv
  from zoo import cli
  cli.quiet_library_logs()
  from zoo.metrics import inception
  print(host_line())
  images = np.random.default_rng(0).integers(0, 256, (FLAGS.samples, FLAGS.side, FLAGS.side, 3), np.uint8)
  began = time.perf_counter()
  extractor = inception.InceptionFeatures(weights=None, resize=FLAGS.resize)
  built = time.perf_counter()
  extractor(images[:inception.BATCH])  # the first batch pays for one-time setup; not counted
  warm = time.perf_counter()
  for start in range(0, FLAGS.samples, inception.BATCH):
    inception.to_network_input(images[start:start + inception.BATCH], FLAGS.resize)
  resized = time.perf_counter()
  features = extractor(images)
  done = time.perf_counter()
  assert features.shape == (FLAGS.samples, 2048)
  print(f"build {built - began:.1f} s, first batch {warm - built:.1f} s")
  seconds = done - resized
  print(f"{FLAGS.samples} {FLAGS.side}x{FLAGS.side} samples, resize {FLAGS.resize}: features in "
        f"{seconds:.1f} s ({FLAGS.samples / seconds:.1f} images/s), of which the resize alone "
        f"{resized - warm:.1f} s")
  print(f"load average after: {', '.join(f'{value:.2f}' for value in os.getloadavg())}")


if __name__ == "__main__":
  app.run(main)
