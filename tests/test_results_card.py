"""experiments/results_card.py: the wall time of a run that was interrupted and resumed."""
import pytest
import tensorflow as tf

from experiments import results_card


def write_events(path, wall_times):
  with tf.io.TFRecordWriter(str(path)) as writer:
    for wall_time in wall_times:
      writer.write(tf.compat.v1.Event(wall_time=wall_time).SerializeToString())


def test_wall_time_sums_each_process_and_skips_the_pause_between(tmp_path):
  write_events(tmp_path / "events.out.tfevents.100.host.1.v2", [100.0, 160.0, 400.0])
  # resumed an hour after the interruption
  write_events(tmp_path / "events.out.tfevents.4000.host.2.v2", [4000.0, 4100.0])
  assert results_card.training_wall_seconds(str(tmp_path)) == pytest.approx(300.0 + 100.0)


def test_a_folder_without_events_is_a_clear_error(tmp_path):
  with pytest.raises(ValueError, match="No TensorBoard events"):
    results_card.training_wall_seconds(str(tmp_path))
