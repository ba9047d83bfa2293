"""Generators and discriminators: DCGAN (+ conditional), CycleGAN, 2D MLPs; and the ESRGAN
family's super-resolution generators, which ganserve imports rather than trains."""
