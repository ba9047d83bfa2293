"""Networks for a config: the one place trainer and exporter both build them from."""

from __future__ import annotations

from torch import nn

from training.config import Config
from training.nets.cyclegan import PatchDiscriminator, ResnetGenerator
from training.nets.dcgan import Discriminator, Generator
from training.nets.toy import ToyDiscriminator, ToyGenerator


def generators(cfg: Config, num_classes: int = 0) -> dict[str, nn.Module]:
    if cfg.family == "cyclegan":
        return {
            "g_ab": ResnetGenerator(cfg.ngf, cfg.n_blocks, upsample=cfg.upsample),
            "g_ba": ResnetGenerator(cfg.ngf, cfg.n_blocks, upsample=cfg.upsample),
        }
    if cfg.family == "toy2d":
        return {"g": ToyGenerator(cfg.z_dim, cfg.hidden, cfg.depth)}
    classes = num_classes if cfg.family == "cgan" else 0
    return {
        "g": Generator(
            cfg.z_dim,
            cfg.channels,
            cfg.image_size,
            cfg.ngf,
            classes,
            cfg.embed_dim if classes else 0,
            cbn=cfg.g_cond == "cbn",
        )
    }


def discriminators(cfg: Config, num_classes: int = 0) -> dict[str, nn.Module]:
    sn = cfg.spectral_norm
    if cfg.family == "cyclegan":
        return {
            "d_a": PatchDiscriminator(cfg.ndf, cfg.d_layers, sn=sn),
            "d_b": PatchDiscriminator(cfg.ndf, cfg.d_layers, sn=sn),
        }
    if cfg.family == "toy2d":
        return {"d": ToyDiscriminator(cfg.hidden, cfg.depth, sn)}
    classes = num_classes if cfg.family == "cgan" else 0
    return {
        "d": Discriminator(
            cfg.channels,
            cfg.image_size,
            cfg.ndf,
            classes,
            cfg.cond_d,
            cfg.d_norm,
            sn,
            aux=cfg.aux_weight > 0,
        )
    }
