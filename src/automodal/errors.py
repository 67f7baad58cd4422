"""Exceptions a user can cause. Each message names the column, key or file and what to do."""


class AutomodalError(ValueError):
    """Base class of every error automodal raises for bad input or configuration."""


class ConfigError(AutomodalError, KeyError):
    """An unknown configuration key, or a value of the wrong type or outside its allowed set."""

    def __str__(self):  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DataError(AutomodalError):
    """The data cannot be used as given: a missing or unusable column, label or file."""


class NotFittedError(AutomodalError):
    """A method that needs a trained model was called before fit() or load()."""


class CheckpointNotFoundError(AutomodalError, FileNotFoundError):
    """A pretrained checkpoint is neither a local path nor in a local cache, and the hub cannot be reached."""
