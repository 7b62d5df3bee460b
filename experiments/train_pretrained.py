"""Trains, scores and packages every pretrained model the zoo ships, with the project's default commands.

  python -m experiments.train_pretrained --data_dir=../shared/tensorflow_datasets --runs_dir=runs
  python -m experiments.train_pretrained --only=dcgan/mnist,dcgan/fashion_mnist-conditional
  python -m experiments.train_pretrained --dry_run        # print the commands, run nothing

For each package: `zoo.train` with the model's defaults (a run already finished is not retrained: the
trainer resumes and stops at once), then its scores (`zoo.evaluate` of 10,000 samples for noise-to-image
models; `zoo.restore`/`zoo.compress` over the test split, and zoo.evaluate of their outputs, for the
others), for dcgan/mnist the effect of truncation on precision and recall, and last
`experiments/package.py`, which writes zoo/pretrained/<model>/<name>/. Each step's output stays in the
run folder (eval.json, restored/, compressed/, truncation_*.npz), so the cards can be traced back.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVAL_SAMPLES = 10_000
QUALITY_CHECK_SAMPLES = 2_000  # what CI's quality test draws from each package (seconds per package)
TRUNCATIONS = (1.0, 0.7, 0.5)
PHOTO_PATCHES = ["--size=64", "--num=4000", "--num_test=1000", "--seed=0"]
# name: (zoo.train flags beyond --data_dir and --logdir, how it is scored)
PACKAGES = {
    "dense_gan/mnist": (["--model=dense_gan"], "samples"),
    "dense_gan/fashion_mnist": (["--model=dense_gan", "--dataset=fashion_mnist"], "samples"),
    "dcgan/mnist": (["--model=dcgan"], "samples"),
    "dcgan/fashion_mnist": (["--model=dcgan", "--dataset=fashion_mnist"], "samples"),
    "dcgan/mnist-conditional": (["--model=dcgan", "--conditional=projection"], "samples"),
    "dcgan/fashion_mnist-conditional": (["--model=dcgan", "--dataset=fashion_mnist",
                                         "--conditional=projection"], "samples"),
    "autoencoder_gan/mnist": (["--model=autoencoder_gan"], "samples"),
    "autoencoder_gan/fashion_mnist": (["--model=autoencoder_gan", "--dataset=fashion_mnist"], "samples"),
    "compression_gan/mnist": (["--model=compression_gan"], "compress"),
    "image_gan/denoise-mnist": (["--model=image_gan", "--task=denoise"], "restore"),
    "image_gan/inpaint-mnist": (["--model=image_gan", "--task=inpaint"], "restore"),
    "image_gan/superres-mnist": (["--model=image_gan", "--task=superres"], "restore"),
    "image_gan/colorize-photo_patches": (["--model=image_gan", "--task=colorize", "--dataset=folder_rgb",
                                          "--image_size=64"], "restore"),
}
ARTICLES = {  # the article each model reproduces (docs/<model>.md)
    "dense_gan": "article 001: a GAN of dense layers on MNIST (Goodfellow et al. 2014's setup)",
    "dcgan": "article 003: DCGAN (Radford, Metz & Chintala 2016); conditional runs add a projection D "
             "(Miyato & Koyama 2018)",
    "autoencoder_gan": "article 002: a GAN whose generator starts from a pretrained autoencoder's decoder",
    "compression_gan": "article 000: a GAN image codec, entropy-coded code and adversarial decoder",
    "image_gan": "article 004: conditional image-to-image restoration (pix2pix-style U-Net G, pair D)",
}


# The prose of each card (experiments/package.py NOTE_FIELDS beyond the article); packages of one
# model and recipe share theirs.
_AUTOENCODER_GAN = {
    "intended_use": ("Sampling images of the dataset from a GAN whose generator starts as a pretrained"
                     " autoencoder's decoder; teaching the article's two-phase setup."),
    "limitations": ("28x28 grey images of its dataset only; unconditional; blurrier than dcgan (FID "
                    "several times dcgan's on the same features). Trained while the machine's other "
                    "core ran another training run, so the wall time is longer than on an idle "
                    "machine."),
    "departures": ("A strided D with BatchNorm (the article's filters at 4x4 stride 2, LeakyReLU, "
                   "N(0, 0.02)) instead of the article's stride-1 D, G's moving average (0.999), "
                   "6,000 GAN steps; --recipe=article restores the article's "
                   "(docs/autoencoder_gan.md)."),
}
_MNIST_RESTORER = {
    "intended_use": ("Restoring degraded 28x28 digits (the task in the name) from the command line "
                     "(python -m zoo.restore --pretrained=...) or Python."),
    "limitations": ("Trained on MNIST digits with the zoo's own degradation of that task; other "
                    "images or degradations are outside what it has seen. Trained while the machine's"
                    " other core ran another training run, so the wall time is longer than on an idle"
                    " machine."),
    "departures": ("Linear output clipped at inference instead of tanh; L1 weight and patch D as in "
                   "docs/image_gan.md."),
}
NOTES = {
    "autoencoder_gan/fashion_mnist": _AUTOENCODER_GAN,
    "autoencoder_gan/mnist": _AUTOENCODER_GAN,
    "compression_gan/mnist": {
        "intended_use": ("Compressing 28x28 grey digits to small files and back (python -m zoo.compress "
                         "--pretrained=compression_gan/mnist encode/decode)."),
        "limitations": ("A codec for MNIST-like digits only; photos and other sizes are outside it. "
                        "Trained while the machine's other core ran another training run, so the wall "
                        "time is longer than on an idle machine."),
        "departures": ("The article's G as the decoder of an encoder's quantised, entropy-coded code "
                       "(docs/compression_gan.md)."),
    },
    "dcgan/fashion_mnist": {
        "intended_use": ("Sampling 28x28 grey Fashion-MNIST clothing images; a reference DCGAN on a second"
                         " dataset."),
        "limitations": ("28x28 grey Fashion-MNIST images only (trained zero-padded to 32x32; samples are "
                        "cropped back to 28x28); unconditional. Trained while the machine's other core "
                        "ran another training run, so the wall time is longer than on an idle machine."),
        "departures": ("As dcgan/mnist: the DCGAN paper's recipe at 32x32 instead of the article's 64x64"
                       " faces (docs/dcgan.md)."),
    },
    "dcgan/mnist-conditional": {
        "intended_use": ("Sampling a chosen digit (python -m zoo.sample --pretrained=dcgan/mnist-"
                         "conditional --label=7), class grids and interpolation between classes."),
        "limitations": ("28x28 grey MNIST digits only (trained zero-padded to 32x32; samples cropped "
                        "back). Trained while the machine's other core ran another training run, so the "
                        "wall time is longer than on an idle machine."),
        "departures": ("As dcgan/mnist, plus class conditioning the article does not have: a projection "
                       "D and conditional BatchNorm in G (docs/conditional.md)."),
    },
    "dcgan/mnist": {
        "intended_use": ("Sampling handwritten digits; a reference DCGAN for comparisons (the standard "
                         "recipe, measured against pytorch/examples' DCGAN in docs/performance.md)."),
        "limitations": ("28x28 grey MNIST digits only (trained zero-padded to 32x32; samples are cropped "
                        "back to 28x28); unconditional. Trained while the machine's other core ran "
                        "another training run, so the wall time is longer than on an idle machine."),
        "departures": ("The DCGAN paper's recipe at 32x32 instead of the article's 64x64 faces: "
                       "256-filter seed, BatchNorm on G's projection, a 3-convolution D with BatchNorm, "
                       "N(0, 0.02) init, no dropout or L2, G's moving average (0.999); --recipe=article "
                       "restores the article's networks (docs/dcgan.md)."),
    },
    "dense_gan/mnist": {
        "intended_use": ("Sampling handwritten digits, as a small baseline GAN to compare others with, and"
                         " for teaching: the article's MLP GAN made to train."),
        "limitations": ("28x28 grey MNIST digits only; unconditional (no control of the digit); some "
                        "samples are broken strokes (FID 10 against 0.5 for real test digits). Trained "
                        "while the machine's other core ran another training run, so the wall time is "
                        "longer than on an idle machine."),
        "departures": ("BatchNorm before G's hidden ReLUs, wider G (256-512-1024) and D (512-256, "
                       "LeakyReLU, dropout 0.3), Adam 2e-4 with beta_1 0.5, a moving average of G "
                       "(0.999); the article's exact networks are --recipe=article (docs/dense_gan.md)."),
    },
    "image_gan/denoise-mnist": _MNIST_RESTORER,
    "image_gan/inpaint-mnist": _MNIST_RESTORER,
    "image_gan/superres-mnist": _MNIST_RESTORER,
    "dense_gan/fashion_mnist": {
        "intended_use": ("Sampling 28x28 grey Fashion-MNIST clothing images from the article's MLP GAN "
                         "made to train; a small baseline."),
        "limitations": ("28x28 grey Fashion-MNIST images only; unconditional; blurrier and less varied "
                        "than dcgan/fashion_mnist. Trained while the machine's other core ran another "
                        "training run, so the wall time is longer than on an idle machine."),
        "departures": ("BatchNorm before G's hidden ReLUs, wider G (256-512-1024) and D (512-256, "
                       "LeakyReLU, dropout 0.3), Adam 2e-4 with beta_1 0.5, a moving average of G "
                       "(0.999); the article's exact networks are --recipe=article (docs/dense_gan.md)."),
    },
    "dcgan/fashion_mnist-conditional": {
        "intended_use": ("Sampling a chosen Fashion-MNIST class (python -m zoo.sample "
                         "--pretrained=dcgan/fashion_mnist-conditional --label=7), class grids and "
                         "interpolation between classes."),
        "limitations": ("28x28 grey Fashion-MNIST images only (trained zero-padded to 32x32; samples "
                        "cropped back). Trained while the machine's other core ran another training run, "
                        "so the wall time is longer than on an idle machine."),
        "departures": ("As dcgan/mnist, plus class conditioning the article does not have: a projection "
                       "D and conditional BatchNorm in G (docs/conditional.md)."),
    },
    "image_gan/colorize-photo_patches": {
        "intended_use": ("Colourising 64x64 grey patches of photographs (python -m zoo.restore "
                         "--pretrained=image_gan/colorize-photo_patches); a demonstration of the article's"
                         " image-to-image GAN on RGB data."),
        "limitations": ("Trained on 4,000 64x64 patches of the few public-domain photos zoo.photo_patches"
                        " finds in installed wheels, so it knows few scenes and colours: its colourised "
                        "patches score a lower PSNR than the grey input itself (plausible colours are not"
                        " the true ones), and no FID is measured (no domain classifier for photo patches,"
                        " no FID Inception weights offline). Trained while the machine's other core ran "
                        "another training run, so the wall time is longer than on an idle machine."),
        "departures": ("Linear output clipped at inference instead of tanh; L1 weight and patch D as in "
                       "docs/image_gan.md."),
    },
}


def slug(name):
  return name.replace("/", "_")


def data_dir_for(name, args):
  return os.path.join(args.runs_dir, "photo_patches") if "photo_patches" in name else args.data_dir


def steps(name, args):
  """[(description, argv)] of everything that makes package `name`, in order."""
  flags, scoring = PACKAGES[name]
  run = os.path.join(args.runs_dir, f"pretrained_{slug(name)}")
  data = data_dir_for(name, args)
  train = [sys.executable, "-m", "zoo.train", *flags, f"--data_dir={data}", f"--logdir={run}"]
  todo = [("train", train)]
  report = os.path.join(run, "eval.json")
  if scoring == "samples":
    todo.append(("score", [sys.executable, "-m", "zoo.evaluate", f"--logdir={run}",
                           f"--num_samples={EVAL_SAMPLES}", f"--output={report}"]))
  else:
    tool, folder, npz = (("restore", "restored", "restored.npz") if scoring == "restore"
                         else ("compress", "compressed", "decoded.npz"))
    out = os.path.join(run, folder)
    batch = ([sys.executable, "-m", "zoo.restore", f"--logdir={run}", "--split=test", f"--out_dir={out}"]
             if tool == "restore" else
             [sys.executable, "-m", "zoo.compress", "batch", out, f"--logdir={run}", "--split=test"])
    todo.append(("score", batch))
    if scored_offline(flags):
      todo.append(("score", [sys.executable, "-m", "zoo.evaluate", f"--npz={os.path.join(out, npz)}",
                             f"--logdir={run}", f"--output={report}"]))
  if name == "dcgan/mnist":
    for t in TRUNCATIONS:
      samples = os.path.join(run, f"truncation_{t}.npz")
      todo.append(("truncation", [sys.executable, "-m", "zoo.sample", f"--logdir={run}",
                                  f"--num={EVAL_SAMPLES}", f"--truncation={t}", f"--out={samples}"]))
      # --image_size=0: zoo.sample's samples are already at the dataset's 28x28 (the pad cropped off).
      todo.append(("truncation", [sys.executable, "-m", "zoo.evaluate", f"--npz={samples}", f"--logdir={run}",
                                  "--image_size=0", f"--output={os.path.join(run, f'truncation_{t}.json')}"]))
  command = shlex.join(["python", "-m", "zoo.train", *flags, "--data_dir=DATA",
                        f"--logdir=runs/{slug(name)}"])
  if "photo_patches" in name:  # DATA is a folder the zoo makes, not a TFDS directory
    prepare = shlex.join(["python", "-m", "zoo.photo_patches", "--out=DATA", *PHOTO_PATCHES])
    command = f"{prepare} && {command}"
  return run, command, todo


def scored_offline(flags):
  """Whether zoo.evaluate can score the dataset here: it has a domain classifier. Elsewhere FID needs the
  FID Inception's weights, which an offline machine does not have."""
  from zoo.data import datasets
  dataset = next((flag.split("=", 1)[1] for flag in flags if flag.startswith("--dataset=")), "mnist")
  return datasets.DATASETS[dataset].classifier


def fidelity_check(name, args):
  """The quality_check of a restorer or codec (None for the noise-to-image packages). The colouriser's is
  measured on the photo-patch folder the package trained on, whose test split CI rebuilds offline."""
  from experiments import package
  if PACKAGES[name][1] == "samples":
    return None
  if "photo_patches" not in name:
    return package.fidelity_check(name, args.data_dir)
  patches = {flag[2:].split("=")[0]: int(flag.split("=")[1]) for flag in PHOTO_PATCHES}
  return package.fidelity_check(name, data_dir_for(name, args), photo_patches={
      key: patches[key] for key in ("size", "num_test", "seed")})


def evaluation(name, run):
  """The record the card shows: zoo.evaluate's report (where the dataset can be scored offline), with a
  batch's PSNR/SSIM/bpp for the restorers."""
  scoring = PACKAGES[name][1]
  if scored_offline(PACKAGES[name][0]):
    with open(os.path.join(run, "eval.json")) as f:
      record = json.load(f)
  else:
    record = {"metrics": {}, "protocol": {"fid": "not measured: the photo patches have no domain "
                                                 "classifier, and FID Inception weights are not available "
                                                 "offline"}}
  if scoring != "samples":
    folder = "restored" if scoring == "restore" else "compressed"
    with open(os.path.join(run, folder, "stats.json")) as f:
      stats = json.load(f)
    record["metrics"].update({key: stats[key] for key in ("psnr", "ssim", "bpp") if key in stats})
    record["batch"] = stats
  return record


def truncation_reports(name, run):
  if name != "dcgan/mnist":
    return None
  reports = []
  for t in TRUNCATIONS:
    with open(os.path.join(run, f"truncation_{t}.json")) as f:
      reports.append({**json.load(f), "truncation": t})
  return reports


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--data_dir", default=os.path.join(REPO, "..", "shared", "tensorflow_datasets"))
  parser.add_argument("--runs_dir", default=os.path.join(REPO, "runs"))
  parser.add_argument("--root", default=None, help="Where packages go (default: zoo/pretrained/).")
  parser.add_argument("--only", default="", help="Comma-separated package names (default: all).")
  parser.add_argument("--dry_run", action="store_true")
  parser.add_argument("--refresh_cards", action="store_true", help="Only rewrite the cards of packages "
                      "already made, from their runs and the prose here (experiments/package.py).")
  args = parser.parse_args(argv)
  names = [n for n in args.only.split(",") if n] or list(PACKAGES)
  unknown = sorted(set(names) - set(PACKAGES))
  if unknown:
    sys.exit(f"error: unknown packages {unknown}; valid: {', '.join(PACKAGES)}.")
  if args.refresh_cards:
    from experiments import package
    from zoo import pretrained
    for name in names:
      folder = os.path.join(args.root or pretrained.SHIPPED, *name.split("/"))
      notes = {"article": ARTICLES[name.split("/")[0]], **NOTES[name]}
      check = fidelity_check(name, args)
      print(f"refreshed {package.refresh_card(folder, steps(name, args)[0], notes, check)}")
    return
  if any("photo_patches" in name for name in names):
    folder = os.path.join(args.runs_dir, "photo_patches")
    patches = [sys.executable, "-m", "zoo.photo_patches", f"--out={folder}", *PHOTO_PATCHES]
    _run(patches, args.dry_run, skip=os.path.isdir(folder))
  for name in names:
    run, command, todo = steps(name, args)
    for _, argv_ in todo:
      _run(argv_, args.dry_run)
    if args.dry_run:
      print(f"# then: python -m experiments.package {run} --name={name}")
      continue
    from experiments import package
    notes = {"article": ARTICLES[name.split("/")[0]], **NOTES[name]}
    folder = package.make_package(run, name, args.root, command, evaluation(name, run), notes,
                                  truncation_reports(name, run))
    if PACKAGES[name][1] == "samples":  # CI's quality test scores the package as this report did
      check = os.path.join(run, "quality_check.json")
      env = {**os.environ, **({"ZOO_PRETRAINED_DIR": args.root} if args.root else {})}
      subprocess.run([sys.executable, "-m", "zoo.evaluate", f"--pretrained={name}",
                      f"--num_samples={QUALITY_CHECK_SAMPLES}", "--bootstrap=0",
                      f"--data_dir={args.data_dir}", f"--output={check}"], cwd=REPO, check=True, env=env)
      with open(check) as f:
        folder = package.make_package(run, name, args.root, command, evaluation(name, run), notes,
                                      truncation_reports(name, run), check=json.load(f))
    check = fidelity_check(name, args)
    if check:  # restorers and the codec: CI's quality test measures the package as this did
      folder = package.refresh_card(folder, run, check=check)
    print(f"packaged {name} in {folder}", flush=True)


def _run(argv, dry_run, skip=False):
  print(("# exists, skipped: " if skip else "") + shlex.join(argv), flush=True)
  if not dry_run and not skip:
    subprocess.run(argv, cwd=REPO, check=True)


if __name__ == "__main__":
  main()
