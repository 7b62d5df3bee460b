"""Flags that restore defaults a model has since left, for the experiments measured at them.

A module without absl flags, so that every experiment script can import it (two scripts that each define
`--data_dir` cannot import each other).
"""

# dense_gan's defaults until commit 217653b: the article's layers with BatchNorm in G, Adam 1e-4, no EMA.
# Its defaults are now a wider, leaky D and G (docs/dense_gan.md).
DENSE_GAN_BEFORE = ("--recipe=article", "--generator_batch_norm")

# autoencoder_gan's defaults when its ablation was measured: the article's D (full-size convolutions), no
# EMA, 300 GAN steps. Its defaults are now a strided BatchNorm D, EMA and 6,000 steps
# (docs/autoencoder_gan.md).
AUTOENCODER_GAN_BEFORE = ("--recipe=article", "--steps=300")
