"""Rows of docs/results.md from run folders that `zoo.train` trained and `zoo.evaluate` scored.

  python -m zoo.train --model=dense_gan --dataset=mnist --data_dir=../shared/tensorflow_datasets \
      --logdir=runs/dense_gan_mnist
  python -m zoo.evaluate --logdir=runs/dense_gan_mnist
  python -m experiments.results_card runs/dense_gan_mnist [more run folders]

Reads config.json and eval.json; the wall time is the span of the run's TensorBoard events, so it is
measured by the run itself. Prints one markdown row per run.
"""
import glob
import json
import os
import platform
import sys

HEADER = ("| model | dataset | FID | KID | precision | recall | coverage | images seen | wall time | "
          "hardware | command |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|")


def training_wall_seconds(logdir):
  """Seconds the run's training loop ran: per TensorBoard file, from its opening to its last summary,
  summed over the files.

  Each process that trains or resumes the run writes its own file, starting with a version record
  written just before the loop; summing per file leaves out process start-up and the time between an
  interruption and its resume.
  """
  import tensorflow as tf
  spans = []
  for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
    times = [tf.compat.v1.Event.FromString(record.numpy()).wall_time
             for record in tf.data.TFRecordDataset(path)]
    if times:
      spans.append(max(times) - min(times))
  if not spans:
    raise ValueError(f"No TensorBoard events in {logdir}: was it trained by zoo.train?")
  return sum(spans)


def eval_curve(logdir, batch_size):
  """[{"images_seen", "fid", "recall", ...}] that --eval_every logged, in step order (all event files)."""
  import tensorflow as tf
  points = {}
  for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
    for record in tf.data.TFRecordDataset(path):
      event = tf.compat.v1.Event.FromString(record.numpy())
      for value in event.summary.value:
        if value.tag.startswith("eval/"):
          points.setdefault(event.step, {})[value.tag[len("eval/"):]] = float(
              tf.make_ndarray(value.tensor))
  return [{"images_seen": step * batch_size, **scores} for step, scores in sorted(points.items())]


def run_unscored(names, commands, repo, dry_run=False):
  """For each name, `commands(name) -> (run folder, [argv])` run in order, unless the run was already scored
  (its eval.json exists): the driver of the experiments whose cells are independent runs."""
  import shlex
  import subprocess
  for name in names:
    run, todo = commands(name)
    if os.path.exists(os.path.join(run, "eval.json")):
      print(f"# {name}: scored, skipped", flush=True)
      continue
    for argv in todo:
      print(shlex.join(argv), flush=True)
      if not dry_run:
        subprocess.run(argv, cwd=repo, check=True)


def hardware():
  cpu = platform.processor() or platform.machine()
  try:
    with open("/proc/cpuinfo") as f:
      cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
  except (OSError, StopIteration):
    pass
  return f"{os.cpu_count()}-core CPU ({cpu}), no GPU"


def command(config, logdir):
  """The training command: model, dataset, and every model option the run set away from its default."""
  from zoo import models
  defaults = models.get_model(config["model"]).options
  options = [f"--{name}={_flag_value(value)}" for name, value in config["options"].items()
             if name not in defaults or _flag_value(value) != _flag_value(defaults[name].default)]
  flags = " ".join([f"--model={config['model']}", f"--dataset={config['dataset']}"] + options)
  return f"`python -m zoo.train {flags} --data_dir=../shared/tensorflow_datasets --logdir={logdir}`"


def _flag_value(value):
  """How a flag spells an option's value: lists (a tuple in code, a list in config.json) comma-joined."""
  return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def row(logdir):
  with open(os.path.join(logdir, "config.json")) as f:
    config = json.load(f)
  with open(os.path.join(logdir, "eval.json")) as f:
    record = json.load(f)
  m = record["metrics"]
  minutes = training_wall_seconds(logdir) / 60
  cells = [config["model"], config["dataset"], f"{m['fid']:.2f}",
           f"{m['kid']:.4f} ± {m['kid_std']:.4f}", f"{m['precision']:.3f}", f"{m['recall']:.3f}",
           f"{m['modes_covered']}/10", f"{record['images_seen']:,} ({record['step']:,} steps)",
           f"{minutes:.1f} min", hardware(), command(config, logdir.rstrip('/'))]
  return "| " + " | ".join(cells) + " |"


def main(logdirs):
  if not logdirs:
    sys.exit("usage: python -m experiments.results_card RUN_FOLDER [RUN_FOLDER ...]")
  try:
    rows = [row(logdir) for logdir in logdirs]
  except (OSError, ValueError, KeyError) as e:
    sys.exit(f"error: {e} (train with zoo.train, then score with python -m zoo.evaluate --logdir=...)")
  print(HEADER)
  print("\n".join(rows))


if __name__ == "__main__":
  main(sys.argv[1:])
