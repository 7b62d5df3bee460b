"""MultiWorkerMirroredStrategy: two worker processes on localhost train together."""
import json
import os
import socket

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import QUICK_FLAGS, popen_module


def free_ports(count):
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(("localhost", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def weights_in(directory):
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(directory))
  return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
          if name != "_CHECKPOINTABLE_OBJECT_GRAPH"}


@pytest.mark.slow
def test_two_workers_finish_with_the_same_weights(tmp_path):
  workers = [f"localhost:{port}" for port in free_ports(2)]
  logdir = str(tmp_path / "run")
  processes = []
  for index in range(2):
    tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
    processes.append(popen_module("zoo.train", *QUICK_FLAGS, "--strategy=multi_worker", "--steps=6",
                                  f"--logdir={logdir}", env={"TF_CONFIG": json.dumps(tf_config)}))
  outputs = [p.communicate(timeout=600)[0] for p in processes]
  for process, output in zip(processes, outputs):
    assert process.returncode == 0, output[-3000:]
  assert "step 6/6" in outputs[0]
  assert "--strategy=multi_worker (2 replica(s))" in outputs[0]
  chief = weights_in(os.path.join(logdir, "checkpoints"))
  other = weights_in(os.path.join(logdir, "checkpoints", ".worker_1"))
  assert chief.keys() == other.keys(), set(chief) ^ set(other)
  assert len(chief) > 20
  for name in chief:
    np.testing.assert_array_equal(chief[name], other[name], err_msg=name)
  assert tf.train.latest_checkpoint(os.path.join(logdir, "checkpoints")).endswith("ckpt-6")
