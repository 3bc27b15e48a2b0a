"""The package version: setup.cfg reads it (attr:), and cpc_models.endpoint pins it in requirements.txt."""

__version__ = "0.1.0"
