"""Makes a pretrained package (zoo/pretrained.py) from a finished run folder.

  python -m experiments.package runs/dcgan_mnist --name=dcgan/mnist \
      --command="python -m zoo.train --model=dcgan --data_dir=DATA --logdir=runs/dcgan_mnist" \
      --eval=runs/dcgan_mnist/eval.json [--notes=notes.json] [--truncation=truncation.json]

writes zoo/pretrained/dcgan/mnist/ (or under --root): generator.keras (the run's EMA generator where it has
one, rebuilt in float32 through zoo.export's path, stock Keras layers), config.json (the run's, verbatim),
card.json and model_card.md (what the model is, how it was trained and measured), for compression_gan
the frozen codec (codec/<model id>/) that zoo.compress encodes with, and MANIFEST.sha256. The folder is
written beside its final place and moved there whole.

--eval is a zoo.evaluate report of the run (its metrics, bootstrap intervals and protocol), or for the
image-to-image models a zoo.restore/zoo.compress batch stats.json; --notes a JSON object with the prose
of the card ("article", "intended_use", "limitations", "departures"); --truncation a JSON list of
zoo.evaluate reports of truncated samples (experiments/train_pretrained.py measures them).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from experiments import results_card

NAME = re.compile(r"^[a-z0-9_]+/[a-z0-9_][a-z0-9_.-]*$")
HEADLINE = ("fid", "recall", "precision", "psnr", "ssim", "bpp")
NOTE_FIELDS = ("article", "intended_use", "limitations", "departures")


def make_package(logdir, name, root=None, command="", evaluation=None, notes=None, truncation=None,
                 use_ema=True, log=print, check=None):
  """Writes package `name` from run `logdir` under `root` (default the zoo's own zoo/pretrained/);
  returns its folder. `evaluation`, `notes`, `truncation`: the dicts described in the module docstring."""
  from zoo import export, models, pretrained, runs
  config = runs.load_config(logdir)
  check_name(name, config.model)
  spec = models.get_model(config.model)
  restored = runs.restore_generator_and_path(logdir, use_ema, log=log)
  root = root or pretrained.SHIPPED
  final = os.path.join(root, *name.split("/"))
  os.makedirs(os.path.dirname(final), exist_ok=True)
  staging = tempfile.mkdtemp(prefix=".package-", dir=os.path.dirname(final))
  try:
    export.inference_model(restored.generator, restored.config).save(
        os.path.join(staging, pretrained.KERAS_FILE))
    shutil.copyfile(os.path.join(logdir, pretrained.CONFIG_FILE),
                    os.path.join(staging, pretrained.CONFIG_FILE))
    if "compress" in spec.tools:
      _copy_codec(logdir, restored.path, staging)
    card = make_card(config, spec, restored, name, command, evaluation, notes, truncation, use_ema, check)
    with open(os.path.join(staging, pretrained.CARD_FILE), "w") as f:
      f.write(json.dumps(card, indent=2, sort_keys=True) + "\n")
    with open(os.path.join(staging, pretrained.CARD_TEXT), "w") as f:
      f.write(card_markdown(card))
    pretrained.write_manifest(staging)
    if os.path.isdir(final):
      shutil.rmtree(final)
    os.replace(staging, final)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return final


def check_name(name, model):
  if not NAME.match(name) or name.split("/")[0] != model:
    raise ValueError(f"--name={name!r} must be <model>/<dataset>[-<variant>] of the run's model, e.g. "
                     f"{model}/mnist or {model}/fashion_mnist-conditional (lower case, digits, _ . -).")


def _copy_codec(logdir, checkpoint, staging):
  """The run's codec at `checkpoint`, frozen as zoo.compress freezes it, into <staging>/codec/<id>/."""
  from zoo import compress, pretrained
  _, folder = compress.pinned_codec(logdir, checkpoint)
  shutil.copytree(folder, os.path.join(staging, pretrained.CODEC_FOLDER, os.path.basename(folder)))


def make_card(config, spec, restored, name, command, evaluation, notes, truncation, use_ema=True,
              check=None):
  """card.json's facts: provenance, data, training, metrics with their protocol, and what `zoo.load` needs."""
  from zoo import pretrained, runs, sampling
  notes = dict(notes or {})
  unknown = set(notes) - set(NOTE_FIELDS)
  if unknown:
    raise ValueError(f"--notes has unknown fields {sorted(unknown)}; the card takes "
                     f"{', '.join(NOTE_FIELDS)}.")
  step = restored.step or 0
  card = {
      "format": pretrained.FORMAT, "name": name, "model": config.model, "summary": spec.description,
      "command": command, "commit": git_commit(),
      "data": {"dataset": config.dataset, "train_split": config.train_split, "image_size": config.image_size,
               "image_resize": config.image_resize, "seed": config.seed},
      "training": {"steps": step, "images_seen": runs.images_seen(config, step),
                   "wall_seconds": _wall_seconds(config.logdir), "hardware": results_card.hardware(),
                   "precision": config.precision, "checkpoint": os.path.basename(restored.path),
                   "generator": "EMA" if runs.has_ema(config) and use_ema else "raw"},
      "tools": list(spec.tools),
      **{field: notes.get(field, "") for field in NOTE_FIELDS},
      **sampling.interface(config, spec),
  }
  curve = training_curve(config)
  if curve:
    card["curve"] = curve
  if evaluation:
    card["evaluation"] = evaluation
    card["headline"] = headline(evaluation)
  if check:
    card["quality_check"] = quality_check(check)
  if truncation:
    card["truncation"] = [{"truncation": report.get("truncation"), "metrics": report.get("metrics"),
                           "intervals": report.get("intervals")} for report in truncation]
  return card


# What CI's quality test (tests/test_pretrained_quality.py) allows between its score of the package and
# the card's: the same G, noise and protocol give the same numbers up to the kernels' rounding on
# another CPU, far inside these; a broken sampler, export, EMA or preprocessing moves FID by much more.
QUALITY_TOLERANCE = {"fid_relative": 0.05, "fid_absolute": 0.5, "recall_absolute": 0.03}


def quality_check(report):
  """The card's quality_check: the package's own `zoo.evaluate --pretrained` report of a few thousand
  samples (no bootstrap), with the tolerance CI holds later scores to."""
  return {"num_samples": report["num_samples"], "noise_seed": report["noise_seed"],
          "metrics": {name: report["metrics"][name] for name in ("fid", "recall")},
          "protocol": report.get("protocol"), "tolerance": QUALITY_TOLERANCE}


CURVE_METRICS = ("fid", "precision", "recall", "modes_covered")


def training_curve(config):
  """What --eval_every logged while the run trained (5,000 samples each): the card's FID curve."""
  try:
    points = results_card.eval_curve(config.logdir, config.batch_size)
  except (OSError, ValueError):
    return None
  return [{key: point[key] for key in ("images_seen", *CURVE_METRICS) if key in point} for point in points]


def refresh_card(folder, logdir, notes=None, check=None):
  """Rewrites a package's card (card.json, model_card.md, MANIFEST) with what the code that writes cards
  now takes from its run, and `notes` (NOTE_FIELDS) where given, keeping every other recorded fact; the
  generator and config are not touched."""
  from zoo import pretrained, runs
  with open(os.path.join(folder, pretrained.CARD_FILE)) as f:
    card = json.load(f)
  card.update({field: text for field, text in (notes or {}).items() if field in NOTE_FIELDS})
  if check:
    card["quality_check"] = check
  curve = training_curve(runs.load_config(logdir))
  if curve:
    card["curve"] = curve
  with open(os.path.join(folder, pretrained.CARD_FILE), "w") as f:
    f.write(json.dumps(card, indent=2, sort_keys=True) + "\n")
  with open(os.path.join(folder, pretrained.CARD_TEXT), "w") as f:
    f.write(card_markdown(card))
  pretrained.write_manifest(folder)
  return folder


# What CI allows between its measure of a restorer or codec package and the card's quality_check: the same
# G and inputs give the same pixels up to rounding; a broken pre/post-processing moves PSNR by decibels.
FIDELITY_TOLERANCE = {"psnr_absolute": 0.1, "ssim_absolute": 0.005, "bpp_relative": 0.01}
FIDELITY_CHECK_SPLIT = "test[:1000]"


def fidelity(name, split, data_dir=None):
  """{psnr, ssim[, bpp]} of package `name` over `split` of its dataset: a restorer's restorations of the
  split degraded with seed 0, or a codec's decodes of its own files."""
  from zoo import compress, restore
  with tempfile.TemporaryDirectory() as out:
    if name.startswith("compression_gan/"):
      codec, _ = compress.package_codec(name, data_dir)
      stats = compress.compress_split(codec, split, out, data_dir)[0]
    else:
      stats = restore.restore_split(None, split, out, data_dir, seed=0, pretrained=name)[0]
  return {key: stats[key] for key in ("psnr", "ssim", "bpp") if key in stats}


def fidelity_check(name, data_dir=None, photo_patches=None):
  """A restorer's or codec's quality_check, measured from the package itself as CI's quality test
  (tests/test_pretrained_quality.py) measures it. `photo_patches` ({size, num_test, seed}) says how to
  rebuild a photo-patch test split in `data_dir` with zoo.photo_patches, for the test to do the same."""
  check = {"split": FIDELITY_CHECK_SPLIT, "seed": 0,
           "metrics": fidelity(name, FIDELITY_CHECK_SPLIT, data_dir), "tolerance": FIDELITY_TOLERANCE}
  if photo_patches:
    check["photo_patches"] = photo_patches
  return check


def headline(evaluation):
  """{"fid": {"value": v, "interval": [lo, hi]}, ...} of the headline metrics an evaluation holds."""
  metrics = evaluation.get("metrics", evaluation)  # zoo.evaluate's report, or a batch stats.json
  intervals = evaluation.get("intervals") or {}
  found = {}
  for metric in HEADLINE:
    if isinstance(metrics.get(metric), (int, float)):
      found[metric] = {"value": metrics[metric], "interval": intervals.get(metric)}
  return found


def _wall_seconds(logdir):
  try:
    return round(results_card.training_wall_seconds(logdir), 1)
  except ValueError:  # no TensorBoard events: a run copied without them
    return None


def git_commit():
  """HEAD of the checkout the zoo runs from, with "+changes" when its tracked files differ from it."""
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  try:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                            check=True).stdout.strip()
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "zoo"], cwd=repo).returncode != 0
  except (OSError, subprocess.CalledProcessError):
    return "unknown"
  return commit + ("+changes" if dirty else "")


def card_markdown(card) -> str:
  """model_card.md: the card's facts for people."""
  training, data = card["training"], card["data"]
  wall = training["wall_seconds"]
  lines = [f"# {card['name']}", "", card["summary"], ""]
  if card.get("article"):
    lines += [f"**Reproduces:** {card['article']}", ""]
  lines += ["## How it was trained", "", f"```\n{card['command'] or '(command not recorded)'}\n```", "",
            f"- commit: `{card['commit']}`",
            f"- data: {data['dataset']}, split `{data['train_split']}`"
            + (f", at {data['image_size']}x{data['image_size']} ({data['image_resize']})"
               if data["image_size"] else ""),
            f"- {training['steps']} steps, {training['images_seen']:,} images seen, "
            + (f"{wall / 60:.1f} min" if wall else "wall time not recorded") + f" on {training['hardware']}",
            f"- precision {training['precision']}; the package holds the {training['generator']} generator "
            f"of {training['checkpoint']}, in float32", ""]
  lines += _metrics_section(card)
  lines += _curve_section(card)
  lines += ["## Using it", "", "```python", "import zoo", f"model = zoo.load({card['name']!r})"]
  if card["inputs"] == "noise":
    lines += [f"images = model.sample(64, seed=0)   # uint8 {tuple(card['image_shape'])} each", "```", "",
              f"`python -m zoo.sample --pretrained={card['name']} --num=64 --out=grid.png`", ""]
  else:
    shape = ", ".join(map(str, card["image_shape"]))
    lines += [f"restored = model(images)   # uint8 [N, {shape}]", "```", ""]
  for title, field in (("Intended use", "intended_use"), ("Limitations", "limitations"),
                       ("Departures from the article", "departures")):
    if card.get(field):
      lines += [f"## {title}", "", card[field], ""]
  return "\n".join(lines)


def _metrics_section(card):
  if not card.get("headline"):
    return ["## Metrics", "", "Not measured yet.", ""]
  lines = ["## Metrics", "", "| metric | value | interval |", "|---|---:|---|"]
  for metric, entry in card["headline"].items():
    interval = entry.get("interval")
    lines.append(f"| {metric} | {entry['value']:.4g} | "
                 + (f"[{interval[0]:.4g}, {interval[1]:.4g}] |" if interval else "- |"))
  protocol = card["evaluation"].get("protocol")
  if protocol:
    lines += ["", "Protocol: " + ", ".join(f"{key} {value}" for key, value in sorted(_flat(protocol)))]
  for entry in card.get("truncation") or []:
    values = ", ".join(f"{k} {v:.4g}" for k, v in (entry.get("metrics") or {}).items()
                       if k in ("fid", "precision", "recall") and isinstance(v, (int, float)))
    lines.append(f"- truncation {entry['truncation']}: {values}")
  return lines + [""]


def _curve_section(card):
  if not card.get("curve"):
    return []
  lines = ["## While it trained", "",
           "`--eval_every` scored 5,000 samples (the same noise each time) against the test split:", "",
           "| images seen | FID | precision | recall | classes |", "|---:|---:|---:|---:|---:|"]
  for point in card["curve"]:
    cells = [f"{point[key]:.3g}" if key in point else "-" for key in ("fid", "precision", "recall")]
    classes = f"{point['modes_covered']:.0f}" if "modes_covered" in point else "-"
    lines.append(f"| {point['images_seen']:,} | " + " | ".join(cells) + f" | {classes} |")
  return lines + [""]


def _flat(value, prefix=""):
  if isinstance(value, dict):
    for key, inner in value.items():
      yield from _flat(inner, f"{prefix}{key}.")
  else:
    yield prefix.rstrip("."), value


def _read_json(path):
  if not path:
    return None
  with open(path) as f:
    return json.load(f)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("logdir")
  parser.add_argument("--refresh_card", default=None, metavar="PACKAGE_FOLDER",
                      help="Rewrite that package's card from the run at logdir (e.g. to add its curve).")
  parser.add_argument("--name", default=None)
  parser.add_argument("--root", default=None, help="Folder of packages (default: the zoo's zoo/pretrained/).")
  parser.add_argument("--command", default="")
  parser.add_argument("--eval", default=None)
  parser.add_argument("--notes", default=None)
  parser.add_argument("--truncation", default=None)
  parser.add_argument("--check", default=None, help="zoo.evaluate --pretrained report of the package "
                      "itself (2,000 samples), for CI's quality test.")
  parser.add_argument("--use_ema", default=True, type=lambda text: text.lower() not in ("0", "false", "no"))
  args = parser.parse_args(argv)
  if args.refresh_card:
    print(f"refreshed {refresh_card(args.refresh_card, args.logdir, _read_json(args.notes))}")
    return
  if not args.name:
    sys.exit("error: --name is required (e.g. --name=dcgan/mnist).")
  try:
    folder = make_package(args.logdir, args.name, args.root, args.command, _read_json(args.eval),
                          _read_json(args.notes), _read_json(args.truncation), args.use_ema,
                          check=_read_json(args.check))
  except (ValueError, OSError) as e:
    sys.exit(f"error: {e}")
  print(f"wrote {folder} ({_size(folder) / 1e6:.2f} MB)")


def _size(folder):
  return sum(os.path.getsize(os.path.join(parent, name)) for parent, _, names in os.walk(folder)
             for name in names)


if __name__ == "__main__":
  main()
