"""The package version (one place, read by the package and by provenance attributes)."""

__version__ = "0.1.0"
