"""monoscope: find the features a transformer computes with."""

__version__ = "0.1.0"
