"""musicvae: generative music and audio instruments built on variational autoencoders."""

__version__ = "0.1.0"
