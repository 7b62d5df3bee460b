"""The recipe study of docs/recipe.md: one run per recipe (cell), all at an equal images-seen budget.

  python -m experiments.recipe_study --dataset=mnist --cells=all --root=runs/recipe_study   # trains dcgan
  python -m experiments.recipe_study --model=dense_gan --images=600000 --cells=all ...      # dense_gan's
  python -m experiments.recipe_study --table --root=runs/recipe_study                       # the table

Each cell is `python -m zoo.train` with the shared settings below plus the cell's flags, then
`python -m zoo.evaluate` (10,000 samples, the like-for-like path) of its EMA generator and of its raw G,
so every run answers "EMA on or off" too. A cell's run folder is <root>/<dataset>/<cell>_s<seed>; a
finished cell is not retrained, and its scores are appended to <root>/results.jsonl with the run's wall
time and the load average it ran under (the 2-core machine is shared, so wall times are upper bounds).
"""
import json
import os
import subprocess
import sys
import time

from absl import app, flags

from experiments.earlier_defaults import DENSE_GAN_BEFORE

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "dcgan", "dcgan or dense_gan (the models whose cells are below).")
flags.DEFINE_string("dataset", "mnist", "mnist or fashion_mnist.")
flags.DEFINE_string("data_dir", "../shared/tensorflow_datasets", "TFDS data_dir.")
flags.DEFINE_string("root", "runs/recipe_study", "Where the runs and results.jsonl go.")
flags.DEFINE_list("cells", [], "Cells to run (names below, or 'all').")
flags.DEFINE_list("seeds", ["0"], "Seeds of each cell.")
flags.DEFINE_integer("images", 100_000, "Real images shown to D per run (steps x batch).")
flags.DEFINE_integer("num_samples", 10_000, "Samples per evaluation.")
flags.DEFINE_bool("table", False, "Print the markdown table of results.jsonl instead of training.")

# The architectures compared. "article": the article's 2-convolution D with Dropout(0.3) and Keras'
# default init; "dcgan": the DCGAN paper's D (3 stride-2 convolutions at 32x32 to 4x4, BatchNorm after
# all but the first, N(0, 0.02) init, no dropout), the pytorch/examples recipe; "plain": the same D
# without BatchNorm, for penalties that differentiate D's input gradient per example.
ARCHITECTURES = {
    "article": ["--discriminator_convolutions=2", "--discriminator_dropout=0.3",
                "--weight_init=glorot_uniform", "--nodiscriminator_batchnorm"],
    "dcgan": ["--discriminator_convolutions=3", "--discriminator_dropout=0", "--weight_init=dcgan_normal",
              "--discriminator_batchnorm"],
    "plain": ["--discriminator_convolutions=3", "--discriminator_dropout=0", "--weight_init=dcgan_normal",
              "--nodiscriminator_batchnorm"],
}
DCGAN_CELLS = {
    "article_ns": ARCHITECTURES["article"] + ["--loss=non_saturating"],
    "dcgan_ns": ARCHITECTURES["dcgan"] + ["--loss=non_saturating"],
    "dcgan_hinge": ARCHITECTURES["dcgan"] + ["--loss=hinge"],
    "dcgan_ls": ARCHITECTURES["dcgan"] + ["--loss=least_squares"],
    "dcgan_ns_augment": ARCHITECTURES["dcgan"] + ["--loss=non_saturating", "--augment=translation,cutout"],
    "plain_ns_r1": ARCHITECTURES["plain"] + ["--loss=non_saturating", "--r1_gamma=1", "--r1_every=4"],
    "plain_sn_hinge": ARCHITECTURES["plain"] + ["--loss=hinge", "--spectral_norm"],
    "plain_relativistic_r1r2": ARCHITECTURES["plain"] + ["--loss=relativistic", "--r1_gamma=1",
                                                         "--r2_gamma=1"],
    "plain_wgan_gp": ARCHITECTURES["plain"] + ["--loss=wasserstein", "--gp_weight=10"],
    # WGAN-GP with the optimiser of its paper (Gulrajani et al. 2017): 5 D updates per G update, Adam 1e-4
    # with betas (0, 0.9). The budget counts D's images, so it takes a fifth of the G steps.
    "plain_wgan_gp_paper": ARCHITECTURES["plain"] + ["--loss=wasserstein", "--gp_weight=10", "--d_steps=5",
                                                      "--d_learning_rate=1e-4", "--g_learning_rate=1e-4",
                                                      "--beta_1=0", "--beta_2=0.9"],
    # 64x64 against 32x32. The first keeps the 32x32 D (3 convolutions, ending at 8x8 here); the second
    # is the DCGAN paper's D at 64x64, one convolution deeper, down to 4x4.
    "dcgan_ns_64": ARCHITECTURES["dcgan"] + ["--loss=non_saturating", "--image_size=64",
                                            "--image_resize=area"],
    "dcgan_ns_64_d4": ARCHITECTURES["dcgan"] + ["--loss=non_saturating", "--image_size=64",
                                               "--image_resize=area", "--discriminator_convolutions=4"],
}
# The cells that start from dense_gan's earlier defaults (DENSE_GAN_BEFORE) keep their names and results.
WIDE_D = ["--discriminator_units=512,256", "--discriminator_activation=leaky_relu",
          "--discriminator_dropout=0.3"]
DENSE_GAN_CELLS = {
    "article": ["--recipe=article"],
    "default_ns": list(DENSE_GAN_BEFORE),
    "ns_r1": [*DENSE_GAN_BEFORE, "--r1_gamma=1", "--r1_every=4"],
    "hinge": [*DENSE_GAN_BEFORE, "--loss=hinge"],
    "hinge_sn": [*DENSE_GAN_BEFORE, "--loss=hinge", "--spectral_norm"],
    "least_squares": [*DENSE_GAN_BEFORE, "--loss=least_squares"],
    # A stronger D: the article's two ReLU layers of 128 units see speckle-free digits and speckled ones
    # alike (docs/dense_gan.md); wider, leaky, with dropout, as in most MLP GANs on MNIST.
    "wide_d": [*DENSE_GAN_BEFORE, *WIDE_D],
    "wide_d_g": [*DENSE_GAN_BEFORE, *WIDE_D, "--generator_units=256,512,1024"],
    # wide_d_g at Adam 2e-4: today's defaults
    "wide_d_g_lr2": [],
}
CELLS = {"dcgan": DCGAN_CELLS, "dense_gan": DENSE_GAN_CELLS}
# What every cell of a model shares (a cell's flags come after, so they win).
SHARED = {
    "dcgan": ["--image_size=32", "--image_resize=pad", "--generator_filters=256", "--ema_decay=0.999",
              "--batch_size=64", "--log_every=100", "--image_every=500", "--steps_per_call=8"],
    "dense_gan": ["--ema_decay=0.999", "--batch_size=128", "--log_every=1000", "--image_every=1000"],
}
RESULTS = "results.jsonl"


def run_cell(cell, seed):
  logdir = _logdir(cell, seed)
  batch_size = int(next(f for f in SHARED[FLAGS.model] if f.startswith("--batch_size=")).split("=")[1])
  cell_flags = CELLS[FLAGS.model][cell]
  d_steps = int(next((f.split("=")[1] for f in cell_flags if f.startswith("--d_steps=")), 1))
  steps = FLAGS.images // (batch_size * d_steps)  # D sees one batch per update
  command = [sys.executable, "-m", "zoo.train", f"--model={FLAGS.model}", *SHARED[FLAGS.model],
             f"--dataset={FLAGS.dataset}", f"--data_dir={FLAGS.data_dir}", f"--seed={seed}",
             f"--steps={steps}", f"--checkpoint_every={steps}", f"--logdir={logdir}", *cell_flags]
  began, load = time.time(), os.getloadavg()[0]
  subprocess.run(command, check=True)
  seconds = time.time() - began
  load = (load + os.getloadavg()[0]) / 2
  for use_ema in (True, False):
    output = os.path.join(logdir, f"eval_{'ema' if use_ema else 'raw'}.json")
    if not os.path.exists(output):
      subprocess.run([sys.executable, "-m", "zoo.evaluate", f"--logdir={logdir}",
                      f"--num_samples={FLAGS.num_samples}", f"--use_ema={use_ema}", f"--output={output}"],
                     check=True)
    with open(output) as f:
      record = json.load(f)
    result = {"model": FLAGS.model, "cell": cell, "dataset": FLAGS.dataset, "seed": seed, "ema": use_ema,
              "images": record["images_seen"], "train_seconds": round(seconds), "load": round(load, 1),
              "command": " ".join(["python -m zoo.train", *command[3:]]), **record["metrics"]}
    with open(os.path.join(FLAGS.root, RESULTS), "a") as f:
      f.write(json.dumps(result) + "\n")


def _logdir(cell, seed):
  model = "" if FLAGS.model == "dcgan" else f"{FLAGS.model}_"  # dcgan's runs came first
  return os.path.join(FLAGS.root, FLAGS.dataset, f"{model}{cell}_s{seed}")


def table():
  """One row per finished run (both generators scored): its EMA generator's scores, then its raw G's."""
  runs = {}
  for line in open(os.path.join(FLAGS.root, RESULTS)):
    record = json.loads(line)
    key = (record.get("model", "dcgan"), record["dataset"], record["cell"], record["seed"])
    runs.setdefault(key, {})["ema" if record["ema"] else "raw"] = record
  runs = {key: run for key, run in runs.items() if len(run) == 2}
  print("| model | dataset | cell | seed | FID | recall | precision | classes | raw G: FID | recall "
        "| classes | images | train time | load |")
  print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
  for (model, dataset, cell, seed), run in sorted(runs.items(), key=_by_dataset_then_fid):
    ema, raw = run["ema"], run["raw"]
    print(f"| {model} | {dataset} | {cell} | {seed} | {ema['fid']:.2f} | {ema['recall']:.3f} | "
          f"{ema['precision']:.3f} | {ema.get('modes_covered', '-')} | {raw['fid']:.2f} | "
          f"{raw['recall']:.3f} | {raw.get('modes_covered', '-')} | {ema['images']:,} | "
          f"{ema['train_seconds'] / 60:.1f} min | {ema['load']} |")


def _by_dataset_then_fid(item):
  (model, dataset, _, _), run = item
  return model, dataset, run["ema"]["fid"]


def main(argv):
  del argv
  if FLAGS.table:
    table()
    return
  model_cells = CELLS[FLAGS.model]
  cells = list(model_cells) if FLAGS.cells == ["all"] else FLAGS.cells
  unknown = sorted(set(cells) - set(model_cells))
  if unknown:
    sys.exit(f"error: unknown cells {unknown}; {FLAGS.model}'s cells: {', '.join(model_cells)}")
  os.makedirs(FLAGS.root, exist_ok=True)
  for seed in FLAGS.seeds:
    for cell in cells:
      done = os.path.join(_logdir(cell, seed), "eval_raw.json")
      if not os.path.exists(done):
        run_cell(cell, seed)


if __name__ == "__main__":
  app.run(main)
