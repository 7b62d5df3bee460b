"""Model registry: importing this package registers every model module below."""
from zoo.models.registry import ModelSpec, get_model, list_models, register

# Each import registers one model; add new models here.
from zoo.models import dense_gan  # noqa: E402,F401
from zoo.models import dcgan  # noqa: E402,F401
from zoo.models import image_gan  # noqa: E402,F401
from zoo.models import autoencoder_gan  # noqa: E402,F401
from zoo.models import compression_gan  # noqa: E402,F401

__all__ = ["ModelSpec", "get_model", "list_models", "register"]
