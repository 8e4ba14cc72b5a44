"""The package version, single source for pyproject and `pms-stream --version`."""

__version__ = "0.1.0"
