"""Command-line flags of `zoo.train`, derived from TrainConfig and from the chosen model's options.

Every TrainConfig field is a flag of the same name and type (default None = "not given", so the
model's default applies). A model's options become flags only for that model: `--model` is read first
(flag files included), then its options are defined with their own types, so two models may use the
same option name with different types, and an option of another model is an error naming its owner.

ml_collections' config_flags (flax, big_vision) was weighed and not used: its `--config.field=value`
spelling would change every documented command, a config file per experiment adds a layer the
registry's per-model defaults already give, and this module keeps what it offers here (typed flags,
typos as errors, lists) in one page on the dataclass the run folder already stores.
"""
import typing

from absl import flags

from zoo import config as config_lib
from zoo import models

FLAGS = flags.FLAGS
DEFAULT_MODEL = "dense_gan"
_HELP_FLAGS = ("-h", "-help", "--help", "-?", "--helpshort", "--helpfull")


def define_config_flags(flag_values=FLAGS):
  """One flag per TrainConfig field (but model/logdir/options/pixel_range, handled by the CLI)."""
  for field in config_lib.flag_fields():
    _define(field.name, _base_type(field.type), field.metadata["help"], field.metadata.get("choices"),
            flag_values)


def _base_type(annotation):
  """int for `int`, str for `Optional[str]`, ..."""
  arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
  return arguments[0] if arguments else annotation


def _define(name, kind, help_text, choices, flag_values, default=None):
  if kind is bool:
    flags.DEFINE_boolean(name, default, help_text, flag_values=flag_values)
  elif kind is int:
    flags.DEFINE_integer(name, default, help_text, flag_values=flag_values)
  elif kind is float:
    flags.DEFINE_float(name, default, help_text, flag_values=flag_values)
  elif kind is tuple:
    flags.DEFINE_list(name, default, help_text, flag_values=flag_values)
  elif choices:
    flags.DEFINE_enum(name, default, list(choices), help_text, flag_values=flag_values)
  else:
    flags.DEFINE_string(name, default, help_text, flag_values=flag_values)


def define_option_flags(model, flag_values=FLAGS):
  """The options of `model` as flags of their own (e.g. --task=inpaint); returns their names."""
  spec = models.get_model(model)
  for name, option in spec.options.items():
    if name in flag_values:
      raise ValueError(f"{model}'s option {name!r} has the name of a zoo.train flag; rename the option.")
    _define(name, type(option.default), f"[{model}] {option.help}", option.choices, flag_values)
  return tuple(spec.options)


def peek_model(argv) -> str:
  """The value of --model in `argv` (flag files already expanded), else the default model."""
  model = DEFAULT_MODEL
  for i, arg in enumerate(argv):
    if arg.startswith("--model="):
      model = arg.split("=", 1)[1]
    elif arg == "--model" and i + 1 < len(argv):
      model = argv[i + 1]
  return model


def wants_help(argv) -> bool:
  return any(arg in _HELP_FLAGS for arg in argv)


def option_owners(name):
  """The registered models that have an option called `name`."""
  return [model for model in models.list_models() if name in models.get_model(model).options]


def options_given(option_names, flag_values=FLAGS):
  """{option: value} of the option flags the user set, as the model's types."""
  return {name: tuple(flag_values[name].value) if isinstance(flag_values[name].value, list)
          else flag_values[name].value
          for name in option_names if flag_values[name].value is not None}


def config_overrides(flag_values=FLAGS):
  """{field: value} of the TrainConfig flags (None where not given)."""
  return {field.name: flag_values[field.name].value for field in config_lib.flag_fields()}


def describe_model(model) -> str:
  """A model's description, resolved settings and options, for --list_models and --help."""
  spec = models.get_model(model)
  config = config_lib.resolve(model, "", {}, probe_hardware=False)
  lines = [f"{model}: {spec.description}"]
  recipes = ", ".join([config_lib.DEFAULT_RECIPE, *sorted(spec.recipes)])
  lines.append(f"  recipes (--recipe): {recipes}")
  settings = {**spec.tuning, **spec.defaults}
  lines.append("  defaults: " + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())))
  if spec.options:
    lines.append("  options (--NAME=VALUE or --model_option=NAME=VALUE):")
    for name, option in spec.options.items():
      value = config.options[name]
      shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
      choices = f" [{'|'.join(option.choices)}]" if option.choices else ""
      lines.append(f"    --{name}={shown}{choices}  {option.help}")
  return "\n".join(lines)


def usage(model, doc) -> str:
  """--help of zoo.train: the chosen model's options first, then every run setting with its default."""
  lines = [doc.strip(), "", describe_model(model), "", f"Run settings (defaults for --model={model}):"]
  config = config_lib.resolve(model, "", {}, probe_hardware=False)  # --precision=auto stays "auto"
  for field in config_lib.flag_fields():
    value = getattr(config, field.name)
    lines.append(f"  --{field.name}={'' if value is None else value}  {field.metadata['help']}")
  lines += ["", "Other flags:"]
  for name in ("model", "logdir", "model_option", "download", "deterministic", "list_models",
               "print_config", "flagfile"):
    if name in FLAGS:
      lines.append(f"  --{name}  {FLAGS[name].help}")
  return "\n".join(lines)
