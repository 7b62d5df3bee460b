"""gan-zoo: faithful, measurable TF2/Keras reproductions of five GAN tutorial architectures."""
from setuptools import find_packages, setup

setup(
    name="gan-zoo",
    version="0.1.0",
    description="GAN model zoo on one shared tf.distribute trainer, with offline evaluation",
    packages=find_packages(include=["zoo", "zoo.*"]),
    # The domain classifiers behind the offline FID, the Unicode emoji groups and the pretrained packages
    # ship with the package.
    package_data={"zoo.metrics": ["classifiers/*"], "zoo.data": ["*.json"], "zoo": ["pretrained/**/*"]},
    python_requires=">=3.10",
    install_requires=[
        # tensorflow-cpu keeps CI and CPU machines light; GPU users install `tensorflow[and-cuda]` instead.
        "tensorflow-cpu>=2.16",
        "keras>=3",
        "tensorflow-datasets>=4.9",
        # TFDS 4.9 imports it when it prepares a dataset (downloads), though its metadata omits it.
        "importlib_resources",
        "tensorboard",
        "numpy",
        "matplotlib",
        "pillow",
        "absl-py",
        # The entropy coder behind compression_gan's bitstreams (tensorflow-compression has no TF 2.21 build).
        "constriction",
    ],
    extras_require={
        # scipy: the classical baselines of experiments/baselines.py; scikit-image: the public-domain
        # photos behind `python -m zoo.photo_patches` (and the RGB tests).
        # pytest-xdist: the README's test command runs the suite on both cores.
        "test": ["pytest", "pytest-xdist", "scipy", "scikit-image"],
        "photos": ["scikit-image"],
    },
    entry_points={"console_scripts": [
        "zoo-train=zoo.train:run",
        "zoo-sample=zoo.sample:run",
        "zoo-export=zoo.export:run",
        "zoo-evaluate=zoo.evaluate:run",
        "zoo-restore=zoo.restore:run",
        "zoo-compress=zoo.compress:run",
        "zoo-photo-patches=zoo.photo_patches:run",
        "zoo-emoji=zoo.emoji:run",
    ]},
)
