"""Builds the tf.distribute strategy named by `--strategy`, and answers which worker is the chief.

How to run each strategy, with TF_CONFIG examples: docs/distributed.md. A strategy that cannot start
raises ValueError with a one-line message naming the flag or variable to fix (the CLIs print it).
"""
import json
import os

import keras
import tensorflow as tf

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker", "tpu")


def make_strategy(name: str, tpu: str = "") -> tf.distribute.Strategy:
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "one_device":
    device = "/gpu:0" if tf.config.list_logical_devices("GPU") else "/cpu:0"
    return tf.distribute.OneDeviceStrategy(device)
  if name == "mirrored":
    return tf.distribute.MirroredStrategy()
  if name == "multi_worker":
    _check_tf_config(os.environ.get("TF_CONFIG"))
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == "tpu":
    return _tpu_strategy(tpu)
  raise ValueError(f"Unknown --strategy={name!r}. Valid strategies: {', '.join(STRATEGIES)}.")


def _check_tf_config(tf_config):
  """Refuses a missing or malformed TF_CONFIG with a message pointing at the docs."""
  docs = "see docs/distributed.md for examples"
  if not tf_config:
    raise ValueError("--strategy=multi_worker needs the TF_CONFIG environment variable describing the "
                     f"cluster and this worker's task; {docs}.")
  try:
    value = json.loads(tf_config)
  except ValueError as e:
    raise ValueError(f"TF_CONFIG is not valid JSON ({e}); {docs}.") from None
  if not isinstance(value, dict) or not isinstance(value.get("cluster"), dict) or \
      not isinstance(value.get("task"), dict):
    raise ValueError(f'TF_CONFIG must be a JSON object with "cluster" and "task" entries; {docs}.')
  task_type, index = value["task"].get("type"), str(value["task"].get("index", 0))
  members = value["cluster"].get(task_type)
  if not isinstance(members, list) or not index.isdigit() or int(index) >= len(members):
    sizes = ", ".join(f"{len(v)} {k}" for k, v in value["cluster"].items() if isinstance(v, list))
    raise ValueError(f"TF_CONFIG's task {json.dumps(value['task'])} is not in its cluster ({sizes}); "
                     f"{docs}.")


_TPU_ENVIRONMENT = ("TPU_NAME", "TPU_CONFIG", "KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS")  # what the resolver reads


def _tpu_strategy(tpu):
  if not tpu and not any(os.environ.get(name) for name in _TPU_ENVIRONMENT):
    raise ValueError("--strategy=tpu needs --tpu: the Cloud TPU's name, its grpc://host:port address, or "
                     "--tpu=local on a TPU VM (or TPU_NAME set in the environment); see docs/distributed.md.")
  try:
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or None)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
  except (ValueError, RuntimeError, ImportError, tf.errors.OpError) as e:
    lines = str(e).strip().splitlines() or [type(e).__name__]
    raise ValueError(f"--strategy=tpu could not start the TPU {tpu or '(from the environment)'!r}: "
                     f"{lines[0]}. Check --tpu; see docs/distributed.md.") from None
  return tf.distribute.TPUStrategy(resolver)


def task(strategy):
  """(task_type, task_id) of this process; (None, None) outside a multi-worker cluster."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return None, None
  return resolver.task_type, resolver.task_id


def is_chief(strategy) -> bool:
  task_type, task_id = task(strategy)
  if task_type is None:
    return True
  has_chief = "chief" in json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
  return task_type == "chief" or (not has_chief and task_type == "worker" and task_id == 0)


def replica_batch_norm(**kwargs):
  """A BatchNormalization that normalises over the global batch when there are several replicas.

  Without it 2 replicas would train a different model than 1; synchronising costs a cross-replica
  reduction, so it is only switched on when needed.
  """
  replicas = tf.distribute.get_strategy().num_replicas_in_sync
  return keras.layers.BatchNormalization(synchronized=replicas > 1, **kwargs)
