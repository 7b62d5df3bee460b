"""The zoo's speed code, behind one switch: `--fast_kernels=auto|on|off` (TrainConfig.fast_kernels).

Models are built from stock Keras layers (zoo/models/). The trainer then passes the built networks to
`accelerate`, which gives each layer that has a faster kernel here a subclass of its own Keras class that
overrides only `call`: the weights, config and checkpoint keys stay the layer's, and so does the
arithmetic up to summation order (tests/test_accel.py). Optimisers come from `adam`. Export and sampling
build the stock networks and restore a checkpoint into them: nothing is converted back.

  off   Keras' own layers and Adam.
  auto  each fast path only where it was measured to pay (`kernels`: the host's kernel library, the
        compute dtype, the shapes; `python -m benchmarks.fast_kernels` measures each path on and off).
  on    every fast path whose shapes allow it, whatever the host: for benchmarks and tests.

Nothing outside this package uses private TensorFlow or Keras APIs.
"""
from zoo.accel.adam import FusedAdam, adam
from zoo.accel.kernels import FAST_CLASSES, accelerate, cpu_kernel_library, walk_layers

MODES = ("auto", "on", "off")

__all__ = ["FAST_CLASSES", "FusedAdam", "MODES", "accelerate", "adam", "cpu_kernel_library", "walk_layers"]
