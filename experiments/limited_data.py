"""The limited-data study of docs/recipe.md: dcgan on 1k and 5k-image training subsets, with no
augmentation, DiffAugment and ADA, scored against the full test split.

  python -m experiments.limited_data --data_dir=../shared/tensorflow_datasets --runs_dir=runs/limited
  python -m experiments.limited_data --only=mnist-1k-ada-s0,mnist-1k-none-s0   # some cells
  python -m experiments.limited_data --dry_run     # the commands, in the order they run
  python -m experiments.limited_data --table       # the markdown table of the cells that finished
  python -m experiments.limited_data --plot=docs/figures/limited_data_fid.png   # their FID curves

Each cell is `zoo.train` with dcgan's defaults on `--train_split=train[:N]` for 300,000 images seen by
D (D sees a 1k subset 300 times), logging FID and recall against the test split ten times on the way
(`--eval_every`, 5,000 samples: the curve), then `zoo.evaluate` of 10,000 samples of the final EMA
generator (eval.json). Cells are independent: run them on several cores or machines with --only. A cell
already scored is skipped.
"""
import argparse
import json
import os
import sys

from experiments import results_card

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES_SEEN = 300_000
BATCH = 64  # dcgan's default batch size
STEPS = -(-IMAGES_SEEN // BATCH)
CURVE_POINTS = 10
EVAL_SAMPLES = 10_000
ARMS = {
    "none": [],
    "diffaugment": ["--augment=translation,cutout,color"],  # the DiffAugment paper's limited-data policy
    "ada": ["--augment=ada"],
}
DATASETS = ("mnist", "fashion_mnist")
SIZES = (1000, 5000)
SECOND_SEED = {(size, arm) for size in (1000,) for arm in ("none", "ada")}


def cells():
  """{name: (dataset, size, arm, seed)} in the order they run: the 1k cells first (the acceptance)."""
  found = {}
  for size in SIZES:
    for dataset in DATASETS:
      for arm in ARMS:
        found[f"{dataset}-{size // 1000}k-{arm}-s0"] = (dataset, size, arm, 0)
  for size, arm in sorted(SECOND_SEED):
    for dataset in DATASETS:
      found[f"{dataset}-{size // 1000}k-{arm}-s1"] = (dataset, size, arm, 1)
  return found


def commands(name, args):
  dataset, size, arm, seed = cells()[name]
  run = os.path.join(args.runs_dir, name)
  train = [sys.executable, "-m", "zoo.train", "--model=dcgan", f"--dataset={dataset}",
           f"--train_split=train[:{size}]", f"--steps={STEPS}", f"--eval_every={STEPS // CURVE_POINTS}",
           f"--seed={seed}", *ARMS[arm], f"--data_dir={args.data_dir}", f"--logdir={run}"]
  score = [sys.executable, "-m", "zoo.evaluate", f"--logdir={run}", f"--num_samples={EVAL_SAMPLES}",
           f"--data_dir={args.data_dir}", f"--output={os.path.join(run, 'eval.json')}"]
  return run, [train, score]


def curve(run):
  """[(images seen, FID, recall)] logged by --eval_every."""
  return [(p["images_seen"], p["fid"], p.get("recall")) for p in results_card.eval_curve(run, BATCH)]


def row(name, args):
  run = os.path.join(args.runs_dir, name)
  report_path = os.path.join(run, "eval.json")
  if not os.path.exists(report_path):
    return None
  with open(report_path) as f:
    metrics = json.load(f)["metrics"]
  points = curve(run)
  best = min(points, key=lambda p: p[1]) if points else None
  dataset, size, arm, seed = cells()[name]
  return {"name": name, "dataset": dataset, "size": size, "arm": arm, "seed": seed,
          "fid": metrics["fid"], "recall": metrics.get("recall"), "precision": metrics.get("precision"),
          "classes": metrics.get("modes_covered"),
          "best_fid": best[1] if best else None, "best_at": best[0] if best else None,
          "curve": points}


def table(args):
  lines = ["| dataset | train images | augmentation | seed | FID (10k samples) | recall | precision | "
           "classes | lowest FID on the curve (at images seen) |",
           "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
  rows = [r for r in (row(name, args) for name in cells()) if r]
  rows.sort(key=lambda r: (r["dataset"], r["size"], list(ARMS).index(r["arm"]), r["seed"]))
  for r in rows:
    best = f"{r['best_fid']:.1f} ({r['best_at'] // 1000}k)" if r["best_fid"] is not None else "-"
    lines.append(f"| {r['dataset']} | {r['size']:,} | {r['arm']} | {r['seed']} | {r['fid']:.2f} | "
                 f"{r['recall']:.3f} | {r['precision']:.3f} | {r['classes']} | {best} |")
  with open(os.path.join(args.runs_dir, "study.json"), "w") as f:
    json.dump(rows, f, indent=1)
  return "\n".join(lines)


def plot(args, path):
  """FID over training, one panel per dataset, one line per cell (the curves of the table)."""
  import matplotlib
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt
  rows = [r for r in (row(name, args) for name in cells()) if r and r["curve"]]
  figure, axes = plt.subplots(1, len(DATASETS), figsize=(6 * len(DATASETS), 4), squeeze=False)
  for axis, dataset in zip(axes[0], DATASETS):
    for r in (r for r in rows if r["dataset"] == dataset):
      seen, fid, _ = zip(*r["curve"])
      style = {"none": "-", "diffaugment": ":", "ada": "--"}[r["arm"]]
      axis.plot([s / 1000 for s in seen], fid, style, marker="o", markersize=3,
                label=f"{r['size'] // 1000}k, {r['arm']}, seed {r['seed']}")
    axis.set(title=f"dcgan on {dataset} subsets, FID against the test split", xlabel="thousand images seen",
             ylabel="FID (5,000 samples)", yscale="log")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
  figure.tight_layout()
  figure.savefig(path, dpi=90)
  print(f"wrote {path}")


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data_dir", default=os.path.join(REPO, "..", "shared", "tensorflow_datasets"))
  parser.add_argument("--runs_dir", default=os.path.join(REPO, "runs", "limited"))
  parser.add_argument("--only", default="", help="Comma-separated cell names (default: all).")
  parser.add_argument("--dry_run", action="store_true")
  parser.add_argument("--table", action="store_true", help="Print the table of finished cells.")
  parser.add_argument("--plot", default=None, metavar="PNG", help="Plot the FID curves of finished cells.")
  args = parser.parse_args(argv)
  if args.table or args.plot:
    if args.table:
      print(table(args))
    if args.plot:
      plot(args, args.plot)
    return
  names = [n for n in args.only.split(",") if n] or list(cells())
  unknown = sorted(set(names) - set(cells()))
  if unknown:
    sys.exit(f"error: unknown cells {unknown}; valid: {', '.join(cells())}.")
  results_card.run_unscored(names, lambda name: commands(name, args), REPO, args.dry_run)


if __name__ == "__main__":
  main()
