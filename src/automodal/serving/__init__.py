"""An HTTP JSON prediction server for a saved predictor (`automodal serve PATH`, extra `serve`)."""
