"""The eddpm model core: codecs, the latent diffusion prior, the EDDPM objective and training.

Nothing in this package imports typer, prints or exits; errors are raised as
:class:`models.errors.EddpmError` subclasses.
"""

__version__ = "0.1.0"
