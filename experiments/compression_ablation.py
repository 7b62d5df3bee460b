"""Does the adversarial term help the codec? compression_gan with and without it, at matched bits per pixel.

  nice -n 10 python -m experiments.compression_ablation --data_dir=../shared/tensorflow_datasets

Seed 000's central claim is that adversarial training helps compression. For each dataset (MNIST,
Fashion-MNIST), arm and seed (0, 1, 2) and rate weight (0.005, the default, and 0.003) this trains
compression_gan through the real entry point at the model's default budget (4,000 steps, code_size 32):

  gan     --adversarial_weight=1e-3 (the default): distortion + 1e-3 x adversarial + rate_weight x rate;
  no_gan  --adversarial_weight=0: distortion + rate_weight x rate, the same encoder, entropy model, decoder,
          optimiser, data order and quantisation noise (D is still trained, but G never sees it).

Each run is scored on the 10,000 test images as a user would: `zoo.compress batch` (compress_split:
one file per image, written, read back and decoded; bpp from the files' sizes, headers included; PSNR and
SSIM), then the FID that `zoo.evaluate --npz=decoded.npz --logdir=RUN` prints (the classifier FID of the
decodes against the test split, like-for-like: the same evaluator, built from the run's dataset, size and
resize; only its FID is computed, which skips the minutes that KID's 100 subsets and precision/recall
take). The two arms do not land on exactly the same bpp at the same rate weight, so every metric is
compared at a **common bpp by interpolation**: each (arm, seed) curve is linear in bpp between its two
rate weights, and the common bpp of a dataset is the middle of the range that every curve covers (no
extrapolation). Mean +- std over the 3 seeds per arm.

Writes docs/figures/compression_gan_ablation.{json,md}, docs/figures/compression_gan_ablation_<dataset>.png
(PSNR and FID against bpp, every run) and docs/figures/compression_gan_ablation_decoded_<dataset>.png
(the first test images decoded by each arm's seed-0 run nearest the common bpp), and prints the tables.
Reruns reuse finished runs and their scores (<run>/ablation_scores.json).
Measured cost (docs/compression_gan.md has the table): 2.6-5.3 min to train a run and 0.4-1.4 min to
score it on one vCPU of a 2-core AMD EPYC shared with other jobs; the 24 runs took ~2 h of one vCPU
(MNIST and Fashion-MNIST were run as separate invocations with --datasets and --seeds, which reuse each
other's finished runs); 10 s when cached.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", "../shared/tensorflow_datasets", "TFDS data_dir with both datasets.")
flags.DEFINE_list("datasets", ["mnist", "fashion_mnist"], "Datasets to train on.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds; each trains both arms at every rate weight.")
flags.DEFINE_list("rate_weights", ["0.005", "0.003"], "rate_weight of each point of an arm's curve.")
flags.DEFINE_string("runs_dir", "runs/compression_ablation", "Where the run folders go.")
flags.DEFINE_string("out_dir", "docs/figures", "Where the table, plots and figures go.")
flags.DEFINE_string("split", "test", "Split that is coded and scored.")
flags.DEFINE_multi_string("train_flag", [], "Extra zoo.train flag for every run (e.g. --steps=40 for a "
                          "smoke test); changes the budget, so use a fresh --runs_dir.")

MODEL = "compression_gan"
ARMS = {"gan": 1e-3, "no_gan": 0.0}  # adversarial_weight
SCORES_FILE = "ablation_scores.json"
METRICS = ("psnr", "ssim", "fid")
FIGURE_COLUMNS = 10


def run_dir(dataset, arm, rate_weight, seed):
  return os.path.join(FLAGS.runs_dir, f"{dataset}_{arm}_r{rate_weight}_s{seed}")


def finished(logdir):
  from zoo import runs
  if not os.path.exists(os.path.join(logdir, "config.json")):
    return False
  checkpoint = runs.latest_checkpoint(logdir)
  return checkpoint is not None and runs.gan_step(checkpoint) >= runs.load_config(logdir).steps


def train(dataset, arm, rate_weight, seed):
  """Trains (or resumes) one run through `python -m zoo.train`; returns the command."""
  logdir = run_dir(dataset, arm, rate_weight, seed)
  command = [sys.executable, "-m", "zoo.train", f"--model={MODEL}", f"--dataset={dataset}",
             f"--data_dir={FLAGS.data_dir}", f"--adversarial_weight={ARMS[arm]:g}",
             f"--rate_weight={rate_weight}", f"--seed={seed}", f"--logdir={logdir}", *FLAGS.train_flag]
  if not finished(logdir):
    print(f"training {logdir} (progress in {logdir}.log)", flush=True)
    with open(logdir + ".log", "a") as log:
      result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if result.returncode != 0:
      with open(logdir + ".log") as log:
        raise RuntimeError(f"{' '.join(command)} failed:\n{log.read()[-3000:]}")
  return " ".join(["python"] + command[1:])


def score(logdir):
  """bpp, PSNR, SSIM from real files (zoo.compress batch) and FID (zoo.evaluate --npz); cached per run."""
  from experiments import results_card
  from zoo import compress
  from zoo import runs
  path = os.path.join(logdir, SCORES_FILE)
  step = runs.gan_step(runs.latest_checkpoint(logdir))
  if os.path.exists(path):
    with open(path) as f:
      record = json.load(f)
    if record["step"] == step and record["split"] == FLAGS.split:
      return record
  began = time.time()
  codec = compress.codec_from_run(logdir)
  with tempfile.TemporaryDirectory() as out_dir:
    stats, originals, decoded = compress.compress_split(codec, FLAGS.split, out_dir)
  fid = evaluate_fid(logdir, decoded)
  np.savez_compressed(os.path.join(logdir, "decoded_first.npz"), images=decoded[:FIGURE_COLUMNS],
                      originals=originals[:FIGURE_COLUMNS])
  record = {"logdir": logdir, "step": step, "split": FLAGS.split, "bpp": stats["bpp"], "psnr": stats["psnr"],
            "ssim": stats["ssim"], "fid": float(fid), "clipped_codes": stats["clipped_codes"],
            "train_seconds": results_card.training_wall_seconds(logdir),
            "score_seconds": round(time.time() - began, 1)}
  with open(path, "w") as f:
    json.dump(record, f, indent=2)
  return record


def evaluate_fid(logdir, images):
  """The "fid" of `python -m zoo.evaluate --npz=<images> --logdir=RUN`, without its other metrics."""
  from zoo import data, runs
  from zoo.metrics import evaluation, scores
  config = runs.load_config(logdir)
  # zoo.evaluate's evaluator for --npz with --logdir: the run's dataset, data_dir, image_size, resize.
  evaluator = evaluation.get_evaluator(config.dataset, config.data_dir, True, "auto", "imagenet",
                                       image_size=config.image_size, image_resize=data.image_resize(config))
  fake, _ = evaluator.extractor.extract(images, evaluator.image_resize)
  return float(scores.fid(evaluator.real, fake))


# ---- matching the rates -------------------------------------------------------------------------------

def common_bpp(curves):
  """The middle of the bpp range that every curve covers; a ValueError when they share none.

  With one rate weight (each curve a single point) there is no range: the mean bpp of all points is
  returned, and every metric is each run's own (compared at the same rate weight, not at matched bpp).
  """
  if all(len(curve) == 1 for curve in curves):
    return float(np.mean([curve[0]["bpp"] for curve in curves]))
  low = max(min(point["bpp"] for point in curve) for curve in curves)
  high = min(max(point["bpp"] for point in curve) for curve in curves)
  if low > high:
    raise ValueError(f"The curves share no bpp range (highest start {low:.4f} > lowest end {high:.4f}): "
                     "add a rate weight that brackets both arms (--rate_weights).")
  return (low + high) / 2


def at_bpp(curve, bpp, key):
  """`key` of one curve (points of one arm and seed) at `bpp`, linear in bpp between its points (a
  single point: its own value)."""
  chosen = sorted(curve, key=lambda point: point["bpp"])
  return float(np.interp(bpp, [p["bpp"] for p in chosen], [p[key] for p in chosen]))


def compare(points):
  """{dataset: {"bpp": common bpp, arm: {metric: [per seed]}}} at each dataset's common bpp."""
  table = {}
  for dataset in FLAGS.datasets:
    curves = {(arm, seed): [p for p in points if (p["dataset"], p["arm"], p["seed"]) == (dataset, arm, seed)]
              for arm in ARMS for seed in FLAGS.seeds}
    bpp = common_bpp(list(curves.values()))
    table[dataset] = {"bpp": bpp}
    for arm in ARMS:
      table[dataset][arm] = {key: [at_bpp(curves[(arm, seed)], bpp, key) for seed in FLAGS.seeds]
                             for key in METRICS}
  return table


def mean_std(values):
  return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}" if len(values) > 1 else f"{values[0]:.3f}"


def markdown(points, table):
  lines = ["| dataset | arm | bpp (common) | PSNR (dB) | SSIM | FID | PSNR, per seed | FID, per seed |",
           "|---|---|---:|---:|---:|---:|---|---|"]
  for dataset, row in table.items():
    for arm in ARMS:
      values = row[arm]
      lines.append(f"| {dataset} | {arm} | {row['bpp']:.4f} | {mean_std(values['psnr'])} | "
                   f"{mean_std(values['ssim'])} | {mean_std(values['fid'])} | "
                   f"{' / '.join(f'{v:.2f}' for v in values['psnr'])} | "
                   f"{' / '.join(f'{v:.3f}' for v in values['fid'])} |")
    gan, plain = row["gan"], row["no_gan"]
    d_psnr = np.subtract(gan["psnr"], plain["psnr"])
    d_fid = np.subtract(gan["fid"], plain["fid"])
    lines.append(f"| {dataset} | gan − no_gan | | {mean_std(d_psnr)} | "
                 f"{mean_std(np.subtract(gan['ssim'], plain['ssim']))} | {mean_std(d_fid)} | "
                 f"{' / '.join(f'{v:+.2f}' for v in d_psnr)} | {' / '.join(f'{v:+.3f}' for v in d_fid)} |")
  lines += ["", "| run | rate_weight | bpp | PSNR (dB) | SSIM | FID | train | score |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
  for p in points:
    lines.append(f"| {os.path.basename(p['logdir'])} | {p['rate_weight']} | {p['bpp']:.4f} | "
                 f"{p['psnr']:.2f} | {p['ssim']:.3f} | {p['fid']:.3f} | {p['train_seconds'] / 60:.1f} min | "
                 f"{p['score_seconds'] / 60:.1f} min |")
  return "\n".join(lines)


# ---- figures ------------------------------------------------------------------------------------------

STYLES = {"gan": ("C3", "o", "with the GAN term (1e-3)"), "no_gan": ("C0", "s", "without it (0)")}


def plot_curves(dataset, points, bpp, path):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
  for axis, key, label in zip(axes, METRICS, ("PSNR (dB) ↑", "SSIM ↑", "classifier FID ↓")):
    for arm, (color, marker, name) in STYLES.items():
      for i, seed in enumerate(FLAGS.seeds):
        curve = sorted((p for p in points if (p["dataset"], p["arm"], p["seed"]) == (dataset, arm, seed)),
                       key=lambda p: p["bpp"])
        axis.plot([p["bpp"] for p in curve], [p[key] for p in curve], marker=marker, color=color,
                  alpha=0.8, label=name if i == 0 else None)
    axis.axvline(bpp, color="gray", linestyle=":", label=f"common bpp {bpp:.3f}")
    axis.set_xlabel("bits per pixel (whole files)")
    axis.set_ylabel(label)
    axis.grid(True, alpha=0.3)
  axes[0].legend(fontsize=8)
  figure.suptitle(f"{dataset}: compression_gan with and without the adversarial term, 3 seeds, rate weights "
                  f"{' and '.join(FLAGS.rate_weights)}", fontsize=10)
  figure.tight_layout()
  figure.savefig(path, dpi=110)
  plt.close(figure)


def plot_decoded(dataset, points, bpp, path):
  """The first test images, then each arm's seed-0 decodes from its run nearest the common bpp."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  rows = []
  for arm in ARMS:
    chosen = [p for p in points if (p["dataset"], p["arm"], p["seed"]) == (dataset, arm, FLAGS.seeds[0])]
    p = min(chosen, key=lambda p: abs(p["bpp"] - bpp))
    with np.load(os.path.join(p["logdir"], "decoded_first.npz")) as saved:
      rows = rows or [("original", saved["originals"])]
      name = f"{arm}, rate {p['rate_weight']}\n{p['bpp']:.3f} bpp, {p['psnr']:.2f} dB"
      rows.append((name, saved["images"]))
  figure, axes = plt.subplots(len(rows), 1, figsize=(FIGURE_COLUMNS * 0.8, len(rows) * 1.0))
  for axis, (label, images) in zip(axes, rows):
    axis.imshow(np.concatenate(list(images[:FIGURE_COLUMNS, ..., 0]), axis=1), cmap="gray", vmin=0, vmax=255)
    axis.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7)
    axis.set_xticks([])
    axis.set_yticks([])
  figure.suptitle(f"{dataset}: the first {FIGURE_COLUMNS} test images decoded from real files, seed "
                  f"{FLAGS.seeds[0]}", fontsize=9)
  figure.tight_layout()
  figure.savefig(path, dpi=110)
  plt.close(figure)


def main(argv):
  del argv
  from zoo.cli import quiet_library_logs
  quiet_library_logs()
  began = time.time()
  points = []
  # Both arms of a seed one after the other, the default rate weight first: an interrupted run of this
  # script leaves matched pairs (compared at that rate weight with --rate_weights=0.005).
  for rate_weight in FLAGS.rate_weights:
    for dataset in FLAGS.datasets:
      for seed in FLAGS.seeds:
        for arm in ARMS:
          command = train(dataset, arm, rate_weight, seed)
          record = score(run_dir(dataset, arm, rate_weight, seed))
          points.append({**record, "dataset": dataset, "arm": arm, "seed": seed, "rate_weight": rate_weight,
                         "command": command})
          print(f"{dataset} {arm} rate {rate_weight} seed {seed}: {record['bpp']:.4f} bpp, PSNR "
                f"{record['psnr']:.2f}, SSIM {record['ssim']:.3f}, FID {record['fid']:.3f}", flush=True)
  table = compare(points)
  os.makedirs(FLAGS.out_dir, exist_ok=True)
  for dataset, row in table.items():
    plot_curves(dataset, points, row["bpp"],
                os.path.join(FLAGS.out_dir, f"compression_gan_ablation_{dataset}.png"))
    plot_decoded(dataset, points, row["bpp"],
                 os.path.join(FLAGS.out_dir, f"compression_gan_ablation_decoded_{dataset}.png"))
  text = markdown(points, table)
  with open(os.path.join(FLAGS.out_dir, "compression_gan_ablation.md"), "w") as f:
    f.write(text + "\n")
  with open(os.path.join(FLAGS.out_dir, "compression_gan_ablation.json"), "w") as f:
    json.dump({"points": points, "common_bpp": table, "seconds": round(time.time() - began, 1)}, f, indent=1)
  print(text)


if __name__ == "__main__":
  app.run(main)
