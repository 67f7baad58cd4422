"""Deployment of a fitted learner or a saved predictor: ONNX export and the torch-free ONNX predictor, int8
prediction on the CPU, and chunked prediction of large files, locally or on a Ray cluster."""
