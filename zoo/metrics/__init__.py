"""Offline GAN metrics: FID, KID, precision/recall, classifier score and mode coverage.

MNIST-like data is scored on the penultimate features of a domain classifier the zoo trains and
ships (zoo/metrics/classifiers/); RGB data on the FID Inception (TF's inception-2015-12-05 graph in Keras,
zoo/metrics/fid_inception.py) with pytorch-fid's published weights. Every zoo.evaluate report carries its
protocol. See docs/metrics.md.
"""
from zoo.metrics.evaluation import (Evaluator, evaluate_images, get_evaluator, score_features,
                                    training_evaluator)

__all__ = ["Evaluator", "evaluate_images", "get_evaluator", "score_features", "training_evaluator"]
