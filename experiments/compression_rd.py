"""Rate-distortion of compression_gan against JPEG, WebP and PNG on the MNIST and Fashion-MNIST test sets.

  python -m experiments.compression_rd --data_dir=../shared/tensorflow_datasets --datasets=mnist
  python -m experiments.compression_rd --data_dir=../shared/tensorflow_datasets --datasets=fashion_mnist

Each takes ~25 min on the shared, heavily loaded 2-core CPU (about a minute a point; the Pillow
baselines are cached in --cache_dir, so a rerun after retraining only scores our runs).
Every point codes the 10,000 test images, one file per image, and counts whole files: bpp = mean file
size x 8 / 784, headers included. Ours: each codec run runs/compression_gan_<dataset>_<point>,
<point> in low, mid, high, xhigh (trained by the commands in docs/compression_gan.md), writes real
.cgan files and reads them back. The article's literal reading: the jpeg_restore run
runs/compression_gan_<dataset>_jpeg restores Pillow's decode of Pillow's JPEG file, at that file's
bpp. Baselines: Pillow JPEG (quality 1-95), WebP (lossy, quality 0-90), PNG (lossless, optimize=True).
Each point gets mean per-image PSNR and SSIM (zoo.metrics.fidelity) and the classifier FID of the
decoded images against the real test split (zoo.metrics' extractor and FID); our codec points also
get the results card's metrics (KID over 10 subsets, precision/recall, class coverage).
Writes docs/figures/compression_gan_rd_<dataset>.png (bpp vs PSNR, SSIM, FID),
docs/figures/compression_gan_matched_<dataset>.png (reconstructions side by side at the nearest bpp)
and docs/figures/compression_gan_rd_<dataset>.json (every number); prints the tables of
docs/compression_gan.md and the docs/results.md rows.
Expected result (docs/compression_gan.md, where the numbers are; they come from the low, xhigh and
jpeg runs, mid and high were not scored then): our points lie at 0.23-0.81 bpp, below the smallest
files of JPEG (~3.8 bpp) and WebP (~1.0 bpp); e.g. MNIST xhigh 0.81 bpp, PSNR 23.12, FID 0.31 against
WebP quality 0 at 1.02 bpp, PSNR 23.13, FID 4.21.

Image folders (docs/data.md) are coded the same way with `--folder=PATH` and a folder dataset name, e.g.
real RGB photo patches (scores in docs/compression_gan.md, "Real RGB photos"):

  python -m experiments.compression_rd --datasets=folder_rgb --folder=runs/photo_patches

Its runs are runs/compression_gan_<folder name>_<point>; the folder's test/ split is coded at the runs'
image size (every run of a folder must share it), and the baselines code the same RGB images. FID
needs Inception-v3 weights for RGB folders; offline it is left out (PSNR, SSIM and bpp remain).
"""
import functools
import io
import json
import os
import tempfile

import numpy as np
from absl import app, flags
from experiments.datasets import data_dir_of, is_folder, label
from zoo import pixels

FLAGS = flags.FLAGS
flags.DEFINE_list("datasets", ["mnist", "fashion_mnist"], "Datasets to evaluate.")
flags.DEFINE_string("runs", "runs", "Folder holding the compression_gan_<dataset>_<point> runs.")
flags.DEFINE_string("out_dir", "docs/figures", "Where figures and the JSON go.")
flags.DEFINE_string("split", "test", "TFDS split to code (the full test split for the docs).")
flags.DEFINE_string("cache_dir", "runs/compression_rd_cache", "Scores of the Pillow baselines, reused "
                    "by later runs ('' to recompute every time).")

OPERATING_POINTS = ("low", "mid", "high", "xhigh")
JPEG_QUALITIES = (1, 3, 5, 10, 20, 50, 95)
WEBP_QUALITIES = (0, 5, 10, 25, 50, 90)
CARD_KID_SUBSETS = 10  # the results card's KID over 10 subsets of 1,000 (100 would add minutes a point)
LOW_RATE_BPP = 2.0  # "the low-rate range" of the target check: every baseline point below this


# ---- codecs -----------------------------------------------------------------------------------------

def pillow_round_trip(images, format_name, **params):
  """(file sizes [N], decoded uint8 images) of each image (grayscale or RGB) saved as its own Pillow file."""
  from PIL import Image
  gray = images.shape[-1] == 1
  sizes, decoded = [], []
  for image in images:
    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if gray else image).save(buffer, format_name, **params)
    sizes.append(buffer.tell())
    buffer.seek(0)
    decoded.append(np.asarray(Image.open(buffer).convert("L" if gray else "RGB")).reshape(image.shape))
  return np.array(sizes), np.stack(decoded)


def image_size_of(dataset, runs):
  """0 for TFDS data (its own size); for a folder, the image size its runs share."""
  if not is_folder(dataset):
    return 0
  from zoo import runs as runs_lib
  sizes = {runs_lib.load_config(os.path.join(runs, name)).image_size
           for name in os.listdir(runs) if name.startswith(f"compression_gan_{label(dataset)}_")
           and os.path.exists(os.path.join(runs, name, "config.json"))}
  if len(sizes) != 1:
    raise ValueError(f"The runs of {label(dataset)} in {runs} must share one image size, found "
                     f"{sorted(sizes)}.")
  return sizes.pop()


@functools.lru_cache(maxsize=None)
def get_evaluator(dataset, data_dir, image_size, **kwargs):
  """zoo.metrics' evaluator, or None when it cannot be built offline (an RGB folder without local
  Inception-v3 weights): then FID is left out and PSNR, SSIM and bpp remain."""
  from zoo.metrics import evaluation, inception
  try:
    return evaluation.get_evaluator(dataset, data_dir, image_size=image_size, **kwargs)
  except inception.InceptionWeightsUnavailableError as e:
    print(f"FID left out for {label(dataset)}: {e}", flush=True)
    return None


def our_codec(logdir, split, data_dir):
  from zoo import compress
  codec = compress.codec_from_run(logdir)
  with tempfile.TemporaryDirectory() as out_dir:
    stats, _, decoded = compress.compress_split(codec, split, out_dir, data_dir)
  return stats["mean_file_bytes"], decoded, stats["clipped_codes"]


def restored_jpegs(logdir, images):
  """{quality: (JPEG file sizes, G's restoration of Pillow's decode)} at the qualities G trained on."""
  import tensorflow as tf
  from zoo import runs
  generator, config = runs.restore_generator(logdir)
  restore = tf.function(lambda x: generator({"images": x}, training=False)["images"])
  results = {}
  for quality in config.options["jpeg_qualities"]:
    sizes, jpeg_decoded = pillow_round_trip(images, "JPEG", quality=quality)
    restored = [pixels.to_uint8(restore(pixels.to_model_range(jpeg_decoded[i:i + 500], config.pixel_range)),
                              config.pixel_range).numpy() for i in range(0, len(images), 500)]
    results[quality] = (sizes, np.concatenate(restored))
  return results


# ---- scoring ------------------------------------------------------------------------------------------

def score(method, setting, mean_bytes, originals, decoded, evaluator):
  """bpp, PSNR, SSIM and FID (None without an evaluator) of one method's decodes."""
  from zoo.metrics import fidelity, scores
  fid = None
  if evaluator is not None:
    features, _ = evaluator.extractor(decoded)
    fid = float(scores.fid(evaluator.real, features))
  point = {"method": method, "setting": setting, "bytes": float(mean_bytes),
           "bpp": float(mean_bytes) * 8 / np.prod(originals.shape[1:3]),
           "psnr": float(np.mean(fidelity.psnr(originals, decoded))),
           "ssim": float(np.mean(fidelity.ssim(originals, decoded))), "fid": fid}
  print(f"  {method:13s} {setting:>12s}  {point['bpp']:6.3f} bpp  PSNR {point['psnr']:6.2f}  "
        f"SSIM {point['ssim']:.3f}  FID {fid_text(fid, 8)}", flush=True)
  return point


def fid_text(fid, width=0):
  return f"{'n/a':>{width}s}" if fid is None else f"{fid:{width}.2f}"


def evaluate_dataset(dataset, split, data_dir, runs):
  """[point], {(method, setting): decoded images} for one dataset (TFDS, or a folder at its runs' size)."""
  from zoo import data
  image_size = image_size_of(dataset, runs)
  originals = np.stack(list(data.load_images(dataset, split, data_dir, image_size).as_numpy_iterator()))
  evaluator = get_evaluator(dataset, data_dir, image_size)
  points, decoded_sets = [], {}

  def add(method, setting, sizes_or_mean, decoded):
    points.append(score(method, setting, np.mean(sizes_or_mean), originals, decoded, evaluator))
    decoded_sets[(method, setting)] = decoded

  for name in OPERATING_POINTS:
    logdir = os.path.join(runs, f"compression_gan_{label(dataset)}_{name}")
    if os.path.exists(logdir):
      mean_bytes, decoded, clipped = our_codec(logdir, split, data_dir)
      add("ours", name, mean_bytes, decoded)
      points[-1]["clipped_codes"] = clipped
      points[-1]["logdir"] = logdir
      if evaluator is None:
        continue
      # The results card's full metric set (KID, precision/recall, coverage) for our points only.
      evaluator_card = get_evaluator(dataset, data_dir, image_size, kid_subsets=CARD_KID_SUBSETS)
      card = evaluator_card(decoded_sets[("ours", name)])
      points[-1]["card"] = {key: getattr(value, "item", lambda v=value: v)() for key, value in card.items()}
  restore_dir = os.path.join(runs, f"compression_gan_{label(dataset)}_jpeg")
  if os.path.exists(restore_dir):
    for quality, (sizes, restored) in restored_jpegs(restore_dir, originals).items():
      add("ours_jpeg", f"q{quality}", sizes, restored)
  baselines = [("jpeg", f"q{q}", "JPEG", {"quality": q}) for q in JPEG_QUALITIES]
  baselines += [("webp", f"q{q}", "WEBP", {"quality": q}) for q in WEBP_QUALITIES]
  baselines += [("png", "lossless", "PNG", {"optimize": True})]
  for method, setting, format_name, params in baselines:
    size = f"_{image_size}" if image_size else ""  # TFDS caches keep their names from before folders
    cached = os.path.join(FLAGS.cache_dir, f"{label(dataset)}{size}_{split}_{method}_{setting}.npz")
    if FLAGS.cache_dir and os.path.exists(cached):  # they depend only on the data and Pillow
      with np.load(cached) as saved:
        points.append(json.loads(str(saved["point"])))
        decoded_sets[(method, setting)] = saved["first_images"]
      continue
    add(method, setting, *pillow_round_trip(originals, format_name, **params))
    if FLAGS.cache_dir:
      os.makedirs(FLAGS.cache_dir, exist_ok=True)
      np.savez(cached, point=json.dumps(points[-1]), first_images=decoded_sets[(method, setting)][:16])
  return originals, points, decoded_sets


# ---- matched-bpp comparison ---------------------------------------------------------------------------

def curve(points, method):
  chosen = sorted((p for p in points if p["method"] == method), key=lambda p: p["bpp"])
  return {key: np.array([np.nan if p[key] is None else p[key] for p in chosen])
          for key in ("bpp", "psnr", "ssim", "fid")}


def at_bpp(points, method, bpp, key):
  """`key` of `method`'s curve at `bpp` (linear in bpp), or None outside the rates it reaches."""
  line = curve(points, method)
  if not len(line["bpp"]) or not line["bpp"][0] <= bpp <= line["bpp"][-1]:
    return None
  return float(np.interp(bpp, line["bpp"], line[key]))


def best_at_most(points, method, bpp):
  """Our best PSNR and FID among points of `method` using at most `bpp` (None if none does)."""
  chosen = [p for p in points if p["method"] == method and p["bpp"] <= bpp]
  if not chosen:
    return None
  fids = [p["fid"] for p in chosen if p["fid"] is not None]
  return {"psnr": max(p["psnr"] for p in chosen), "fid": min(fids) if fids else None,
          "settings": [p["setting"] for p in chosen]}


def target_check(points):
  """Each JPEG/WebP point below LOW_RATE_BPP against ours at the same bpp, or at fewer bits.

  At the same bpp when our curve reaches that rate (interpolated); otherwise against our best points
  that use fewer bits, which is the stronger claim when they win and says so when they do not.
  """
  rows = []
  for baseline in ("jpeg", "webp"):
    for p in sorted((p for p in points if p["method"] == baseline and p["bpp"] <= LOW_RATE_BPP),
                    key=lambda p: p["bpp"]):
      ours_psnr, ours_fid = at_bpp(points, "ours", p["bpp"], "psnr"), at_bpp(points, "ours", p["bpp"], "fid")
      ours_fid = None if ours_fid is None or np.isnan(ours_fid) else ours_fid
      how = "same bpp"
      if ours_psnr is None:
        fewer = best_at_most(points, "ours", p["bpp"])
        if fewer is None:
          continue
        ours_psnr, ours_fid, how = fewer["psnr"], fewer["fid"], "fewer bits"
      rows.append({"baseline": baseline, "setting": p["setting"], "bpp": p["bpp"], "psnr": p["psnr"],
                   "fid": p["fid"], "ours_psnr": ours_psnr, "ours_fid": ours_fid, "compared_at": how,
                   "better_psnr": ours_psnr > p["psnr"],
                   "better_fid": None if p["fid"] is None or ours_fid is None else ours_fid < p["fid"]})
  return rows


# ---- figures ------------------------------------------------------------------------------------------

STYLES = {"ours": ("C3", "o-", "compression_gan (ours)"),
          "ours_jpeg": ("C1", "s--", "JPEG + G restore (ours)"),
          "jpeg": ("C0", "^-", "JPEG (Pillow)"),
          "webp": ("C2", "v-", "WebP (Pillow)")}


BPP_TICKS = (0.125, 0.25, 0.5, 1, 2, 4, 8)


def plot_rd(dataset, points, path):
  import matplotlib
  import matplotlib.ticker
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  panels = [("psnr", "PSNR (dB) ↑"), ("ssim", "SSIM ↑"), ("fid", "classifier FID ↓")]
  if all(p["fid"] is None for p in points):
    panels = panels[:2]
  figure, axes = plt.subplots(1, len(panels), figsize=(4.7 * len(panels), 4))
  png = [p for p in points if p["method"] == "png"][0]
  for axis, (key, name_of_axis) in zip(axes, panels):
    for method, (color, style, name) in STYLES.items():
      line = curve(points, method)
      if len(line["bpp"]):
        axis.plot(line["bpp"], line[key], style, color=color, label=name, markersize=4)
    axis.axvline(png["bpp"], color="gray", linestyle=":", label=f"PNG lossless ({png['bpp']:.2f} bpp)")
    axis.set_xscale("log")
    axis.set_xticks(BPP_TICKS, [f"{t:g}" for t in BPP_TICKS])
    axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axis.set_xlabel("bits per pixel (whole files, log scale)")
    axis.set_ylabel(name_of_axis)
    axis.grid(True, which="both", alpha=0.3)
  axes[0].legend(fontsize=8)
  count = int(np.mean([p.get("images", 10000) for p in points]))
  figure.suptitle(f"{label(dataset)}: rate-distortion on the {count:,} test images", fontsize=11)
  figure.tight_layout()
  figure.savefig(path, dpi=110)
  plt.close(figure)


def nearest(points, method, bpp):
  chosen = [p for p in points if p["method"] == method]
  return min(chosen, key=lambda p: abs(np.log(p["bpp"] / bpp))) if chosen else None


def plot_matched(dataset, originals, points, decoded_sets, path, columns=10):
  """Originals, then each of our points with the JPEG and WebP settings nearest its bpp."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  rows = [("original", originals)]
  ours = sorted((p for p in points if p["method"] == "ours"), key=lambda p: p["bpp"])
  for p in ours[-1:] + [nearest(points, "webp", ours[-1]["bpp"]), nearest(points, "jpeg", ours[-1]["bpp"]),
                        nearest(points, "ours_jpeg", ours[-1]["bpp"])] + ours[:-1]:
    if p is not None:
      name = STYLES[p["method"]][2].split(" (")[0]
      text = f"{name} {p['setting']}\n{p['bpp']:.2f} bpp, {p['psnr']:.1f} dB"
      rows.append((text, decoded_sets[(p["method"], p["setting"])]))
  figure, axes = plt.subplots(len(rows), 1, figsize=(columns * 0.75, len(rows) * 0.95))
  for axis, (name, images) in zip(axes, rows):
    strip = np.concatenate(list(images[:columns]), axis=1)
    if strip.shape[-1] == 1:
      axis.imshow(strip[..., 0], cmap="gray", vmin=0, vmax=255)
    else:
      axis.imshow(strip)
    axis.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=7)
    axis.set_xticks([])
    axis.set_yticks([])
  figure.suptitle(f"{label(dataset)}: the first {columns} test images, ours against the nearest-bpp "
                  "baselines", fontsize=9)
  figure.tight_layout()
  figure.savefig(path, dpi=110)
  plt.close(figure)


def results_card_rows(points):
  """docs/results.md rows of our codec points: metrics of the decoded test set, run time, command."""
  from experiments import results_card
  rows = []
  for p in (p for p in points if "logdir" in p):
    with open(os.path.join(p["logdir"], "config.json")) as f:
      config = json.load(f)
    options = config["options"]
    flags = (f"--model=compression_gan --dataset={config['dataset']} --code_size={options['code_size']} "
             f"--rate_weight={options['rate_weight']} --steps={config['steps']}")
    if "card" not in p:  # an RGB folder scored offline: bpp, PSNR and SSIM only
      flags += f" --data_dir={FLAGS.folder} --image_size={config['image_size']}"
      cells = [f"compression_gan ({p['setting']}: {p['bpp']:.3f} bpp, PSNR {p['psnr']:.2f}, SSIM "
               f"{p['ssim']:.3f} on {p['images']:,} held-out test images)",
               f"{label(config['dataset'])} ({config['dataset']}, "
               f"{config['image_size']}×{config['image_size']})",
               "n/a", "n/a", "n/a", "n/a", "n/a",
               f"{config['steps'] * config['batch_size']:,} ({config['steps']:,} steps)",
               f"{results_card.training_wall_seconds(p['logdir']) / 60:.1f} min", results_card.hardware(),
               f"`python -m zoo.train {flags} --logdir={p['logdir']}`"]
      rows.append("| " + " | ".join(cells) + " |")
      continue
    m = p["card"]
    cells = [f"compression_gan ({p['setting']}: {p['bpp']:.2f} bpp, PSNR {p['psnr']:.2f})", config["dataset"],
             f"{m['fid']:.2f}", f"{m['kid']:.4f} ± {m['kid_std']:.4f}", f"{m['precision']:.3f}",
             f"{m['recall']:.3f}", f"{m['modes_covered']}/10",
             f"{config['steps'] * config['batch_size']:,} ({config['steps']:,} steps)",
             f"{results_card.training_wall_seconds(p['logdir']) / 60:.1f} min", results_card.hardware(),
             f"`python -m zoo.train {flags} --data_dir=../shared/tensorflow_datasets --logdir={p['logdir']}`"]
    rows.append("| " + " | ".join(cells) + " |")
  return rows


def markdown_tables(dataset, points, checks):
  """The tables of docs/compression_gan.md for one dataset: every point, then the target check."""
  lines = [f"**{label(dataset)}**", "", "| method | setting | bpp | PSNR (dB) | SSIM | FID |",
           "|---|---|---:|---:|---:|---:|"]
  for p in sorted(points, key=lambda p: (list(STYLES).index(p["method"]) if p["method"] in STYLES else 9,
                                         p["bpp"])):
    lines.append(f"| {p['method']} | {p['setting']} | {p['bpp']:.3f} | {p['psnr']:.2f} | {p['ssim']:.3f} | "
                 f"{fid_text(p['fid'])} |")
  lines += ["", "| baseline | bpp | its PSNR / FID | ours compared at | our PSNR / FID | PSNR better | "
            "FID better |", "|---|---:|---:|---|---:|---|---|"]
  for r in checks:
    better_fid = {True: "yes", False: "no", None: "n/a"}[r["better_fid"]]
    lines.append(f"| {r['baseline']} {r['setting']} | {r['bpp']:.2f} | "
                 f"{r['psnr']:.2f} / {fid_text(r['fid'])} | {r['compared_at']} | "
                 f"{r['ours_psnr']:.2f} / {fid_text(r['ours_fid'])} | "
                 f"{'yes' if r['better_psnr'] else 'no'} | {better_fid} |")
  return "\n".join(lines)


def main(argv):
  del argv
  from zoo.cli import quiet_library_logs
  quiet_library_logs()
  os.makedirs(FLAGS.out_dir, exist_ok=True)
  for dataset in FLAGS.datasets:
    print(f"{label(dataset)}:", flush=True)
    originals, points, decoded_sets = evaluate_dataset(dataset, FLAGS.split, data_dir_of(dataset), FLAGS.runs)
    for p in points:
      p["images"] = len(originals)
    checks = target_check(points)
    result = {"split": FLAGS.split, "dataset": dataset, "data_dir": data_dir_of(dataset),
              "image_shape": list(originals.shape[1:]), "points": points, "target_check": checks}
    plot_rd(dataset, points, os.path.join(FLAGS.out_dir, f"compression_gan_rd_{label(dataset)}.png"))
    if any(p["method"] == "ours" for p in points):
      plot_matched(dataset, originals, points, decoded_sets,
                   os.path.join(FLAGS.out_dir, f"compression_gan_matched_{label(dataset)}.png"))
    for row in checks:
      print(f"  vs {row['baseline']} {row['setting']} at {row['bpp']:.2f} bpp ({row['compared_at']}): PSNR "
            f"{row['ours_psnr']:.2f} vs {row['psnr']:.2f}, FID {fid_text(row['ours_fid'])} vs "
            f"{fid_text(row['fid'])}")
    print(markdown_tables(dataset, points, checks))
    print("\n".join(results_card_rows(points)))
    with open(os.path.join(FLAGS.out_dir, f"compression_gan_rd_{label(dataset)}.json"), "w") as f:
      json.dump(result, f, indent=1)


if __name__ == "__main__":
  app.run(main)
