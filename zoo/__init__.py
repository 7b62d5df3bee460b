"""gan-zoo: GAN architectures from five tutorial articles on one shared tf.distribute trainer."""
