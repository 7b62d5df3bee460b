"""Compresses images with a trained compression_gan run, and decompresses them.

  python -m zoo.compress encode IMAGE.png OUT.cgan --logdir=RUN      # one image -> one file
  python -m zoo.compress decode OUT.cgan IMAGE.png --logdir=RUN      # one file -> PNG
  python -m zoo.compress batch OUT_DIR --logdir=RUN --split=test[:1000]   # a split of the run's dataset
  python -m zoo.compress encode IMAGE.png OUT.cgan --pretrained=compression_gan/mnist   # no run needed

Encoding freezes the codec it uses into RUN/codecs/<model id>/ (its networks and entropy tables, with
their SHA-256), and every file's header names that model id. Decoding finds the codec there, so a file
stays decodable after the run has trained on and rotated away the checkpoint that encoded it; copy that
folder along with the files to decode them elsewhere (`--codec=FOLDER`, no run needed). `--checkpoint=N`
encodes with the run's ckpt-N instead of its newest checkpoint. `--pretrained=NAME` takes the frozen
codec a pretrained package carries (zoo/pretrained.py, checked against its sha256 manifest) for all three.

`batch` codes a split of the run's dataset, a TFDS dataset or an image folder (`--dataset=folder`), read
at the run's image size as it trained on it; it writes one file per image (00000.cgan, ...), decodes
every file back from disk and writes stats.json (bpp from the files' sizes, PSNR, SSIM) and decoded.npz
(uint8 images, for `python -m zoo.evaluate --npz=OUT_DIR/decoded.npz --logdir=RUN`).
Images must have the run's size and mode (28x28 grayscale for MNIST runs, e.g. 64x64 RGB for a folder
of photo patches); `--convert` converts other images first (Pillow: to the run's mode, then a Lanczos
resize), and says so.
"""
import json
import os
import sys
import warnings

from absl import flags

from zoo import cli

FLAGS = flags.FLAGS


def define_flags():
  """Defined only when run as a script, so importing this module never clashes with other CLIs' flags."""
  flags.DEFINE_string("logdir", None, "Run folder of a compression_gan run (mode=codec).")
  flags.DEFINE_string("pretrained", None, "A pretrained compression_gan package instead of a run, e.g. "
                      "compression_gan/mnist (python -m zoo.sample --list_pretrained lists them).")
  flags.DEFINE_string("checkpoint", None, "encode, batch: the run's checkpoint to encode with: N, ckpt-N or "
                      "a path (default: the newest readable).")
  flags.DEFINE_string("codec", None, "encode, decode: a pinned codec folder (RUN/codecs/<model id>) to use "
                      "instead of looking one up in --logdir.")
  flags.DEFINE_boolean("convert", False, "encode: convert an image of another size or mode to the run's.")
  flags.DEFINE_string("split", "test", "batch: split of the run's dataset in TFDS syntax (test, "
                      "test[:1000]), for TFDS datasets and image folders alike.")
  flags.DEFINE_string("data_dir", None, "batch: where the run's dataset is, a TFDS data_dir or the image "
                      "folder (default: the run's).")


USAGE = ("usage: python -m zoo.compress encode IMAGE.png OUT --logdir=RUN | "
         "decode IN IMAGE.png --logdir=RUN (or --codec=RUN/codecs/ID) | batch OUT_DIR --logdir=RUN "
         "[--split=test]")
PIL_MODES = {1: "L", 3: "RGB"}
MAX_FILE_BYTES = 1 << 20  # far above any file a model writes; bounds what decode reads


def read_image(path, shape, convert):
  """uint8 [H, W, C] of an image file, checked against (or, with `convert`, converted to) `shape`."""
  from PIL import Image, UnidentifiedImageError
  import numpy as np
  height, width, channels = shape
  mode = PIL_MODES.get(channels)
  wanted = f"{width}x{height} {mode}"
  try:
    with warnings.catch_warnings():  # Pillow only warns between its limit and twice its limit
      warnings.simplefilter("error", Image.DecompressionBombWarning)
      image = Image.open(path)
      image.load()
  except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
    raise ValueError(f"{path} is too large to decode safely ({str(e).rstrip('.')}); this run codes "
                     f"{wanted} images: resize it first.") from None
  except (OSError, UnidentifiedImageError) as e:
    raise ValueError(f"Cannot read {path} as an image: {e}") from None
  if image.mode == mode and image.size == (width, height):
    return np.asarray(image).reshape(shape)
  if not convert:
    raise ValueError(f"{path} is {image.size[0]}x{image.size[1]} {image.mode}; this run codes {wanted} "
                     "images. Convert it, or pass --convert to convert it to that size and mode.")
  print(f"Converting {path} from {image.size[0]}x{image.size[1]} {image.mode} to {wanted}.", flush=True)
  image = image.convert(mode).resize((width, height), Image.Resampling.LANCZOS)
  return np.asarray(image).reshape(shape)


def write_image(path, pixels):
  """A PNG written atomically (zoo/files.py): on a failure an existing file at `path` is kept."""
  import io
  from PIL import Image
  from zoo import files
  image = Image.fromarray(pixels.squeeze(-1) if pixels.shape[-1] == 1 else pixels)
  buffer = io.BytesIO()
  image.save(buffer, format="PNG")
  files.write_bytes(path, buffer.getvalue())


def read_file(path):
  try:
    with open(path, "rb") as f:
      data = f.read(MAX_FILE_BYTES + 1)
  except OSError as e:
    raise ValueError(f"Cannot read {path}: {e.strerror}.") from None
  if len(data) > MAX_FILE_BYTES:
    raise ValueError(f"{path} is larger than {MAX_FILE_BYTES} bytes: not a compression_gan file.")
  return data


def codec_from_run(logdir, checkpoint=None):
  """The codec of a compression_gan run (mode=codec), from its newest readable checkpoint or `checkpoint`."""
  return _codec_and_checkpoint(logdir, checkpoint)[0]


def _codec_and_checkpoint(logdir, checkpoint=None):
  from zoo import runs
  from zoo.models.compression_gan import codec as codec_lib
  path = runs.checkpoint_path(logdir, checkpoint) if checkpoint else None
  restored = runs.restore_generator_and_path(logdir, checkpoint=path)
  return codec_lib.Codec(restored.generator, restored.config), restored.path


def pinned_codec(logdir, checkpoint=None):
  """(codec, folder): the run's codec frozen into <logdir>/codecs/<model id>/ (now, unless it already is)
  and loaded back from there, so what encodes is exactly what will decode."""
  from zoo import runs
  from zoo.models.compression_gan import codec as codec_lib
  codec, path = _codec_and_checkpoint(logdir, checkpoint)
  folder = os.path.join(runs.codec_dir(logdir), codec.model_id.hex())
  codec.save(folder, run=os.path.abspath(logdir), checkpoint=os.path.basename(path))
  return codec_lib.Codec.load(folder, codec.config), folder


def package_codec(name, data_dir=None):
  """(codec, folder) of pretrained package `name`: the frozen codec it carries, after its files pass
  their sha256 check; its dataset is read from `data_dir` (default: TFDS's) for batch mode."""
  from zoo import pretrained, runs
  from zoo.models.compression_gan import codec as codec_lib
  package = pretrained.locate(name)
  pretrained.verify(package)
  folder = pretrained.codec_folder(package)
  if folder is None:
    raise codec_lib.CodecError(f"{name} holds no codec: zoo.compress needs a compression_gan package of "
                               "mode=codec, e.g. compression_gan/mnist.")
  return codec_lib.Codec.load(folder, runs.package_config(name, data_dir)), folder


def decoder_for(model_id: bytes, logdir=None, codec_folder=None, checkpoint=None):
  """The codec of model `model_id` (a file header's): from `codec_folder`, else pinned in the run, else
  one of the run's checkpoints (which is then pinned); a CodecError naming where it looked otherwise."""
  from zoo import runs
  from zoo.models.compression_gan import codec as codec_lib
  wanted = model_id.hex()
  if codec_folder:
    codec = codec_lib.Codec.load(codec_folder)
    if codec.model_id != model_id:
      raise codec_lib.CodecError(f"The file was encoded by model {wanted}, but --codec={codec_folder} is "
                                 f"model {codec.model_id.hex()}: give the codecs/{wanted} folder instead.")
    return codec
  folder = os.path.join(runs.codec_dir(logdir), wanted)
  if os.path.isdir(folder):
    return codec_lib.Codec.load(folder)
  # Files encoded before codecs were pinned: the checkpoint that encoded them may still be kept.
  config = runs.load_config(logdir)
  candidates = [runs.checkpoint_path(logdir, checkpoint)] if checkpoint else runs.checkpoint_paths(logdir)
  for path in candidates:
    codec, _ = _codec_and_checkpoint(logdir, path)
    if codec.model_id == model_id:
      return pinned_codec(logdir, path)[0]
  pinned = sorted(os.listdir(runs.codec_dir(logdir))) if os.path.isdir(runs.codec_dir(logdir)) else []
  raise codec_lib.CodecError(
      f"The file was encoded by model {wanted}, which {config.logdir} does not hold: {folder} does not exist "
      f"(pinned there: {', '.join(pinned) or 'none'}) and none of its checkpoints "
      f"({', '.join(os.path.basename(p) for p in candidates) or 'none'}) is that model. Give --codec= the "
      f"codecs/{wanted} folder of the run that encoded it.")


def compress_split(codec, split, out_dir, data_dir=None):
  """Codes every image of a split of the run's dataset (TFDS or folder) to its own file, reads each back.

  Returns (stats, originals, decoded): bpp from the files' sizes on disk, PSNR and SSIM of the decodes.
  """
  import numpy as np
  from zoo import data, files
  from zoo.metrics import fidelity
  from zoo.models.compression_gan import codec as codec_lib
  config = codec.config
  # The run's dataset as it trained on it: TFDS or an image folder, at its image_size and resize.
  originals = list(data.load_images(config.dataset, split, data_dir or config.data_dir, config.image_size,
                                    resize=data.image_resize(config)).as_numpy_iterator())
  if not originals:
    raise codec_lib.CodecError(f"Split {split!r} of {config.dataset} holds no images.")
  originals = np.stack(originals)
  os.makedirs(out_dir, exist_ok=True)
  sizes, decoded = [], []
  clipped_before = codec.clipped_codes
  for i, image in enumerate(originals):
    path = os.path.join(out_dir, f"{i:05d}.cgan")
    files.write_bytes(path, codec.encode(image))
    sizes.append(os.path.getsize(path))
    with open(path, "rb") as f:
      decoded.append(codec.decode(f.read()))
  decoded = np.stack(decoded)
  pixels = int(np.prod(codec.shape[:2]))
  stats = {"logdir": config.logdir, "dataset": config.dataset, "data_dir": data_dir or config.data_dir,
           "split": split, "image_shape": list(codec.shape), "images": len(sizes),
           "model_id": codec.model_id.hex(), "mean_file_bytes": float(np.mean(sizes)),
           "bpp": float(np.mean(sizes)) * 8 / pixels, "clipped_codes": codec.clipped_codes - clipped_before,
           "psnr": float(np.mean(fidelity.psnr(originals, decoded))),
           "ssim": float(np.mean(fidelity.ssim(originals, decoded)))}
  return stats, originals, decoded


def check_outputs(command, paths):
  """A ValueError, before anything is read, when the output of `command` cannot be what it names."""
  from zoo import files
  if command != "batch":
    files.check_not_input(paths[1], paths[0], flag="the output")
  if command == "decode" and not paths[1].lower().endswith(".png"):  # written as PNG, whatever its name
    raise ValueError(f"decode writes a PNG image: give an output ending in .png, got {paths[1]!r}.")
  if command == "batch" and os.path.exists(paths[0]) and not os.path.isdir(paths[0]):
    raise ValueError(f"{paths[0]!r} is a file; batch writes its files into a folder: give a new or existing "
                     "folder.")


def main(argv):
  cli.quiet_library_logs()
  if len(argv) < 2 or argv[1] not in ("encode", "decode", "batch"):
    sys.exit(f"error: {USAGE}")
  command, paths = argv[1], argv[2:]
  if len(paths) != (1 if command == "batch" else 2):
    sys.exit(f"error: {command} takes {'one path' if command == 'batch' else 'two paths'}. {USAGE}")
  if FLAGS.pretrained and (FLAGS.logdir or FLAGS.codec):
    sys.exit("error: --pretrained replaces --logdir and --codec; give only one of them.")
  if not FLAGS.logdir and not FLAGS.pretrained and not (FLAGS.codec and command != "batch"):
    sys.exit("error: --logdir is required: the run folder of the compression_gan model to use"
             f"{'' if command == 'batch' else ' (or --codec=RUN/codecs/<model id>, a pinned codec)'}.")
  from zoo import data, files
  from zoo.models.compression_gan import codec as codec_lib
  try:
    check_outputs(command, paths)
    package = package_codec(FLAGS.pretrained, FLAGS.data_dir) if FLAGS.pretrained else None
    if command == "encode":
      codec, folder = package or ((codec_lib.Codec.load(FLAGS.codec), FLAGS.codec) if FLAGS.codec
                                  else pinned_codec(FLAGS.logdir, FLAGS.checkpoint))
      image = read_image(paths[0], codec.shape, FLAGS.convert)
      encoded = codec.encode(image)
      files.write_bytes(paths[1], encoded)
      print(f"{paths[1]}: {len(encoded)} bytes, {len(encoded) * 8 / (image.shape[0] * image.shape[1]):.3f} "
            f"bpp (model {codec.model_id.hex()}, decoder pinned in {folder})")
    elif command == "decode":
      encoded = read_file(paths[0])
      header, _ = codec_lib.unpack(encoded)
      codec = decoder_for(header.model_id, FLAGS.logdir, package[1] if package else FLAGS.codec,
                          FLAGS.checkpoint)
      write_image(paths[1], codec.decode(encoded))
      print(f"{paths[1]} written")
    else:
      codec, folder = package or pinned_codec(FLAGS.logdir, FLAGS.checkpoint)
      stats, _, decoded = compress_split(codec, FLAGS.split, paths[0], FLAGS.data_dir)
      stats["codec"] = folder
      files.save_npz(os.path.join(paths[0], "decoded.npz"), images=decoded)
      files.write_json(os.path.join(paths[0], "stats.json"), stats)
      print(json.dumps(stats, indent=2))
  except (ValueError, OSError, data.DataUnavailableError) as e:
    cli.fail(e)


def run():
  """Console script `zoo-compress`."""
  cli.run(main, define_flags)


if __name__ == "__main__":
  run()
