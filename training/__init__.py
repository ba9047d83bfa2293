"""Offline GAN training (PyTorch): DCGAN, conditional GAN, CycleGAN and 2D toy GANs, with
resumable checkpoints, DDP under torchrun, and export to the ONNX folders `service/` loads."""
