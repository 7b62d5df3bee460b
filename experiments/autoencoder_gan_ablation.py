"""Does starting the generator from the pretrained decoder help? The ablation of docs/autoencoder_gan.md.

  TF_CPP_MIN_LOG_LEVEL=2 nice -n 5 python -m experiments.autoencoder_gan_ablation \
      --data_dir=../shared/tensorflow_datasets

For each dataset (MNIST, Fashion-MNIST) and seed (0, 1, 2) it trains two arms with `python -m zoo.train
--model=autoencoder_gan` at the model's defaults when it was measured (the article's D, no EMA, 300 GAN
steps: AUTOENCODER_GAN_BEFORE), exactly as a user would:
  decoder_init  the article's method: autoencoder pretraining, then G's conv layers start as the decoder;
  random_init   --init_from_decoder=false --pretrain_steps=0: the same GAN from its random initial weights.
The random arm skips the pretraining because it would throw its result away: the trainer seeds the
initial weights before building the autoencoder and draws noise and data order from the GAN step alone,
so its adversarial phase is the one it would run after a discarded pretraining. For one seed, both arms
therefore share D's initial weights, G's Dense layer, every noise batch and every data batch; only G's
three conv layers differ. Both arms get the same number of adversarial steps; the decoder arm also
spends the pretraining (timed separately in the table).

Each run keeps every checkpoint. Every kept GAN checkpoint is scored (FID of `--curve_samples` samples)
for the FID curve, and the last one fully (FID, KID, precision, recall, classes covered, on
`--num_samples` samples), all with zoo.metrics against the test split (docs/metrics.md). Stability is
reported as the spread of the final FID across seeds, the spread of FID over each run's last
`--tail_checkpoints` checkpoints, the setbacks (FID up by more than 10% from one checkpoint to the
next, summed over seeds), and counts of runs that stopped on a non-finite loss, collapsed (at most 3
classes hold 5% of the samples) or degraded (last FID above 1.5x the run's best).

Writes docs/figures/autoencoder_gan_ablation.{md,json,png}, the reconstruction and sample figures
docs/figures/autoencoder_gan_<dataset>_{reconstructions,samples}.png, and prints the table. Reruns resume
unfinished runs and reuse finished runs and scores (<run>/ablation_scores.json).
Expected wall time: 77 minutes measured for the 12 runs with scoring on the 2-core CPU shared with other
jobs (load average 18-31), about 20 minutes estimated on an idle one; 30 s when everything is cached.
Expected result (docs/autoencoder_gan.md#ablation-does-starting-from-the-decoder-help): final FID,
decoder / random init, 138.5 +- 24.6 / 246.0 +- 17.6 on MNIST and 92.9 +- 4.7 / 139.5 +- 15.0 on
Fashion-MNIST; the decoder arm ahead in every seed; no non-finite loss; one random-init run per dataset
collapsed to at most 3 classes.
"""
import json
import os
import subprocess
import sys
import time

import numpy as np
from absl import app, flags

from experiments.earlier_defaults import AUTOENCODER_GAN_BEFORE
from zoo import pixels

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", "../shared/tensorflow_datasets", "TFDS data_dir with both datasets.")
flags.DEFINE_list("datasets", ["mnist", "fashion_mnist"], "Datasets to train on.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds; each trains both arms.")
flags.DEFINE_string("runs_dir", "runs/autoencoder_gan_ablation", "Where the run folders go.")
flags.DEFINE_string("out_dir", "docs/figures", "Where the table, plot and figures go.")
flags.DEFINE_integer("checkpoint_every", 50, "GAN steps between the checkpoints that are scored.")
flags.DEFINE_integer("num_samples", 5000, "Samples for the final scores of each run.")
flags.DEFINE_integer("curve_samples", 2000, "Samples for the FID of each kept checkpoint.")
flags.DEFINE_integer("tail_checkpoints", 4, "Checkpoints at the end of a run whose FID spread is reported.")
flags.DEFINE_multi_string("train_flag", [], "Extra zoo.train flag for every run (e.g. --steps=100 for a "
                          "smoke test); changes the budget, so use a fresh --runs_dir.")

MODEL = "autoencoder_gan"
ARMS = {"decoder_init": [], "random_init": ["--init_from_decoder=false", "--pretrain_steps=0"]}
SCORES_FILE = "ablation_scores.json"
COLLAPSED_MAX_CLASSES = 3
DEGRADED_RATIO = 1.5
# A rise of FID between consecutive checkpoints counts as a setback above this ratio; smaller rises are
# within what resampling 2,000 images can move the FID of one generator.
SETBACK_RATIO = 1.1
COUNTED = ("setbacks", "non_finite", "collapsed", "degraded")  # summed over the seeds of an arm
KID_SUBSETS = 10  # the table reports KID's mean over seeds; its per-subset std is not used


def run_dir(dataset, arm, seed):
  return os.path.join(FLAGS.runs_dir, f"{dataset}_{arm}_seed{seed}")


def train(dataset, arm, seed):
  """Trains (or resumes) one run through the real entry point; returns (status, seconds)."""
  logdir = run_dir(dataset, arm, seed)
  command = [sys.executable, "-m", "zoo.train", f"--model={MODEL}", f"--dataset={dataset}",
             f"--data_dir={FLAGS.data_dir}", f"--seed={seed}", f"--logdir={logdir}",
             f"--checkpoint_every={FLAGS.checkpoint_every}", "--keep_checkpoints=1000",
             *AUTOENCODER_GAN_BEFORE, *ARMS[arm], *FLAGS.train_flag]
  began = time.time()
  result = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  with open(os.path.join(os.path.dirname(logdir), os.path.basename(logdir) + ".log"), "a") as f:
    f.write(result.stdout + result.stderr)
  if result.returncode != 0:
    if "Non-finite loss" in result.stderr:
      return "non-finite", time.time() - began
    raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
  return "ok", time.time() - began


def gan_checkpoints(logdir, pretrain_steps):
  """[(GAN step, path)] of the kept checkpoints of the adversarial phase.

  The trainer numbers checkpoints by pretraining steps + GAN steps, so the GAN step is the difference.
  """
  import tensorflow as tf
  state = tf.train.get_checkpoint_state(os.path.join(logdir, "checkpoints"))
  if state is None:
    raise FileNotFoundError(f"No checkpoints in {logdir}.")
  numbered = [(int(path.rsplit("-", 1)[1]) - pretrain_steps, path)
              for path in state.all_model_checkpoint_paths]
  return [(step, path) for step, path in numbered if step > 0]


def cached_scores(logdir):
  path = os.path.join(logdir, SCORES_FILE)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def score_run(logdir, status, seconds):
  """FID of every kept GAN checkpoint and every metric of the last; saved in the run folder."""
  import tensorflow as tf
  from zoo import runs, sampling
  from zoo.metrics import evaluation
  generator, config = runs.restore_generator(logdir)
  evaluator = evaluation.get_evaluator(config.dataset, config.data_dir, kid_subsets=KID_SUBSETS)
  checkpoints = gan_checkpoints(logdir, config.options["pretrain_steps"])
  curve = []
  for step, checkpoint in checkpoints:
    tf.train.Checkpoint(generator=generator).restore(checkpoint).expect_partial()
    samples = sampling.generate(generator, config, FLAGS.curve_samples, seed=evaluation.EVAL_NOISE_SEED)
    curve.append({"step": step, "fid": evaluator(samples)["fid"]})
  # The generator now holds the last checkpoint.
  final = evaluator(sampling.generate(generator, config, FLAGS.num_samples, seed=0))
  record = {"logdir": logdir, "status": status, "train_seconds": seconds, "steps": config.steps,
            "pretrain_steps": config.options["pretrain_steps"], "batch_size": config.batch_size,
            "curve": curve, "final": final, "evaluator": evaluator.describe()}
  with open(os.path.join(logdir, SCORES_FILE), "w") as f:
    json.dump(record, f, indent=2)
  return record


def stability(record):
  """Per-run stability numbers: FID spread over the last checkpoints and the failure flags."""
  fids = [point["fid"] for point in record["curve"]]
  tail = fids[-FLAGS.tail_checkpoints:]
  return {"tail_fid_std": float(np.std(tail)),
          "setbacks": sum(later > SETBACK_RATIO * earlier for earlier, later in zip(fids, fids[1:])),
          "non_finite": record["status"] == "non-finite",
          "collapsed": record["final"]["modes_covered"] <= COLLAPSED_MAX_CLASSES,
          "degraded": fids[-1] > DEGRADED_RATIO * min(fids)}


def summarize(records):
  """One row per (dataset, arm): mean and std over seeds, and the stability measures."""
  rows = []
  for (dataset, arm), runs in records.items():
    finals = {key: np.array([r["final"][key] for r in runs], float)
              for key in ("fid", "kid", "precision", "recall", "modes_covered")}
    flags_ = [stability(r) for r in runs]
    rows.append({
        "dataset": dataset, "arm": arm, "seeds": len(runs),
        **{f"{key}_mean": float(v.mean()) for key, v in finals.items()},
        **{f"{key}_std": float(v.std(ddof=1)) if len(v) > 1 else 0.0 for key, v in finals.items()},
        "fid_range": float(finals["fid"].max() - finals["fid"].min()),
        "tail_fid_std_mean": float(np.mean([f["tail_fid_std"] for f in flags_])),
        **{name: sum(f[name] for f in flags_) for name in COUNTED},
        "train_minutes_mean": float(np.mean([r["train_seconds"] for r in runs]) / 60),
    })
  return rows


def markdown_table(rows):
  lines = ["| dataset | G's conv layers start as | FID | KID | precision | recall | classes covered | "
           "FID range over seeds | FID std over last checkpoints | setbacks | non-finite / collapsed / "
           "degraded | wall min per run |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
  for row in rows:
    pm = lambda key, digits, row=row: f"{row[key + '_mean']:.{digits}f} ± {row[key + '_std']:.{digits}f}"
    arm = "the pretrained decoder" if row["arm"] == "decoder_init" else "random weights"
    lines.append(f"| {row['dataset']} | {arm} | {pm('fid', 1)} | {pm('kid', 2)} | {pm('precision', 3)} | "
                 f"{pm('recall', 3)} | {pm('modes_covered', 1)} | {row['fid_range']:.1f} | "
                 f"{row['tail_fid_std_mean']:.1f} | {row['setbacks']} | "
                 f"{row['non_finite']} / {row['collapsed']} / {row['degraded']} of {row['seeds']} | "
                 f"{row['train_minutes_mean']:.1f} |")
  return "\n".join(lines)


def plot_curves(records, path):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  datasets = sorted({dataset for dataset, _ in records})
  figure, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 3.8), squeeze=False)
  colors = {"decoder_init": "tab:blue", "random_init": "tab:orange"}
  for axis, dataset in zip(axes[0], datasets):
    for arm, color in colors.items():
      for i, record in enumerate(records.get((dataset, arm), [])):
        steps = [p["step"] for p in record["curve"]]
        axis.plot(steps, [p["fid"] for p in record["curve"]], color=color, marker="o", markersize=3,
                  alpha=0.8, label=arm.replace("_", " ") if i == 0 else None)
    axis.set_yscale("log")
    axis.set_xlabel("GAN step")
    axis.set_ylabel(f"FID ({FLAGS.curve_samples} samples)")
    axis.set_title(dataset)
    axis.grid(alpha=0.3, which="both")
    axis.legend()
  figure.suptitle("autoencoder_gan: G's conv layers start as the pretrained decoder or random "
                  "(one line per seed)", fontsize=10)
  figure.tight_layout()
  figure.savefig(path, dpi=90)
  plt.close(figure)


def reconstruction_figure(logdir, path, count=16):
  """Test images (top row) above the pretrained autoencoder's reconstructions (bottom row)."""
  import tensorflow as tf
  from zoo import config as config_lib
  from zoo import data, images, models
  config = config_lib.load(logdir)
  spec = models.get_model(config.model)
  image_shape = data.image_shape(config.dataset, config.image_size, config.data_dir)
  autoencoder = spec.pretraining.build(config, image_shape)
  latest = tf.train.latest_checkpoint(os.path.join(logdir, "checkpoints"))
  tf.train.Checkpoint(**{spec.pretraining.name: autoencoder}).restore(latest).expect_partial()
  real = data.load_images(config.dataset, "test", config.data_dir).batch(count).take(1).get_single_element()
  reconstructed = autoencoder(pixels.to_model_range(real, config.pixel_range), training=False)
  grid = np.concatenate([real.numpy(), pixels.to_uint8(reconstructed, config.pixel_range).numpy()])
  images.write_png(path, images.make_grid(grid, columns=count))


def initial_generator(logdir):
  """The run's generator as the adversarial phase starts: after the decoder copy, before any GAN step."""
  from zoo import config as config_lib
  from zoo import training
  config = config_lib.load(logdir)
  gan = training.GANTrainer(config)  # seeded exactly as the run was, so G and D start as they did
  pretrain_steps = config.options["pretrain_steps"]
  if pretrain_steps:
    boundary = os.path.join(logdir, "checkpoints", f"ckpt-{pretrain_steps}")
    gan.checkpoint.restore(boundary).expect_partial()
    if gan.step.numpy() != 0:
      raise ValueError(f"{boundary} is not the end of the pretraining (GAN step {gan.step.numpy()}).")
  gan.start(gan.phases()[-1])
  return gan.generator, config


def samples_figure(logdirs, path, count=16):
  """The same noise through each arm's generator, before the first GAN step and at the end.

  Rows: decoder arm at GAN step 0, at the end; random arm at GAN step 0, at the end.
  """
  from zoo import images, runs, sampling
  rows = []
  for logdir in logdirs:
    for generator, config in (initial_generator(logdir), runs.restore_generator(logdir)):
      rows.append(sampling.generate(generator, config, count, seed=0))
  images.write_png(path, images.make_grid(np.concatenate(rows), columns=count))


def main(argv):
  del argv
  records = {}
  for seed in FLAGS.seeds:
    for dataset in FLAGS.datasets:
      for arm in ARMS:
        record = cached_scores(run_dir(dataset, arm, seed))
        if record is None:
          status, seconds = train(dataset, arm, seed)
          record = score_run(run_dir(dataset, arm, seed), status, seconds)
        records.setdefault((dataset, arm), []).append(record)
        print(f"{dataset} {arm} seed {seed}: {record['status']}, final FID {record['final']['fid']:.1f}, "
              f"{record['train_seconds'] / 60:.1f} min", flush=True)
  rows = summarize(records)
  os.makedirs(FLAGS.out_dir, exist_ok=True)
  prefix = os.path.join(FLAGS.out_dir, f"{MODEL}_ablation")
  table = markdown_table(rows)
  with open(prefix + ".md", "w") as f:
    f.write(table + "\n")
  with open(prefix + ".json", "w") as f:
    json.dump({"rows": rows, "runs": {f"{d}/{a}": r for (d, a), r in records.items()}}, f, indent=2)
  plot_curves(records, prefix + ".png")
  first_seed = FLAGS.seeds[0]
  for dataset in FLAGS.datasets:
    reconstruction_figure(run_dir(dataset, "decoder_init", first_seed),
                          os.path.join(FLAGS.out_dir, f"{MODEL}_{dataset}_reconstructions.png"))
    samples_figure([run_dir(dataset, arm, first_seed) for arm in ARMS],
                   os.path.join(FLAGS.out_dir, f"{MODEL}_{dataset}_samples.png"))
  print(table)
  print(f"wrote {prefix}.md, .json, .png and the reconstruction and sample figures in {FLAGS.out_dir}")


if __name__ == "__main__":
  app.run(main)
