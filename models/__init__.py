"""The vhtwin model library: cardiovascular and pharmacokinetic models, importable as ``vhtwin.models``."""
