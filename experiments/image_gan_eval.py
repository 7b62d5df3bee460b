"""Scores image_gan against classical filters and a task VAE on the 10,000 test images, for docs/image_gan.md.

First train one GAN per dataset and task (10-17 min each on the 2-core CPU shared with three other
jobs; ~5 min each on a quiet one, at the 0.27 s per step measured at load 5):

  for d in mnist fashion_mnist; do for t in denoise inpaint superres; do
    python -m zoo.train --model=image_gan --task=$t --dataset=$d --data_dir=../shared/tensorflow_datasets \
        --logdir=runs/image_gan_${t}_$d; done; done

then

  python -m experiments.image_gan_eval --data_dir=../shared/tensorflow_datasets

which trains the VAEs it does not find in runs/image_gan_vae_<task>_<dataset> (~3 min each on the
shared CPU; only them: `--only_vae`), then, in ~8 min per dataset and task on the shared CPU, degrades
the test split once per task (seed TEST_SEED, quantised to uint8), restores it with every method, and
scores each restoration with PSNR, SSIM (zoo.metrics.fidelity) and classifier FID (zoo.metrics,
domain-classifier features; the GAN also gets KID, precision/recall and class coverage for its
results-card row). Writes runs/image_gan_eval/<dataset>_<task>.json and
docs/figures/image_gan_<dataset>_<task>.png, and prints the table of docs/image_gan.md and the
results-card rows of docs/results.md. Expected result (the table in docs/image_gan.md): e.g. MNIST
denoise GAN PSNR 21.85 dB, SSIM 0.894, FID 5.24; MNIST inpaint mean fill FID 71.2, GAN 66.8.

Image folders (docs/data.md) are scored the same way with `--folder=PATH` and a folder dataset name, e.g.
colourisation of real RGB photo patches (scores in docs/image_gan.md, "Colourisation of real RGB photos"):

  python -m zoo.photo_patches --out=runs/photo_patches --size=64 --num=4000 --num_test=1000 --seed=0
  python -m zoo.train --model=image_gan --task=colorize --dataset=folder_rgb --data_dir=runs/photo_patches \
      --image_size=64 --logdir=runs/image_gan_colorize_photo_patches
  python -m experiments.image_gan_eval --datasets=folder_rgb --tasks=colorize --folder=runs/photo_patches

The runs are named after the folder (runs/image_gan_<task>_<folder name>), the images are the folder's
test/ split at the GAN run's image size, and the VAE trains on its train/ split at that size. FID needs
Inception-v3 weights for RGB folders; without them (offline) it is left out and PSNR/SSIM remain.
Expected result (docs/image_gan.md): see the colorize table there.
"""
import functools
import json
import os
import sys
import time

from absl import app, flags
from experiments.datasets import data_dir_of, is_folder, label
from zoo import pixels

FLAGS = flags.FLAGS
flags.DEFINE_list("datasets", ["mnist", "fashion_mnist"], "Datasets to score.")
flags.DEFINE_list("tasks", ["denoise", "inpaint", "superres"], "Tasks to score.")
flags.DEFINE_string("runs_dir", "runs", "Where the GAN runs are and the VAEs and scores go.")
flags.DEFINE_string("out_dir", "docs/figures", "Where the figures go.")
flags.DEFINE_boolean("only_vae", False, "Only train the missing VAEs.")
flags.DEFINE_boolean("figures_only", False, "Only redraw the figures (restores just the shown images).")
flags.DEFINE_boolean("table_only", False, "Only print the tables from the scores already in "
                     "<runs_dir>/image_gan_eval/ (each pair can be scored as soon as its GAN run ends).")

TEST_SEED = 2024         # the degradation of the test split, the same for every method
DEGRADED_INPUTS = ("noisy input", "masked input", "grey input (luma)")  # the figure's first column
FIGURE_EXAMPLES = 6      # rows of each figure: the first test images


def gan_logdir(task, dataset):
  return os.path.join(FLAGS.runs_dir, f"image_gan_{task}_{label(dataset)}")


def image_size_of(task, dataset):
  """0 (the dataset's own size) for TFDS data; a folder's images are scored at the GAN run's size."""
  if not is_folder(dataset):
    return 0
  from zoo import runs
  return runs.load_config(gan_logdir(task, dataset)).image_size


def degradation_settings():
  """image_gan's default degradation options, which the VAE and the test set use too."""
  from zoo.models.image_gan import model as image_gan
  return {name: image_gan.OPTIONS[name].default for name in ("noise_sigma", "mask_size", "scale")}


def ensure_vae(dataset, task):
  """The task VAE of `runs/image_gan_vae_<task>_<dataset>`, trained first if it is not there."""
  from experiments import baselines
  from zoo.models.image_gan import model as image_gan
  config = baselines.VAEConfig(dataset=dataset, task=task, data_dir=data_dir_of(dataset),
                               image_size=image_size_of(task, dataset), steps=image_gan.DEFAULTS["steps"],
                               batch_size=image_gan.DEFAULTS["batch_size"], **degradation_settings())
  directory = os.path.join(FLAGS.runs_dir, f"image_gan_vae_{task}_{label(dataset)}")
  model = baselines.load_vae(directory, config)
  if model is None:
    model, record = baselines.train_vae(config, log=lambda line: print(line, flush=True))
    baselines.save_vae(model, config, record, directory)
  return model


def load_gan(task, dataset):
  from zoo import restore
  logdir = gan_logdir(task, dataset)
  if not os.path.exists(os.path.join(logdir, "config.json")):
    size = " --image_size=64" if is_folder(dataset) else ""
    raise FileNotFoundError(f"No GAN run in {logdir}; train it with: python -m zoo.train --model=image_gan "
                            f"--task={task} --dataset={dataset} --data_dir=...{size} --logdir={logdir}")
  generator, config = restore.load_restorer(logdir)
  settings = {name: config.options[name] for name in degradation_settings()}
  if config.options["task"] != task or settings != degradation_settings():
    raise ValueError(f"{logdir} was trained on task {config.options['task']} with {settings}; this script "
                     f"scores task {task} with the defaults {degradation_settings()}.")
  return generator, config


def degraded_test_set(dataset, task):
  """(originals, degraded) uint8 [N, H, W, C] of the test split (10,000 images for MNIST-like data)."""
  import numpy as np
  import tensorflow as tf
  from zoo import data
  from zoo.models.image_gan import degradations
  from zoo.metrics import features
  if is_folder(dataset):
    originals = np.stack(list(data.load_images(dataset, "test", data_dir_of(dataset),
                                               image_size_of(task, dataset)).as_numpy_iterator()))
  else:
    originals = features.load_split_images(dataset, "test", FLAGS.data_dir, True)
  degraded = degradations.degrade(tf.cast(originals, tf.float32) / 255.0, [TEST_SEED, 0], task,
                                  **degradation_settings())
  return originals, pixels.to_uint8(degraded, "unit").numpy()


def restorations(dataset, task, degraded):
  """{method: uint8 restorations}, in table order: classical first, then VAE and GAN."""
  from experiments import baselines
  from zoo import restore
  methods = {}
  if task == "denoise":
    methods["noisy input"] = degraded
    size = baselines.MEDIAN_SIZE
    methods[f"median filter {size}x{size}"] = baselines.median_filter(degraded)
    methods[f"Gaussian filter sigma {baselines.GAUSSIAN_SIGMA:g}"] = baselines.gaussian_filter(degraded)
  elif task == "inpaint":
    methods["masked input"] = degraded
    methods["mean fill"] = baselines.mean_fill(degraded, baselines.mean_train_image(
        dataset, data_dir_of(dataset), image_size_of(task, dataset)))
  elif task == "colorize":
    methods["grey input (luma)"] = degraded
    methods["luma + mean chroma"] = baselines.luma_with_chroma(degraded, baselines.mean_train_chroma(
        dataset, data_dir_of(dataset), image_size_of(task, dataset)))
  else:
    methods["bicubic (the input)"] = degraded
  methods["VAE"] = baselines.vae_restore(ensure_vae(dataset, task), degraded)
  generator, config = load_gan(task, dataset)
  methods["GAN"] = restore.restore_images(generator, config, degraded)
  return methods


@functools.lru_cache(maxsize=None)
def evaluator_of(dataset, image_size):
  """zoo.metrics' evaluator of the dataset's test split, or None when it cannot be built offline (an RGB
  folder without local Inception-v3 weights): then FID is left out and PSNR/SSIM remain."""
  from zoo.metrics import evaluation, inception
  try:
    return evaluation.get_evaluator(dataset, data_dir_of(dataset), image_size=image_size)
  except inception.InceptionWeightsUnavailableError as e:
    print(f"FID left out for {label(dataset)}: {e}", flush=True)
    return None


def score(originals, restored, dataset, all_metrics=False):
  """PSNR, SSIM and FID; with `all_metrics` also KID, precision/recall and class coverage.

  FID alone costs a fraction of the full set (KID's 100 subsets and the 10,000 x 10,000 k-NN distances
  of precision/recall dominate), so only the GAN, which gets a results-card row, is scored in full.
  """
  from zoo.metrics import fidelity, scores
  evaluator = evaluator_of(dataset, originals.shape[1] if is_folder(dataset) else 0)
  if evaluator is None:
    metrics = {"fid": None}
  elif all_metrics:
    metrics = evaluator(restored)
  else:
    features, _ = evaluator.extractor(restored)
    metrics = {"fid": scores.fid(evaluator.real, features)}
  return {"psnr": float(fidelity.psnr(originals, restored).mean()),
          "ssim": float(fidelity.ssim(originals, restored).mean()),
          **{name: None if value is None else float(value) for name, value in metrics.items()}}


def fid_text(value):
  return "n/a" if value is None else f"{value:.2f}"


def low_resolution_view(originals, scale):
  """What superres starts from, shown as blocks (nearest upsampling) rather than its bicubic input."""
  import numpy as np
  import tensorflow as tf
  from zoo.models.image_gan import degradations
  small = degradations.downsample(tf.cast(originals, tf.float32) / 255.0, scale)
  return np.repeat(np.repeat(pixels.to_uint8(small, "unit").numpy(), scale, axis=1), scale, axis=2)


def plot_rows(columns, title, path):
  """One row per example: columns = {label: uint8 images}, left to right."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  labels = list(columns)
  figure, axes = plt.subplots(FIGURE_EXAMPLES, len(labels), figsize=(1.25 * len(labels),
                                                                    1.25 * FIGURE_EXAMPLES + 0.5))
  for column, heading in enumerate(labels):
    for row in range(FIGURE_EXAMPLES):
      axis = axes[row, column]
      image = columns[heading][row]
      axis.imshow(image.squeeze(), cmap="gray" if image.shape[-1] == 1 else None, vmin=0, vmax=255)
      axis.set_xticks([])
      axis.set_yticks([])
    axes[0, column].set_title(heading, fontsize=7)
  figure.suptitle(title, fontsize=9)
  figure.tight_layout()
  figure.savefig(path, dpi=100)
  plt.close(figure)


def plot_task(dataset, task, originals, degraded, methods):
  """Rows of the first test images: degraded | classical | VAE | GAN | original."""
  if task == "superres":  # its input is already the bicubic answer; show what it was made from
    shown = {"low resolution": low_resolution_view(originals, degradation_settings()["scale"])}
  else:
    shown = {"degraded": degraded}
  shown.update((method, images) for method, images in methods.items() if method not in DEGRADED_INPUTS)
  shown["original"] = originals
  os.makedirs(FLAGS.out_dir, exist_ok=True)
  plot_rows({name: images[:FIGURE_EXAMPLES] for name, images in shown.items()},
            f"image_gan {task} on {label(dataset)} test images",
            os.path.join(FLAGS.out_dir, f"image_gan_{label(dataset)}_{task}.png"))


def evaluate_task(dataset, task):
  began = time.time()
  originals, degraded = degraded_test_set(dataset, task)
  methods = restorations(dataset, task, degraded)
  scores = {method: score(originals, restored, dataset, all_metrics=method == "GAN")
            for method, restored in methods.items()}
  for method, values in scores.items():
    print(f"{label(dataset)} {task} {method}: PSNR {values['psnr']:.2f} SSIM {values['ssim']:.3f} "
          f"FID {fid_text(values['fid'])}", flush=True)
  plot_task(dataset, task, originals, degraded, methods)
  return {"dataset": dataset, "label": label(dataset), "data_dir": data_dir_of(dataset),
          "image_size": int(originals.shape[1]), "test_images": len(originals), "task": task,
          "test_seed": TEST_SEED, "settings": degradation_settings(), "scores": scores,
          "seconds": round(time.time() - began, 1)}


def figure_only(dataset, task):
  """The figure alone, restoring just the images it shows (seconds instead of minutes)."""
  originals, degraded = degraded_test_set(dataset, task)
  originals, degraded = originals[:FIGURE_EXAMPLES], degraded[:FIGURE_EXAMPLES]
  plot_task(dataset, task, originals, degraded, restorations(dataset, task, degraded))


def markdown_table(records):
  lines = ["| dataset | task | method | PSNR (dB) | SSIM | FID |", "|---|---|---|---:|---:|---:|"]
  for record in records:
    for method, s in record["scores"].items():
      lines.append(f"| {record.get('label', record['dataset'])} | {record['task']} | {method} | "
                   f"{s['psnr']:.2f} | {s['ssim']:.3f} | {fid_text(s['fid'])} |")
  return "\n".join(lines)


def results_card_rows(records):
  """docs/results.md rows of the GAN runs: their restorations of the 10,000 degraded test images."""
  from experiments import results_card
  rows = []
  for record in records:
    logdir = gan_logdir(record["task"], record["dataset"])
    with open(os.path.join(logdir, "config.json")) as f:
      config = json.load(f)
    s = record["scores"]["GAN"]
    steps = config["steps"]
    images_seen = f"{steps * config['batch_size']:,} ({steps:,} steps)"
    wall = f"{results_card.training_wall_seconds(logdir) / 60:.1f} min"
    if s["fid"] is None:  # an RGB folder scored offline: PSNR/SSIM only
      command = (f"`python -m zoo.train --model=image_gan --task={record['task']} "
                 f"--dataset={record['dataset']} --data_dir={record['data_dir']} "
                 f"--image_size={config['image_size']} --logdir={logdir}`")
      cells = [f"image_gan ({record['task']}: PSNR {s['psnr']:.2f}, SSIM {s['ssim']:.3f} on "
               f"{record['test_images']:,} held-out test images)", f"{record['label']} ({record['dataset']}, "
               f"{config['image_size']}×{config['image_size']})", "n/a", "n/a", "n/a", "n/a", "n/a",
               images_seen, wall, results_card.hardware(), command]
      rows.append("| " + " | ".join(cells) + " |")
      continue
    command = (f"`python -m zoo.train --model=image_gan --task={record['task']} "
               f"--dataset={record['dataset']} --data_dir=../shared/tensorflow_datasets --logdir={logdir}`")
    cells = [f"image_gan ({record['task']})", record["dataset"], f"{s['fid']:.2f}",
             f"{s['kid']:.4f} ± {s['kid_std']:.4f}", f"{s['precision']:.3f}", f"{s['recall']:.3f}",
             f"{int(s['modes_covered'])}/10", images_seen, wall, results_card.hardware(), command]
    rows.append("| " + " | ".join(cells) + " |")
  return "\n".join(rows)


def main(argv):
  del argv
  from zoo.cli import quiet_library_logs
  quiet_library_logs()
  try:
    if FLAGS.only_vae:
      for dataset in FLAGS.datasets:
        for task in FLAGS.tasks:
          ensure_vae(dataset, task)
      return
    records = []
    for dataset in FLAGS.datasets:
      for task in FLAGS.tasks:
        if FLAGS.figures_only:
          figure_only(dataset, task)
          continue
        path = os.path.join(FLAGS.runs_dir, "image_gan_eval", f"{label(dataset)}_{task}.json")
        if FLAGS.table_only:
          with open(path) as f:
            records.append(json.load(f))
          continue
        records.append(evaluate_task(dataset, task))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
          json.dump(records[-1], f, indent=2)
  except (ValueError, FileNotFoundError) as e:
    sys.exit(f"error: {e}")
  if FLAGS.figures_only:
    return
  print(markdown_table(records))
  print()
  print(results_card_rows(records))


if __name__ == "__main__":
  app.run(main)
