"""Dock widgets: thin Qt layers over the public API, one file each."""
