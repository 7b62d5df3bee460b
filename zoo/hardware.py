"""What the machine computes fast: decides `--precision=auto`.

bfloat16 is the largest speed lever where the hardware multiplies in it (docs/performance.md: a dcgan
step ran 1.3-1.5x faster on a CPU with AMX), and the largest loss where it does not: on a CPU without
native bfloat16 (e.g. an AMD EPYC with AVX2 only) the same step ran ~9x slower in bfloat16 than in
float32, because every matrix product is emulated.
"""
import contextlib
import functools

NATIVE_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
MIN_BF16_GPU_CAPABILITY = (8, 0)  # Ampere and later multiply bfloat16 in tensor cores


@functools.lru_cache(maxsize=None)
def cpu_flags() -> frozenset:
  """The CPU's feature flags from /proc/cpuinfo (empty where there is none, e.g. macOS)."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("flags"):
          return frozenset(line.split(":", 1)[1].split())
  except OSError:
    pass
  return frozenset()


def _gpu_capabilities():
  import tensorflow as tf
  details = [tf.config.experimental.get_device_details(gpu) for gpu in tf.config.list_physical_devices("GPU")]
  return [tuple(d.get("compute_capability", (0, 0))) for d in details]


def auto_precision(strategy: str) -> str:
  """mixed_bfloat16 on TPUs, on GPUs that multiply in bfloat16, and on CPUs with AMX or AVX512-BF16;
  float32 elsewhere."""
  if strategy == "tpu":
    return "mixed_bfloat16"
  gpus = _gpu_capabilities()
  if gpus:
    return "mixed_bfloat16" if min(gpus) >= MIN_BF16_GPU_CAPABILITY else "float32"
  return "mixed_bfloat16" if cpu_flags() & set(NATIVE_BF16_CPU_FLAGS) else "float32"


@contextlib.contextmanager
def precision_policy(name: str):
  """Builds layers under a Keras dtype policy ("float32", "mixed_bfloat16", ...) without leaving it set
  for the rest of the process."""
  import keras
  previous = keras.config.dtype_policy()
  keras.config.set_dtype_policy(name)
  try:
    yield
  finally:
    keras.config.set_dtype_policy(previous)
