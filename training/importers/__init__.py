"""Bring your own model: the CycleGAN and pix2pix authors' checkpoints, and ONNX generators
exported elsewhere, turned into model folders the service loads (`python -m training import`).
"""
