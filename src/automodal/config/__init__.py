"""Configuration: group defaults from YAML, presets, dotted overrides, aliases and validation."""

from .loader import Config, GROUPS, default_flat, parse_hyperparameters, resolve_config

__all__ = ["Config", "GROUPS", "default_flat", "parse_hyperparameters", "resolve_config"]
