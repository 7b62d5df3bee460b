"""The table of shipped packages in docs/results.md, from their cards.

  python -m experiments.packages_table      # prints it; paste under "Shipped pretrained packages"
"""
import glob
import json
import os

from zoo import pretrained

HEADER = ["| package | FID | recall | other | images seen | wall time | reproduce |",
          "| --- | ---: | ---: | --- | ---: | ---: | --- |"]
OTHER = ("psnr", "ssim", "bpp")


def rows():
  lines = []
  for path in sorted(glob.glob(os.path.join(pretrained.SHIPPED, "*", "*", pretrained.CARD_FILE))):
    with open(path) as f:
      card = json.load(f)
    headline = card.get("headline", {})
    other = ", ".join(f"{key} {headline[key]['value']:.3g}" for key in OTHER if key in headline)
    label_accuracy = card.get("evaluation", {}).get("metrics", {}).get("label_accuracy")
    if label_accuracy is not None:
      other = ", ".join(filter(None, [other, f"label accuracy {label_accuracy:.3f}"]))
    wall = card["training"]["wall_seconds"]
    reproduce = (f"`python -m zoo.evaluate --pretrained={card['name']}`" if card["inputs"] == "noise" else
                 "the test split through it, then `zoo.evaluate --npz` (`experiments/train_pretrained.py`)"
                 if "fid" in headline else "the test split through it (`experiments/train_pretrained.py`)")
    lines.append(f"| `{card['name']}` | {_metric(headline, 'fid', 2)} | {_metric(headline, 'recall', 3)} | "
                 f"{other or '-'} | {card['training']['images_seen']:,} | "
                 f"{f'{wall / 60:.1f} min' if wall else '-'} | {reproduce} |")
  return lines


def _metric(headline, name, digits):
  if name not in headline:
    return "-"
  entry = headline[name]
  interval = entry.get("interval")
  text = f"{entry['value']:.{digits}f}"
  return text + (f" [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]" if interval else "")


if __name__ == "__main__":
  print("\n".join(HEADER + rows()))
