"""The protocol's .proto files and the Python code generated from them (`make protocol`)."""
