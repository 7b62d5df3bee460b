"""The one shared GAN trainer, cut by concern (see each module's docstring)."""
