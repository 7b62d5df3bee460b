"""Shared test setup: two logical CPU devices (for 1- vs 2-replica tests) and the offline data dir."""
import functools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.environ.get("TFDS_DATA_DIR") or os.path.join(os.path.dirname(REPO), "shared",
                                                            "tensorflow_datasets")

# Must happen before TensorFlow initialises its devices, i.e. before any test touches TF.
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
# One thread pool size on every machine: the pool size sets how float reductions are split, so the same
# test sums in the same order on a 2-core and a 64-core host (comparisons still allow for rounding: the
# CPU's kernel library, oneDNN or Eigen, sums in its own order).
THREADS = 2
tf.config.threading.set_intra_op_parallelism_threads(THREADS)
tf.config.threading.set_inter_op_parallelism_threads(THREADS)


@pytest.fixture
def data_dir():
  if not os.path.isdir(os.path.join(DATA_DIR, "mnist")):
    pytest.fail(f"Prepared TFDS data not found at {DATA_DIR}: set TFDS_DATA_DIR.")
  return DATA_DIR


def two_cpus():
  return [d.name for d in tf.config.list_logical_devices("CPU")[:2]]


@functools.lru_cache(maxsize=None)
def two_replica_strategy():
  """One MirroredStrategy over two CPUs for the whole session.

  Each strategy numbers its collective ops from the same start, and the process keeps the shapes of
  finished collectives, so a second strategy's synchronized BatchNorm would collide with the first's.
  """
  return tf.distribute.MirroredStrategy(two_cpus())


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
  """A fresh reference-feature cache for the module, so features are really computed and read back."""
  from zoo.metrics import features
  path = str(tmp_path_factory.mktemp("metrics_cache"))
  with pytest.MonkeyPatch.context() as patch:
    patch.setenv(features.CACHE_ENV, path)
    yield path
