"""The torch-free ONNX predictor, under the import path the README documents (it lives in automodal.deploy)."""

from .deploy.onnx_predictor import OnnxPredictor

__all__ = ["OnnxPredictor"]
