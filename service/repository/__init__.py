"""The model repository: `models/<name>/` folders verified, loaded, warmed up and reloaded;
each session paired with its batcher; exported for Triton."""
