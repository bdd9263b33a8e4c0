"""Nova: a social-media backend that starts on a laptop and grows to a cluster."""

__all__ = ["__version__"]

__version__ = "0.1.0"
