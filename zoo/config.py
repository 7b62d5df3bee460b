"""The resolved configuration of one training run.

Layers, lowest first: the trainer's defaults (the fields below), the model's `tuning` (per-host speed
settings), the model's `defaults` (its experiment), what the chosen dataset needs (its
`DatasetInfo.defaults`, e.g. the emoji's 64x64 side), the recipe named by `--recipe` if it is not the
default one, then the user's flags. The result is written to `<logdir>/config.json`; `zoo.sample`,
`zoo.export`, `zoo.evaluate` and a resumed run read it back from there, so a run folder describes itself.

Every field is also a flag of `zoo.train` (zoo/config_flags.py derives them from this dataclass), so a new
setting is one line here.
"""
import dataclasses
import json
import os
from typing import Any, Dict, Mapping, Optional

from zoo import hardware
from zoo import models
from zoo.data import datasets
from zoo.recipe import augment
from zoo.recipe import losses

CONFIG_FILE = "config.json"
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
STRATEGIES = ("default", "one_device", "mirrored", "multi_worker", "tpu")
DEFAULT_RECIPE = "default"
AUTO = -1  # --eval_every's default: resolved by auto_eval_every
AUTO_EVALUATIONS = 10
AUTO_EVAL_MIN_STEPS = 1000
MAX_SEED = 2 ** 32 - 1  # keras.utils.set_random_seed also seeds NumPy's global generator, which takes no more
ADA = "ada"  # --augment=ada: adaptive discriminator augmentation instead of a DiffAugment policy


def _field(default, help_text, **metadata):
  return dataclasses.field(default=default, metadata={"help": help_text, **metadata})


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  model: str
  logdir: str
  recipe: str = _field(DEFAULT_RECIPE, "A named set of model defaults, e.g. 'article' for the article's "
                       "exact networks and settings (zoo.train --list_models shows each model's).")
  dataset: str = _field("mnist", "TFDS dataset (mnist, fashion_mnist, celeb_a, ...) or folder (with "
                        "--data_dir=PATH: a folder of your images, docs/data.md).")
  data_dir: Optional[str] = _field(None, "TFDS data_dir holding prepared datasets (else $TFDS_DATA_DIR, "
                                   "else TFDS's default, downloading when online).")
  train_split: str = _field("train", "Split to train on in TFDS syntax, e.g. 'train' or 'train[:10%]'.")
  image_size: int = _field(0, "Resize images to this square size (0: the dataset's own size).")
  image_resize: str = _field("area", "How images reach --image_size: area (antialiased resize) or pad "
                             "(centred, zero-padded; e.g. 28x28 digits to 32x32).", choices=("area", "pad"))
  steps: int = _field(10000, "Total training steps (generator updates).")
  batch_size: int = _field(64, "Global batch size, split evenly across replicas.")
  seed: int = _field(0, "Seed of the initial weights, the noise and the data order.")
  latent_dim: int = _field(100, "Size of z.")
  g_learning_rate: float = _field(2e-4, "Generator Adam learning rate.")
  d_learning_rate: float = _field(2e-4, "Discriminator Adam learning rate.")
  beta_1: float = _field(0.5, "Adam beta_1.")
  beta_2: float = _field(0.999, "Adam beta_2.")
  d_steps: int = _field(1, "Discriminator updates per generator update.")
  # ---- the recipe: loss family, D regularisers, G's moving average, augmentation (docs/recipe.md) ----
  loss: str = _field("non_saturating", "GAN loss family (zoo/recipe/losses.py).",
                     choices=tuple(losses.FAMILIES))
  r1_gamma: float = _field(0.0, "R1 penalty gamma/2 ||grad D(x)||^2 on real images (0: off).")
  r1_every: int = _field(1, "Apply R1 every N steps, scaled by N (StyleGAN2's lazy regularisation).")
  r2_gamma: float = _field(0.0, "R2 penalty gamma/2 ||grad D(G(z))||^2 on fakes (0: off).")
  gp_weight: float = _field(0.0, "WGAN-GP weight of (||grad D(x_hat)|| - 1)^2 (0: off).")
  spectral_norm: bool = _field(False, "Spectral normalisation of every Dense/Conv2D layer of D.")
  ema_decay: float = _field(0.0, "Decay of the moving average of G's weights (0: no EMA generator).")
  use_ema: bool = _field(True, "Grids and --eval_every show the EMA generator when there is one.")
  augment: str = _field("", "Augmentation of every image D sees: 'ada' (adaptive, StyleGAN2-ADA, "
                         "--ada_*), or a DiffAugment policy, e.g. translation,cutout,color ('': off).")
  ada_target: float = _field(0.6, "--augment=ada: the r_t = E[sign(D(real))] above which p rises.")
  ada_interval: int = _field(4, "--augment=ada: steps between updates of p.")
  ada_kimg: float = _field(500.0, "--augment=ada: thousands of real images over which p can go from 0 to 1.")
  # "bgc", ADA's default set, written out: importing zoo/recipe/ada.py here would load TensorFlow (its
  # controller is a tf.Module), which zoo.train's --help and flag checks do without (zoo/cli.py).
  ada_set: str = _field("bgc", "--augment=ada: the augmentations, as groups (b: flips, 90-degree "
                        "rotations, integer translation; g: geometric; c: colour) or names "
                        "(zoo/recipe/ada.py).")
  shuffle_buffer: int = _field(10000, "Examples in the shuffle buffer of the input pipeline.")
  # ---- speed: the defaults suit any host; models tune them in ModelSpec.tuning ----
  strategy: str = _field("default", "tf.distribute strategy.", choices=STRATEGIES)
  tpu: str = _field("", "TPU name or address for --strategy=tpu.")
  steps_per_call: int = _field(1, "Training steps per compiled call.")
  jit_compile: bool = _field(False, "Compile the forward and backward pass with XLA.")
  precision: str = _field("auto", "Compute dtype policy; variables and losses stay float32. auto: "
                          "mixed_bfloat16 where the hardware multiplies in bfloat16 (TPU, GPU >= Ampere, CPU "
                          "with AMX or AVX512-BF16), else float32 (zoo/hardware.py).", choices=PRECISIONS)
  fast_kernels: str = _field("auto", "The zoo's fast layer kernels and fused Adam (zoo/accel/): auto where "
                             "measured to pay on this host, on everywhere, off for Keras' own.",
                             choices=("auto", "on", "off"))
  # Score real and fake in one D call. It saves a call but G's gradient then also flows back through
  # the real half: a loss for convolutional D on CPU (docs/performance.md). Not for D with BatchNorm.
  joint_discriminator_pass: bool = _field(True, "Score real and fake in one D call (faster for cheap D; "
                                          "conv D is faster with false, see docs/performance.md).")
  # ---- what the run shows and keeps ----
  log_every: int = _field(100, "Steps between TensorBoard scalars and progress lines.")
  image_every: int = _field(1000, "Steps between sample grids of the fixed noise batch.")
  checkpoint_every: int = _field(1000, "Steps between checkpoints.")
  keep_checkpoints: int = _field(3, "How many recent checkpoints to keep.")
  num_grid_images: int = _field(64, "Images in each sample grid.")
  eval_every: int = _field(AUTO, "Steps between FID/recall evaluations during training (0: never; -1: "
                           "about ten over a run of 1,000 steps or more, where the dataset has a domain "
                           "classifier and the model samples from noise).")
  eval_samples: int = _field(5000, "Samples per evaluation during training.")
  # ---- not flags ----
  pixel_range: str = "unit"         # the model's (ModelSpec.pixel_range), recorded for the run folder
  options: Dict[str, Any] = dataclasses.field(default_factory=dict)  # the model's own settings

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}
# Fields that are not set from the command line as they are: the model and run folder are resolved
# first, the pixel range comes from the model, and options have flags of their own.
NOT_FLAGS = {"model", "logdir", "pixel_range", "options"}
# Speed settings: a resumed run may change them, and ModelSpec.tuning may set only them.
TUNING_FIELDS = {"strategy", "tpu", "steps_per_call", "jit_compile", "precision", "fast_kernels",
                 "joint_discriminator_pass"}
# A resumed run must not silently change what the checkpoint means (or holds: spectral norm's vectors
# and the EMA generator are variables of their own).
_FIXED_ON_RESUME = ("model", "recipe", "options", "dataset", "data_dir", "train_split", "latent_dim",
                    "image_size", "image_resize", "batch_size", "seed", "spectral_norm", "ema_decay",
                    # ADA's controller is a variable of its own, and p means what these settings made it.
                    "augment", "ada_target", "ada_interval", "ada_kimg", "ada_set")


def flag_fields():
  """The dataclass fields that are also flags, in declaration order."""
  return [f for f in dataclasses.fields(TrainConfig) if f.name not in NOT_FLAGS]


def resolve(model: str, logdir: str, overrides: Mapping[str, Any], spec=None,
            probe_hardware: bool = True) -> TrainConfig:
  """Merges the layers described in the module docstring (None in `overrides` = not given).

  `spec` stands in for the registry entry of `model`, for models built outside the registry.
  `probe_hardware=False` leaves --precision=auto as "auto": finding the GPUs imports TensorFlow, which
  zoo.train's --help does without.
  """
  spec = spec or models.get_model(model)
  given = {k: v for k, v in overrides.items() if v is not None}
  if "pixel_range" in given:
    raise ValueError(f"pixel_range is a property of the model ({spec.name}: {spec.pixel_range}), not a "
                     "setting: its output activation fixes it.")
  _check_known(given, "flags", FIELDS)
  _check_known(spec.defaults, f"{spec.name}'s defaults (speed settings go in its tuning)",
               FIELDS - NOT_FLAGS - TUNING_FIELDS)
  _check_known(spec.tuning, f"{spec.name}'s tuning", TUNING_FIELDS)
  recipe_name = given.get("recipe", spec.defaults.get("recipe", DEFAULT_RECIPE))
  recipe = dict(_recipe(spec, recipe_name))
  recipe_options = recipe.pop("options", {})
  options = resolve_options(spec, {**recipe_options, **given.pop("options", {})})
  dataset = given.get("dataset", recipe.get("dataset", spec.defaults.get("dataset", "mnist")))
  dataset_defaults = dict(datasets.DATASETS[dataset].defaults) if dataset in datasets.DATASETS else {}
  values = {**dict(spec.tuning), **dict(spec.defaults), **dataset_defaults, **recipe, **given}
  if probe_hardware and values.get("precision", "auto") == "auto":
    values["precision"] = hardware.auto_precision(values.get("strategy", "default"))
  if values.get("eval_every", AUTO) == AUTO:
    values["eval_every"] = auto_eval_every(spec, dataset, values.get("steps", TrainConfig.steps))
  if values.get("data_dir"):
    values["data_dir"] = os.path.abspath(os.path.expanduser(values["data_dir"]))
  config = TrainConfig(**{**values, "model": model, "logdir": logdir, "options": options,
                          "pixel_range": spec.pixel_range})
  validate(config)
  return config


def auto_eval_every(spec, dataset, steps) -> int:
  """--eval_every=-1: ten evaluations where they are cheap (a shipped domain classifier, ~3 s for 5,000
  samples on a CPU: ~2% of a default dcgan run); none for a smoke run, where they would dominate."""
  info = datasets.DATASETS.get(dataset)
  cheap = info is not None and info.classifier and spec.samples_from_noise
  return steps // AUTO_EVALUATIONS if cheap and steps >= AUTO_EVAL_MIN_STEPS else 0


def _check_known(values, where, valid):
  unknown = sorted(set(values) - set(valid))
  if unknown:
    raise ValueError(f"Unknown config field(s) {unknown} in {where}; valid: {', '.join(sorted(valid))}.")


def _recipe(spec, name):
  if name == DEFAULT_RECIPE:
    return {}
  if name not in spec.recipes:
    valid = ", ".join([DEFAULT_RECIPE, *sorted(spec.recipes)])
    raise ValueError(f"--recipe={name!r} is not a recipe of {spec.name}; its recipes: {valid}.")
  return spec.recipes[name]


def resolve_options(spec, given: Mapping[str, Any]) -> Dict[str, Any]:
  """The model's option defaults updated with `given`, whose values may be strings from the CLI."""
  unknown = sorted(set(given) - set(spec.options))
  if unknown:
    valid = ", ".join(sorted(spec.options)) or "none"
    raise ValueError(f"Unknown option(s) {unknown} for model {spec.name}; its options: {valid}.")
  return {name: coerce_option(name, option, given.get(name, option.default))
          for name, option in spec.options.items()}


def coerce_option(name, option, value):
  """`value` (a string from the command line, a JSON list, or a Python value) as the option's type."""
  default = option.default
  try:
    if isinstance(default, tuple):
      items = value.split(",") if isinstance(value, str) else list(value)
      element = type(default[0]) if default else str
      value = tuple(_scalar(element, item) for item in items)
    else:
      value = _scalar(type(default), value)
  except (KeyError, ValueError, TypeError):
    kind = f"comma-separated list of {type(default[0]).__name__}" if isinstance(default, tuple) else \
        type(default).__name__
    raise ValueError(f"Model option {name}={value!r} is not a valid {kind}.") from None
  if option.choices and value not in option.choices:
    raise ValueError(f"Model option {name}={value!r} is not one of {', '.join(option.choices)}.")
  return value


def _scalar(kind, value):
  if isinstance(value, str):
    value = value.strip()
    if kind is bool:
      return {"true": True, "false": False, "1": True, "0": False}[value.lower()]
    return kind(value)
  if kind is float and isinstance(value, int) and not isinstance(value, bool):
    return float(value)
  if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
    raise TypeError(value)
  return value


def parse_option_flags(items) -> Dict[str, str]:
  """["name=value", ...] from --model_option into a dict."""
  options = {}
  for item in items or []:
    name, sep, value = item.partition("=")
    if not sep or not name:
      raise ValueError(f"--model_option={item!r} must look like name=value.")
    options[name.strip()] = value.strip()
  return options


def validate(config: TrainConfig) -> None:
  """Every field's own constraint, as one ValueError naming the flag; cross-field checks that need the
  dataset or the model's networks happen in zoo.training.fit before anything is written."""
  def require(ok, message):
    if not ok:
      raise ValueError(message)
  for name in ("steps", "batch_size", "steps_per_call", "d_steps", "latent_dim", "log_every",
               "image_every", "checkpoint_every", "keep_checkpoints", "num_grid_images", "shuffle_buffer"):
    require(getattr(config, name) > 0, f"--{name} must be positive, got {getattr(config, name)}.")
  for name in ("g_learning_rate", "d_learning_rate"):  # a negative rate climbs the loss: D's loss explodes
    require(0 < getattr(config, name) < float("inf"),
            f"--{name} must be a positive number, e.g. 2e-4, got {getattr(config, name)}.")
  for name in ("beta_1", "beta_2"):
    require(0 <= getattr(config, name) < 1, f"--{name} must be in [0, 1), got {getattr(config, name)}.")
  for name in ("image_size", "seed", "r1_gamma", "r2_gamma", "gp_weight"):
    require(getattr(config, name) >= 0, f"--{name} must be 0 or more, got {getattr(config, name)}.")
  require(config.seed <= MAX_SEED, f"--seed must be from 0 to {MAX_SEED}, got {config.seed}.")
  require(config.eval_every >= 0, f"--eval_every must be -1 (about ten evaluations), 0 (none) or a positive "
          f"number of steps, got {config.eval_every}.")
  require(config.eval_samples >= 2 or not config.eval_every,
          f"--eval_samples must be at least 2 (better thousands), got {config.eval_samples}.")
  require(0 <= config.ema_decay < 1, f"--ema_decay must be in [0, 1) (0: off), got {config.ema_decay}.")
  require(config.r1_every > 0, f"--r1_every must be positive, got {config.r1_every}.")
  penalties = config.r1_gamma or config.r2_gamma or config.gp_weight
  require(not (penalties and config.precision == "mixed_float16"),
          "R1/R2/gradient penalties need --precision=float32 or mixed_bfloat16: under mixed_float16 the "
          "input gradient they take is not loss-scaled.")
  _validate_augment(config)
  losses.get(config.loss)
  require(config.precision in PRECISIONS,
          f"--precision={config.precision!r} is not one of {', '.join(PRECISIONS)}.")
  require(config.strategy in STRATEGIES,
          f"--strategy={config.strategy!r} is not one of {', '.join(STRATEGIES)}.")
  tpu_environment = ("TPU_NAME", "TPU_CONFIG", "KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS")  # TPUClusterResolver's
  require(config.strategy != "tpu" or config.tpu or any(os.environ.get(name) for name in tpu_environment),
          "--strategy=tpu needs --tpu: the Cloud TPU's name, its grpc://host:port address, or --tpu=local "
          "on a TPU VM (or TPU_NAME set in the environment); see docs/distributed.md.")


def _validate_augment(config: TrainConfig) -> None:
  if config.augment != ADA:
    try:
      augment.parse_policy(config.augment)
    except ValueError as e:
      raise ValueError(f"--augment: {e} Or --augment={ADA} for adaptive augmentation.") from None
    return
  if not 0 <= config.ada_target <= 1:
    raise ValueError(f"--ada_target must be in [0, 1] (the paper's 0.6), got {config.ada_target}.")
  if config.ada_interval < 1:
    raise ValueError(f"--ada_interval must be a positive number of steps, got {config.ada_interval}.")
  if not 0 < config.ada_kimg < float("inf"):
    raise ValueError(f"--ada_kimg must be positive (the paper's 500), got {config.ada_kimg}.")
  from zoo.recipe import ada
  try:
    transforms = ada.parse_set(config.ada_set)
  except ValueError as e:
    raise ValueError(f"--ada_set: {e}") from None
  if not transforms:
    raise ValueError("--ada_set is empty: name the augmentations, e.g. --ada_set=bgc (the paper's).")


def save(config: TrainConfig) -> None:
  os.makedirs(config.logdir, exist_ok=True)
  tmp = os.path.join(config.logdir, CONFIG_FILE + ".tmp")
  with open(tmp, "w") as f:
    f.write(config.to_json())
  os.replace(tmp, os.path.join(config.logdir, CONFIG_FILE))


def load(logdir: str) -> TrainConfig:
  """The config a run folder was written with; options the model gained since then take their defaults."""
  path = os.path.join(logdir, CONFIG_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: --logdir must be a run folder written by zoo.train.")
  try:
    with open(path) as f:
      values = json.load(f)
  except (OSError, ValueError) as e:
    raise ValueError(f"{path} is not a readable config ({e}); was the run folder edited by hand?") from None
  if not isinstance(values, dict):
    raise ValueError(f"{path} holds a JSON {type(values).__name__}, not a run's config (an object); was the "
                     "run folder edited by hand?")
  values = {k: v for k, v in values.items() if k in FIELDS}
  _check_loaded(values, path)
  if values["model"] in models.list_models():  # a model of one's own, trained with fit(spec=...), is not
    values["options"] = resolve_options(models.get_model(values["model"]), values.get("options", {}))
  return TrainConfig(**values)


def _check_loaded(values, path):
  """A ValueError naming `path` and the field when a config read back lacks a field without default or
  holds a value of the wrong type (a hand edit), which would fail later far from its cause."""
  for field in dataclasses.fields(TrainConfig):
    if field.name not in values:
      if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
        raise ValueError(f"{path} has no {field.name!r}; was the run folder edited by hand?")
      continue
    value, default = values[field.name], field.default
    expected = (dict if field.name == "options" else None if default is dataclasses.MISSING or default is None
                else type(default))
    if field.name in ("model", "logdir"):
      expected = str
    if expected is float:
      ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif expected is int:
      ok = isinstance(value, int) and not isinstance(value, bool)
    else:
      ok = expected is None or isinstance(value, expected)
    if not ok:
      raise ValueError(f"{path} has {field.name}={value!r}, which is not of type {expected.__name__}; was "
                       "the run folder edited by hand?")


def check_resumable(saved: TrainConfig, new: TrainConfig) -> None:
  changed = [f"{k}: {getattr(saved, k)!r} -> {getattr(new, k)!r}"
             for k in _FIXED_ON_RESUME if getattr(saved, k) != getattr(new, k)]
  if changed:
    raise ValueError(f"{new.logdir} holds a run with different settings ({'; '.join(changed)}). "
                     "Use a new --logdir, or the original settings to resume.")
