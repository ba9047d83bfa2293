"""The engine: ONNX Runtime sessions, the dynamic batcher and admission. Knows no HTTP and no
Prometheus (it reports through `session_metrics`)."""
