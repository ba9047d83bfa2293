"""The Open Inference Protocol (KServe V2): its bodies, tensors on the wire, and model view."""
