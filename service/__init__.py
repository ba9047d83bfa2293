"""ganserve's serving half: ONNX Runtime behind FastAPI. Never imports torch."""
