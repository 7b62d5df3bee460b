"""The architecture README.md's layout section describes: layers of modules that import only downward."""
import ast
import os

from tests.conftest import REPO

# Top to bottom; a module may import modules of its own layer or of any layer below.
LAYERS = [
    ("command-line tools", ["zoo.train", "zoo.sample", "zoo.export", "zoo.evaluate", "zoo.restore",
                            "zoo.compress", "zoo.photo_patches", "zoo.emoji"]),
    ("what the tools share", ["zoo.cli", "zoo.config_flags"]),
    ("the trainer", ["zoo.training"]),
    ("run folders, evaluation, sampling", ["zoo.runs", "zoo.runlock", "zoo.checkpoints", "zoo.metrics",
                                           "zoo.sampling"]),
    ("configuration", ["zoo.config"]),
    ("models", ["zoo.models"]),
    ("building blocks", ["zoo.recipe", "zoo.data", "zoo.accel", "zoo.hardware", "zoo.files", "zoo.signals",
                         "zoo.pretrained", "zoo.explore",
                         "zoo.distribute", "zoo.images", "zoo.pixels", "zoo"]),
]


def _modules():
  found = {}
  for folder, _, files in os.walk(os.path.join(REPO, "zoo")):
    for name in files:
      if name.endswith(".py"):
        path = os.path.join(folder, name)
        module = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
        found[module.removesuffix(".__init__")] = path
  return found


def _layer(module):
  for index, (_, prefixes) in enumerate(LAYERS):
    if any(module == p or module.startswith(p + ".") for p in prefixes if p != "zoo"):
      return index
  assert module == "zoo", f"{module} is in no layer of LAYERS: add it (and to README's layout)"
  return len(LAYERS) - 1


def _imports(path, modules):
  """The zoo modules `path` imports, at module level or inside functions."""
  imported = set()
  for node in ast.walk(ast.parse(open(path).read())):
    if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "zoo":
      for alias in node.names:
        name = f"{node.module}.{alias.name}"
        imported.add(name if name in modules else node.module)
    elif isinstance(node, ast.Import):
      imported.update(alias.name for alias in node.names if alias.name.split(".")[0] == "zoo")
  return imported


def test_no_module_imports_a_layer_above_its_own():
  modules = _modules()
  upward = [f"{module} ({LAYERS[_layer(module)][0]}) imports {target} ({LAYERS[_layer(target)][0]})"
            for module, path in modules.items() for target in _imports(path, modules)
            if _layer(target) < _layer(module)]
  assert not upward, "\n".join(upward)


def test_the_recipe_modules_import_nothing_else_from_the_zoo():
  modules = _modules()
  for module, path in modules.items():
    if module.startswith("zoo.recipe"):
      assert not {m for m in _imports(path, modules) if not m.startswith("zoo.recipe")}, module
