"""CycleGAN (Zhu et al.): two ResNet generators, two PatchGANs, LSGAN by default, cycle and
identity L1 losses, image pools of past fakes for D."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from training import factory
from training.data import Order, translation_domains
from training.imaging import grid
from training.init_from import load_generators
from training.loops.base import Trainer
from training.losses import d_loss, g_loss
from training.pool import ImagePool


class CycleTrainer(Trainer):
    def build(self) -> None:
        cfg = self.cfg
        self.domain_a, self.domain_b, val_a, val_b = translation_domains(
            cfg.data, cfg.load_size, cfg.crop_size, cfg.flip, tuple(cfg.holdout), cfg.preload
        )
        args = (cfg.batch_size, cfg.seed, self.world.rank, self.world.size)
        self.order_a = Order(len(self.domain_a), *args)
        self.order_b = Order(
            len(self.domain_b), cfg.batch_size, cfg.seed + 1, self.world.rank, self.world.size
        )
        if "val_a" not in self.extra:  # fixed sample photos: centre crops of held-out ones
            self.extra["val_a"] = torch.stack(
                [val_a.item(i, None) for i in range(min(cfg.val_images, len(val_a)))]
            )
            self.extra["val_b"] = torch.stack(
                [val_b.item(i, None) for i in range(min(cfg.val_images, len(val_b)))]
            )
        self.extra["holdout"] = {
            "a": [p.name for p in val_a.files] if cfg.holdout[0] else [],
            "b": [p.name for p in val_b.files] if cfg.holdout[1] else [],
        }
        self.extra.setdefault("data", cfg.data)
        self.extra["domains"] = list(cfg.domains)
        self.extra["train_count"] = max(len(self.domain_a), len(self.domain_b))
        self.models = {**factory.generators(cfg), **factory.discriminators(cfg)}
        if cfg.init_from and "init_from" not in self.extra:  # a new run; a resume has its own
            self.extra["init_from"] = load_generators(self.models, cfg.init_from)
        self.pool_a = ImagePool(cfg.pool_size, cfg.seed + 11)
        self.pool_b = ImagePool(cfg.pool_size, cfg.seed + 12)

    def train_step(self, step: int) -> dict[str, float]:
        cfg = self.cfg
        m, w = self.models, self.wrapped
        real_a = self.to_device(self.domain_a.batch(self.order_a.indices(step), cfg.seed, step))
        real_b = self.to_device(self.domain_b.batch(self.order_b.indices(step), cfg.seed + 1, step))
        # generators: adversarial + cycle + identity
        with self.autocast():
            fake_b, fake_a = w["g_ab"](real_a), w["g_ba"](real_b)
            rec_a, rec_b = w["g_ba"](fake_b), w["g_ab"](fake_a)
            adv = g_loss(cfg.loss, m["d_b"](fake_b).float()) + g_loss(
                cfg.loss, m["d_a"](fake_a).float()
            )
            cycle = F.l1_loss(rec_a.float(), real_a) + F.l1_loss(rec_b.float(), real_b)
            loss_g = adv + cfg.lambda_cycle * cycle
            idt = torch.zeros(())
            if cfg.lambda_identity > 0:
                idt = F.l1_loss(w["g_ab"](real_b).float(), real_b) + F.l1_loss(
                    w["g_ba"](real_a).float(), real_a
                )
                loss_g = loss_g + cfg.lambda_cycle * cfg.lambda_identity * idt
        self.optims["g"].zero_grad(set_to_none=True)
        loss_g.backward()
        self.optims["g"].step()
        # discriminators on real photos and pooled fakes
        old_b = self.pool_b.query(fake_b.float())
        old_a = self.pool_a.query(fake_a.float())
        with self.autocast():
            loss_d_a = d_loss(
                cfg.loss, w["d_a"](real_a).float(), w["d_a"](old_a).float(), cfg.label_smoothing
            )
            loss_d_b = d_loss(
                cfg.loss, w["d_b"](real_b).float(), w["d_b"](old_b).float(), cfg.label_smoothing
            )
        self.optims["d"].zero_grad(set_to_none=True)
        (loss_d_a + loss_d_b).backward()
        self.optims["d"].step()
        return {  # loss_g is what G minimised; its parts unweighted
            "loss_g": loss_g.item(),
            "loss_g_adv": adv.item(),
            "cycle_l1": cycle.item(),
            "identity_l1": idt.item(),
            "loss_d_a": loss_d_a.item(),
            "loss_d_b": loss_d_b.item(),
        }

    @torch.no_grad()
    def samples(self) -> np.ndarray:
        """Rows: photo A, A->B, photo B, B->A."""
        g = self.export_generators()
        a = self.to_device(self.extra["val_a"])
        b = self.to_device(self.extra["val_b"])
        rows = [a, g["g_ab"].eval()(a).float(), b, g["g_ba"].eval()(b).float()]
        return grid(torch.cat(rows).cpu().numpy(), len(a))

    def family_state(self) -> dict[str, Any]:
        return {"pool_a": self.pool_a.state_dict(), "pool_b": self.pool_b.state_dict()}

    def load_family_state(self, state: dict[str, Any]) -> None:
        self.pool_a.load_state_dict(state["pool_a"], self.device)
        self.pool_b.load_state_dict(state["pool_b"], self.device)
