"""automodal: deep models on data frames of numbers, categories, text and image paths.

Importing the package stays cheap: the predictor (and torch behind it) loads on first use.
"""

__version__ = "0.1.0"
__all__ = ["CutMix", "MultiModalPredictor", "__version__"]


def __getattr__(name):
    if name == "MultiModalPredictor":
        from .predictor import MultiModalPredictor

        return MultiModalPredictor
    if name == "CutMix":
        from .training.cutmix import CutMix

        return CutMix
    raise AttributeError(f"module 'automodal' has no attribute {name!r}")
