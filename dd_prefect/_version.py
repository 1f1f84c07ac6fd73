"""The library version, recorded in metadata and folded into stage fingerprints."""

__version__ = "0.1.0"
