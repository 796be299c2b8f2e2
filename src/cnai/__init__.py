"""cnai: the whole machine-learning lifecycle, the cloud-native way."""

__version__ = "0.1.0"
