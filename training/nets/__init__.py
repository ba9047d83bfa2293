"""Generators and discriminators: DCGAN (+ conditional), CycleGAN, 2D MLPs."""
