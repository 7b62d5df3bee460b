"""The resolved configuration of one training run: trainer defaults < model defaults < user flags.

The resolved values are written to `<logdir>/config.json`; `zoo.sample`, `zoo.export` and a resumed
run read them back from there, so a run folder is self-describing.
"""
import dataclasses
import json
import os
from typing import Any, Dict, Mapping, Optional

from zoo import models

CONFIG_FILE = "config.json"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  model: str
  logdir: str
  dataset: str = "mnist"
  data_dir: Optional[str] = None
  train_split: str = "train"        # TFDS split syntax, e.g. "train[:512]" for a quick run
  steps: int = 10000
  batch_size: int = 64              # global batch, split evenly across replicas
  seed: int = 0
  strategy: str = "default"
  tpu: str = ""
  steps_per_call: int = 1
  jit_compile: bool = False
  precision: str = "float32"        # float32 | mixed_bfloat16 | mixed_float16
  latent_dim: int = 100
  g_learning_rate: float = 2e-4
  d_learning_rate: float = 2e-4
  beta_1: float = 0.5
  beta_2: float = 0.999
  d_steps: int = 1                  # discriminator updates per generator update
  # Score real and fake in one D call. It saves a call but G's gradient then also flows back through
  # the real half: a loss for convolutional D on CPU (docs/performance.md). Not for D with BatchNorm.
  joint_discriminator_pass: bool = True
  pixel_range: str = "unit"         # the model's (ModelSpec.pixel_range), recorded for the run folder
  image_size: int = 0               # 0: the dataset's own size
  shuffle_buffer: int = 10000
  log_every: int = 100
  image_every: int = 1000
  checkpoint_every: int = 1000
  keep_checkpoints: int = 3
  num_grid_images: int = 64
  eval_every: int = 0               # 0: no FID during training
  eval_samples: int = 5000
  options: Dict[str, Any] = dataclasses.field(default_factory=dict)  # the model's own settings

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}
PIXEL_RANGES = ("unit", "symmetric")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")

# A resumed run must not silently change what the checkpoint means.
_FIXED_ON_RESUME = ("model", "options", "dataset", "train_split", "latent_dim", "image_size",
                    "pixel_range", "batch_size", "seed")


def resolve(model: str, logdir: str, overrides: Mapping[str, Any], spec=None) -> TrainConfig:
  """Merges trainer defaults, the model's defaults and the user's overrides (None = not given).

  `spec` stands in for the registry entry of `model`, for models built outside the registry.
  """
  spec = spec or models.get_model(model)
  given = {k: v for k, v in overrides.items() if v is not None}
  if "pixel_range" in given or "pixel_range" in spec.defaults:
    raise ValueError(f"pixel_range is a property of the model ({spec.name}: {spec.pixel_range}), not a "
                     "setting: its output activation fixes it.")
  unknown = sorted(set(given) - FIELDS)
  unknown_defaults = sorted(set(spec.defaults) - FIELDS)
  if unknown or unknown_defaults:
    raise ValueError(f"Unknown config fields {unknown or unknown_defaults}; valid fields: {sorted(FIELDS)}.")
  options = resolve_options(spec, given.pop("options", {}))
  config = TrainConfig(**{**dict(spec.defaults), **given, "model": model, "logdir": logdir,
                          "options": options, "pixel_range": spec.pixel_range})
  validate(config)
  return config


def resolve_options(spec, given: Mapping[str, Any]) -> Dict[str, Any]:
  """The model's option defaults updated with `given`, whose values may be strings from the CLI."""
  unknown = sorted(set(given) - set(spec.options))
  if unknown:
    valid = ", ".join(sorted(spec.options)) or "none"
    raise ValueError(f"Unknown option(s) {unknown} for model {spec.name}; its options: {valid}.")
  return {name: _coerce(name, given.get(name, default), default) for name, default in spec.options.items()}


def _coerce(name, value, default):
  if not isinstance(value, str) or isinstance(default, str):
    return value
  try:
    if isinstance(default, bool):
      return {"true": True, "false": False}[value.lower()]
    return type(default)(value)
  except (KeyError, ValueError):
    raise ValueError(f"Model option {name}={value!r} is not a valid {type(default).__name__}.") from None


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
  def require(ok, message):
    if not ok:
      raise ValueError(message)
  require(config.steps > 0, f"--steps must be positive, got {config.steps}.")
  require(config.batch_size > 0, f"--batch_size must be positive, got {config.batch_size}.")
  require(config.steps_per_call > 0, f"--steps_per_call must be positive, got {config.steps_per_call}.")
  require(config.d_steps > 0, f"--d_steps must be positive, got {config.d_steps}.")
  require(config.latent_dim > 0, f"--latent_dim must be positive, got {config.latent_dim}.")
  require(config.pixel_range in PIXEL_RANGES, f"pixel_range must be one of {PIXEL_RANGES}.")
  require(config.precision in PRECISIONS,
          f"--precision={config.precision!r} is not one of {', '.join(PRECISIONS)}.")
  for name in ("log_every", "image_every", "checkpoint_every", "keep_checkpoints"):
    require(getattr(config, name) > 0, f"--{name} must be positive, got {getattr(config, name)}.")


def save(config: TrainConfig) -> None:
  os.makedirs(config.logdir, exist_ok=True)
  tmp = os.path.join(config.logdir, CONFIG_FILE + ".tmp")
  with open(tmp, "w") as f:
    f.write(config.to_json())
  os.replace(tmp, os.path.join(config.logdir, CONFIG_FILE))


def load(logdir: str) -> TrainConfig:
  path = os.path.join(logdir, CONFIG_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: --logdir must be a run folder written by zoo.train.")
  with open(path) as f:
    values = json.load(f)
  return TrainConfig(**{k: v for k, v in values.items() if k in FIELDS})


def check_resumable(saved: TrainConfig, new: TrainConfig) -> None:
  changed = [f"{k}: {getattr(saved, k)!r} -> {getattr(new, k)!r}"
             for k in _FIXED_ON_RESUME if getattr(saved, k) != getattr(new, k)]
  if changed:
    raise ValueError(f"{new.logdir} holds a run with different settings ({'; '.join(changed)}). "
                     "Use a new --logdir, or the original settings to resume.")
