"""The one place where models are registered by name and looked up by `--model`."""
import dataclasses
from typing import Any, Callable, Dict, Mapping

from zoo import losses


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """Everything the shared trainer needs to know about one GAN family.

  `build_generator(config, image_shape)` returns a Keras model mapping z [B, latent_dim] to images
  [B, H, W, C] in the model's `pixel_range`; `build_discriminator(config, image_shape)` maps images to
  logits [B, 1]. Losses take logits and return per-example losses [B]; the trainer reduces them over
  the global batch.
  """
  name: str
  build_generator: Callable[[Any, tuple], Any]
  build_discriminator: Callable[[Any, tuple], Any]
  defaults: Mapping[str, Any]
  # Model-specific settings with their defaults; set with --model_option=name=value, read as
  # config.options[name].
  options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  generator_loss: Callable = losses.non_saturating_generator_loss
  discriminator_loss: Callable = losses.non_saturating_discriminator_loss
  description: str = ""


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
