"""The one place where models are registered by name and looked up by `--model`.

An unconditional GAN only gives its two network builders and defaults. Models whose generator does
not map noise to images (a codec, an image-to-image model) or that train something first (a pretrained
autoencoder) fill in the optional hooks below; the shared trainer calls them and has no model-specific
branches.

Importing the registry registers every model without loading Keras: the model files take `keras` and
`layers` from here, where each is imported on its first use, i.e. when a network is first built. So
zoo.train can list the models and their options (its flags, its --help) before TensorFlow has loaded.
"""
import dataclasses
import importlib
from typing import Any, Callable, Dict, Mapping, Optional, Tuple


class _ImportedOnFirstUse:
  """Stands for the module `name` and imports it when one of its attributes is first read."""

  def __init__(self, name):
    self._name = name

  def __getattr__(self, attribute):
    return getattr(importlib.import_module(self._name), attribute)

  def __repr__(self):
    return f"<{self._name}, imported on first use>"


keras = _ImportedOnFirstUse("keras")
layers = _ImportedOnFirstUse("keras.layers")


def noise_input(batch, z):
  return z


def images_only(batch, images):
  return images


def noise_and_label(batch, z):
  """G's input in a model that can be class-conditional: z, and the batch's labels when it has them.

  A conditional run's batches carry the class labels under "label" (int32 [B], zoo/data); its G then
  takes {"z": z, "label": labels}. Without labels this is `noise_input`.
  """
  return {"z": z, "label": batch["label"]} if "label" in batch else z


def images_and_label(batch, images):
  """D's input in a model that can be class-conditional: the images, with the batch's labels when it has
  them ({"images": images, "label": labels}; the trainer augments only "images")."""
  return {"images": images, "label": batch["label"]} if "label" in batch else images


@dataclasses.dataclass(frozen=True)
class Option:
  """A model-specific setting: its default (whose type is the option's type) and what it does.

  A tuple default makes a list option (`--jpeg_qualities=1,5,10`); `choices` limits a string option.
  """
  default: Any
  help: str
  choices: Tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Pretraining:
  """A supervised phase that runs before adversarial training, on the same loop and checkpoint.

  `build(config, image_shape)` returns a Keras model of the batch's real images; `loss(real, outputs)`
  returns per-example losses [B]; `initialize_generator(config, pretrained, generator)` runs once, when
  the adversarial phase starts (e.g. copies a decoder's weights into the generator). The phase length and
  learning rate are model options named by `steps_option` and `learning_rate_option`. Its validation
  loss is measured on the first `validation_examples` images of `validation_split`.
  """
  name: str
  build: Callable[[Any, tuple], Any]
  loss: Callable[[Any, Any], Any]
  initialize_generator: Callable[[Any, Any, Any], None]
  steps_option: str = "pretrain_steps"
  learning_rate_option: str = "pretrain_learning_rate"
  validation_split: str = "test"
  validation_examples: int = 2000


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """Everything the shared trainer needs to know about one GAN family.

  `build_generator(config, image_shape)` returns a Keras model mapping `generator_input(batch, z)` to
  images [B, H, W, C] in the model's `pixel_range`, or to a dict holding them under "images" next to
  other outputs (e.g. a codec's estimated bits). `build_discriminator(config, image_shape)` maps
  `discriminator_input(batch, images)` to logits [B, 1] (or per-patch logits [B, h, w, 1]). The loss
  family is a run setting (`--loss`, zoo/recipe/losses.py); a model only picks its default.

  A training batch is a dict whose "real" entry holds the real images. `prepare_batch(config, real,
  seed)` runs in the input pipeline on each global batch and may add entries (e.g. a degraded copy);
  `seed` is a stateless-RNG seed [2] that depends only on (config.seed, batch index), so the batch is
  the same on any number of replicas and after a resume.
  """
  name: str
  build_generator: Callable[[Any, tuple], Any]
  build_discriminator: Callable[[Any, tuple], Any]
  # The experiment: TrainConfig fields (zoo/config.py) this model sets differently from the trainer.
  defaults: Mapping[str, Any]
  # Model-specific settings, read as config.options[name]; each is also a flag of zoo.train.
  options: Mapping[str, Option] = dataclasses.field(default_factory=dict)
  # Speed settings measured fastest on the 2-core CPU of docs/performance.md (steps per call, the
  # joint D pass, XLA). Per host, not per experiment: they may change when a run resumes.
  tuning: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  # Named alternatives to `defaults`, chosen with --recipe (e.g. "article": the article's exact setup).
  recipes: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
  # The float range of G's output and of the real images it is compared with: "unit" [0, 1] for a
  # sigmoid output, "symmetric" [-1, 1] for tanh. A property of the networks, so not a user setting.
  pixel_range: str = "unit"
  description: str = ""
  # (config, image_shape) -> None; raises ValueError naming the option and a valid value. Called before
  # a run writes anything, so a bad option never leaves a half-made run folder.
  check_options: Optional[Callable[[Any, tuple], None]] = None
  # ---- what the registry-generated tests (tests/test_contract.py) run -----------------------------
  # TrainConfig overrides that make a run of a few steps cheap (small split, batch, image size).
  smoke: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  # Named TrainConfig overrides (options under "options") that build different networks or batches,
  # each covered on its own by the contract tests (e.g. image_gan's tasks); none: one default variant.
  variants: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
  # ---- hooks for models beyond z -> image (the defaults describe an unconditional GAN) ----
  prepare_batch: Optional[Callable[[Any, Any, Any], Dict[str, Any]]] = None
  generator_input: Callable[[Dict[str, Any], Any], Any] = noise_input
  discriminator_input: Callable[[Dict[str, Any], Any], Any] = images_only
  # (config, batch, generator_outputs) -> {name: per-example loss [B]}, already weighted; added to the
  # generator's loss and logged as train/<name>. `generator_terms` names them, in logging order.
  extra_generator_losses: Optional[Callable[[Any, Dict[str, Any], Any], Dict[str, Any]]] = None
  generator_terms: Tuple[str, ...] = ()
  # config -> weight of the adversarial term in G's loss (default 1); 0 trains G on its extra losses only.
  adversarial_weight: Optional[Callable[[Any], float]] = None
  # (batch, generated images) -> list of image batches [N, H, W, C] in pixel range, one grid row each
  # (e.g. [degraded, restored, original]); the default shows the generated images alone.
  grid_rows: Optional[Callable[[Dict[str, Any], Any], list]] = None
  pretraining: Optional[Pretraining] = None
  # (config, generator) -> a Keras model of stock layers doing what G does at inference, for
  # zoo.export (default: G itself, already stock Keras layers). Its input is z, or images in the pixel range.
  export_model: Optional[Callable[[Any, Any], Any]] = None
  # The command-line tools that apply to this model besides zoo.train/zoo.export, e.g. ("compress",).
  tools: Tuple[str, ...] = ()
  # ---- class conditioning (zoo/models/conditioning.py, docs/conditional.md) ----
  # config -> K, the number of classes a run's networks are conditioned on (0: unconditional). A run with
  # K > 0 trains on labelled batches (batch["label"], int32 in 0..K-1) that `noise_and_label` and
  # `images_and_label` pass to G and D; it is sampled, exported and evaluated per class.
  classes: Optional[Callable[[Any], int]] = None

  @property
  def samples_from_noise(self) -> bool:
    """True when the generator needs nothing but noise (and, if conditional, labels), so `zoo.sample`
    can draw from it."""
    return self.generator_input in (noise_input, noise_and_label)

  def num_classes(self, config) -> int:
    """K of a run of this model: the classes its networks are conditioned on, 0 if unconditional."""
    return self.classes(config) if self.classes is not None else 0

  def option_defaults(self) -> Dict[str, Any]:
    return {name: option.default for name, option in self.options.items()}


_MODELS: Dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
  if spec.name in _MODELS:
    raise ValueError(f"Model {spec.name!r} is registered twice.")
  _MODELS[spec.name] = spec
  return spec


def get_model(name: str) -> ModelSpec:
  if name not in _MODELS:
    raise ValueError(f"Unknown model {name!r}. Valid names: {', '.join(list_models())}.")
  return _MODELS[name]


def list_models():
  return sorted(_MODELS)
