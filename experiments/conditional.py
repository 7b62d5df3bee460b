"""The class-conditional rows of docs/results.md and the figures of docs/conditional.md.

  python -m experiments.conditional --runs=dcgan_mnist,dcgan_fashion_mnist   # trains, scores, draws
  python -m experiments.conditional --table                                   # prints the rows

Each run is `python -m zoo.train --model=dcgan --dataset=D --conditional=projection` at dcgan's defaults
(its default budget), then
`python -m zoo.evaluate --logdir=RUN` (10,000 samples, labels cycling over the 10 classes: the domain
classifier's agreement with the requested label, intra-FID per class), then
`python -m zoo.sample --logdir=RUN --num=100 --out=docs/figures/conditional_<run>.png` (one row per
class, the same noise down each column). A run folder is runs/conditional/<run>; a finished run is
neither retrained nor rescored. `--table` prints the markdown rows (overall and per class) from the
run folders' config.json and eval.json, with the wall time of each training run measured by the run
itself (the span of its TensorBoard events; the 2-core machine was shared, so these are upper bounds).

Measured (docs/conditional.md): dcgan's label agreement 0.994 on MNIST and 0.923 on Fashion-MNIST, ~2 h
per run on one vCPU of a 2-core AVX2 CPU. Conditional dense_gan, which ignored z (recall 0.000 within
every class), is no longer offered; its runs and numbers are in docs/lab/conditional.md.
"""
import json
import os
import subprocess
import sys

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", "../shared/tensorflow_datasets", "TFDS data_dir.")
flags.DEFINE_string("root", "runs/conditional", "Where the run folders go.")
flags.DEFINE_string("figures", "docs/figures", "Where the class-by-row figures go.")
flags.DEFINE_list("runs", [], "Runs to train, score and draw (names below, or 'all').")
flags.DEFINE_bool("table", False, "Print the markdown rows of the finished runs instead of training.")

# name -> (model, dataset, conditioning, other flags); everything else is the model's defaults.
RUNS = {
    "dcgan_mnist": ("dcgan", "mnist", "projection", ()),
    "dcgan_fashion_mnist": ("dcgan", "fashion_mnist", "projection", ()),
}
HEADER = ("| model | dataset | label accuracy | intra-FID mean (worst) | FID | precision | recall | coverage "
          "| images seen | wall time | command |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")


def train_command(name, data_dir="../shared/tensorflow_datasets"):
  model, dataset, conditioning, other_flags = RUNS[name]
  return ["python", "-m", "zoo.train", f"--model={model}", f"--dataset={dataset}",
          f"--conditional={conditioning}", *other_flags, f"--data_dir={data_dir}",
          f"--logdir={os.path.join(FLAGS.root, name)}"]


def _run(command):
  print("$", " ".join(command), flush=True)
  subprocess.run([sys.executable, *command[1:]], check=True)


def train_score_draw(name):
  logdir = os.path.join(FLAGS.root, name)
  _run(train_command(name, FLAGS.data_dir))  # resumes, or does nothing when finished
  if not os.path.exists(os.path.join(logdir, "eval.json")):
    _run(["python", "-m", "zoo.evaluate", f"--logdir={logdir}"])
  os.makedirs(FLAGS.figures, exist_ok=True)
  _run(["python", "-m", "zoo.sample", f"--logdir={logdir}", "--num=100",
        f"--out={os.path.join(FLAGS.figures, f'conditional_{name}.png')}"])


def row(name):
  from experiments import results_card
  logdir = os.path.join(FLAGS.root, name)
  with open(os.path.join(logdir, "config.json")) as f:
    config = json.load(f)
  with open(os.path.join(logdir, "eval.json")) as f:
    record = json.load(f)
  m = record["metrics"]
  minutes = results_card.training_wall_seconds(logdir) / 60
  label = f"{config['model']} ({config['options']['conditional']})"
  cells = [label, config["dataset"], f"{m['label_accuracy']:.4f}",
           f"{m['intra_fid_mean']:.2f} ({m['intra_fid_max']:.2f})", f"{m['fid']:.2f}",
           f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['modes_covered']}/10",
           f"{record['images_seen']:,} ({record['step']:,} steps)", f"{minutes:.1f} min",
           "`" + " ".join(train_command(name)) + "`"]
  return "| " + " | ".join(cells) + " |"


def class_table(name):
  with open(os.path.join(FLAGS.root, name, "eval.json")) as f:
    record = json.load(f)
  lines = [f"{name}:", "",
           "| class | label accuracy | intra-FID | precision | recall | share of predictions |",
           "|---|---:|---:|---:|---:|---:|"]
  for e in record["classes"]:
    lines.append(f"| {e['label']} {e['name']} | {e['label_accuracy']:.3f} | {e['intra_fid']:.2f} | "
                 f"{e['precision']:.3f} | {e['recall']:.3f} | {e['predicted_share']:.3f} |")
  return "\n".join(lines)


def main(argv):
  del argv
  names = list(RUNS) if FLAGS.runs == ["all"] else FLAGS.runs
  unknown = sorted(set(names) - set(RUNS))
  if unknown:
    sys.exit(f"error: unknown run(s) {unknown}; valid: {', '.join(RUNS)}")
  if FLAGS.table:
    finished = [name for name in (names or RUNS)
                if os.path.exists(os.path.join(FLAGS.root, name, "eval.json"))]
    print(HEADER)
    print("\n".join(row(name) for name in finished))
    for name in finished:
      print()
      print(class_table(name))
    return
  for name in names:
    train_score_draw(name)


if __name__ == "__main__":
  app.run(main)
