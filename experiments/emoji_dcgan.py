"""The article's 64x64x3 DCGAN on the emoji (docs/dcgan.md, docs/results.md): no augmentation,
DiffAugment, ADA, and conditional on the emoji group, at one budget of 150,000 images seen by D; then
no augmentation and ADA at dcgan's default budget of 600,000 images (ada_default, none_default).

  apt-get install fonts-noto-color-emoji       # the data: python -m zoo.emoji renders it (a few seconds)
  python -m experiments.emoji_dcgan --runs_dir=runs/emoji                # every arm, one after another
  python -m experiments.emoji_dcgan --only=ada,none --runs_dir=runs/emoji
  python -m experiments.emoji_dcgan --table --runs_dir=runs/emoji        # the results rows

Each arm: `zoo.train --model=dcgan --dataset=emoji` (64x64 RGB, 1,108 training emoji) with the arm's
flags, `zoo.evaluate` of 10,000 samples against the 264 test emoji with the emoji classifier
(zoo/metrics/classifiers/emoji.json), and experiments/dcgan_figures.py's samples (the last grid of
the run's fixed noise: its first 64 samples, not picked), progress GIF and losses as
docs/figures/dcgan_emoji_<arm>_*.
"""
import argparse
import json
import os
import sys

from experiments import results_card

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES_SEEN = 150_000
BATCH = 64  # dcgan's default batch size
STEPS = -(-IMAGES_SEEN // BATCH)
EVAL_SAMPLES = 10_000
ARMS = {
    "ada": ["--augment=ada"],
    "none": [],
    "diffaugment": ["--augment=translation,cutout,color"],
    "conditional": ["--augment=ada", "--conditional=projection"],
}
# Arms at dcgan's default budget (its default --steps, 600,000 images): the 150k arm's run copied and
# resumed, which resume makes identical to one uninterrupted run of the default command.
DEFAULT_BUDGET = {"ada_default": "ada", "none_default": "none"}
COPY_UNLESS_THERE = "import os, shutil, sys; os.path.exists(sys.argv[2]) or shutil.copytree(*sys.argv[1:])"


def commands(arm, args):
  run = os.path.join(args.runs_dir, arm)
  if arm in DEFAULT_BUDGET:
    short = DEFAULT_BUDGET[arm]
    copy = [[sys.executable, "-c", COPY_UNLESS_THERE, os.path.join(args.runs_dir, short), run]]
    train = [sys.executable, "-m", "zoo.train", "--model=dcgan", "--dataset=emoji", *ARMS[short],
             f"--logdir={run}"]
  else:
    copy = []
    train = [sys.executable, "-m", "zoo.train", "--model=dcgan", "--dataset=emoji", f"--steps={STEPS}",
             *ARMS[arm], f"--logdir={run}"]
  score = [sys.executable, "-m", "zoo.evaluate", f"--logdir={run}", f"--num_samples={EVAL_SAMPLES}",
           f"--output={os.path.join(run, 'eval.json')}"]
  figures = [sys.executable, "-m", "experiments.dcgan_figures", f"--logdir={run}", f"--name=emoji_{arm}",
             f"--out_dir={args.out_dir}"]
  return run, [*copy, train, score, figures]


def table(args):
  lines = ["| arm | command flags | FID | recall | precision | classes (of 8) | images seen | wall time |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
  for arm in (*ARMS, *DEFAULT_BUDGET):
    run = os.path.join(args.runs_dir, arm)
    path = os.path.join(run, "eval.json")
    if not os.path.exists(path):
      continue
    with open(path) as f:
      report = json.load(f)
    metrics = report["metrics"]
    minutes = results_card.training_wall_seconds(run) / 60
    flags = " ".join(ARMS[DEFAULT_BUDGET.get(arm, arm)]) or "(none)"
    lines.append(f"| {arm} | `{flags}` | {metrics['fid']:.2f} | {metrics['recall']:.3f} | "
                 f"{metrics['precision']:.3f} | {metrics['modes_covered']:.0f} | {report['images_seen']:,} | "
                 f"{minutes:.0f} min |")
  return "\n".join(lines)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--runs_dir", default=os.path.join(REPO, "runs", "emoji"))
  parser.add_argument("--out_dir", default=os.path.join(REPO, "docs", "figures"))
  parser.add_argument("--only", default="", help=f"Comma-separated arms of {', '.join(ARMS)}, "
                      f"{', '.join(DEFAULT_BUDGET)} (default: all).")
  parser.add_argument("--dry_run", action="store_true")
  parser.add_argument("--table", action="store_true")
  args = parser.parse_args(argv)
  if args.table:
    print(table(args))
    return
  valid = [*ARMS, *DEFAULT_BUDGET]
  arms = [a for a in args.only.split(",") if a] or valid
  unknown = sorted(set(arms) - set(valid))
  if unknown:
    sys.exit(f"error: unknown arms {unknown}; valid: {', '.join(valid)}.")
  results_card.run_unscored(arms, lambda arm: commands(arm, args), REPO, args.dry_run)


if __name__ == "__main__":
  main()
