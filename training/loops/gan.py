"""DCGAN, conditional GAN and the 2D toy GAN: one G, one D, any of the five objectives."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from service.latents import latents
from training import factory
from training.data import Order, load_labelled, mixture_batch, mixture_means
from training.imaging import grid, scatter
from training.loops.base import Trainer
from training.losses import d_loss, g_loss, gradient_penalty, r1_penalty
from training.stacked import is_stacked, load_stacked

SAMPLE_COLUMNS = 8


class GanTrainer(Trainer):
    def build(self) -> None:
        cfg = self.cfg
        self.toy = cfg.family == "toy2d"
        self.conditional = cfg.family == "cgan"
        if self.toy:
            self.data = None
            self.num_classes = 0
        else:
            self.data = (
                load_stacked(cfg.data, cfg.image_size, cfg.train_count)
                if is_stacked(cfg.data)
                else load_labelled(cfg.data, cfg.image_size, cfg.channels, cfg.train_count)
            )
            self.order = Order(
                len(self.data), cfg.batch_size, cfg.seed, self.world.rank, self.world.size
            )
            classes = cfg.classes or self.data.classes
            if self.conditional:
                if len(classes) != len(self.data.classes):
                    raise ValueError(
                        f"classes: {len(classes)} names for "
                        f"{len(self.data.classes)} labels in the data"
                    )
                self.extra["classes"] = list(classes)
            self.num_classes = len(classes) if self.conditional else 0
            self.extra["train_count"] = len(self.data)
        self.extra.setdefault("data", cfg.data)
        if cfg.monitor_every and self.world.main:  # a wrong judge fails now, not mid-run
            self._monitor = self._make_monitor()
        self.models = {
            **factory.generators(cfg, self.num_classes),
            **factory.discriminators(cfg, self.num_classes),
        }

    def real_batch(self, data_step: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        cfg = self.cfg
        if self.toy:
            return self.to_device(
                mixture_batch(cfg.data, cfg.batch_size, cfg.seed, data_step, self.world.rank)
            ), None
        x, y = self.data.batch(self.order.indices(data_step))
        return self.to_device(x), (y.to(self.device) if self.conditional else None)

    def noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.cfg.z_dim).to(self.device)

    def train_step(self, step: int) -> dict[str, float]:
        cfg = self.cfg
        g, d = self.wrapped["g"], self.wrapped["d"]
        d_plain = self.models["d"]
        for k in range(cfg.d_steps):
            real, y = self.real_batch(step * cfg.d_steps + k)
            with torch.no_grad(), self.autocast():
                fake = g(self.noise(len(real)), y)
            fake = self.to_device(fake.float())
            with self.autocast():
                if cfg.aux_weight:  # AC-GAN: D also learns to classify the real digits
                    score_real, logits = d(real, y, with_aux=True)
                    aux = cfg.aux_weight * F.cross_entropy(logits.float(), y)
                else:
                    score_real, aux = d(real, y), 0.0
                loss_d = (
                    d_loss(cfg.loss, score_real.float(), d(fake, y).float(), cfg.label_smoothing)
                    + aux
                )
            if cfg.loss == "wgan-gp":
                loss_d = loss_d + cfg.gp_weight * gradient_penalty(
                    lambda x, y=y: d_plain(x, y).float(), real, fake
                )
            if cfg.r1_gamma:
                loss_d = loss_d + r1_penalty(
                    lambda x, y=y: d_plain(x, y).float(), real, cfg.r1_gamma
                )
            self.optims["d"].zero_grad(set_to_none=True)
            loss_d.backward()
            self.optims["d"].step()
        y_fake = (
            torch.randint(self.num_classes, (cfg.batch_size,)).to(self.device)
            if self.conditional
            else None
        )
        with self.autocast():
            # D unwrapped: its gradients here are discarded, so no DDP all-reduce for them
            fake = g(self.noise(cfg.batch_size), y_fake)
            if cfg.aux_weight:  # and G is rewarded when its digit is classified as asked
                score, logits = d_plain(fake, y_fake, with_aux=True)
                aux = cfg.aux_weight * F.cross_entropy(logits.float(), y_fake)
            else:
                score, aux = d_plain(fake, y_fake), 0.0
            loss_g = g_loss(cfg.loss, score.float()) + aux
        self.optims["g"].zero_grad(set_to_none=True)
        loss_g.backward()
        self.optims["g"].step()
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}

    @torch.no_grad()
    def monitor(self) -> dict[str, float]:
        """Score seeds 0..monitor_n-1 (labels seed % classes) with the judge or 2D metrics."""
        from training.evaluation.data import resize_batch

        cfg = self.cfg
        g = self.export_generators()["g"].eval()
        seeds = np.arange(cfg.monitor_n)
        labels = seeds % self.num_classes if self.conditional else None
        out = []
        for i in range(0, len(seeds), 500):
            z = torch.from_numpy(latents(seeds[i : i + 500].tolist(), cfg.z_dim)).to(self.device)
            y = torch.from_numpy(labels[i : i + 500]).to(self.device) if self.conditional else None
            out.append(g(z, y).float().cpu().numpy())
        samples = np.concatenate(out)
        if self.toy:
            return self._monitor(self.step, samples)
        samples = resize_batch(samples, *self._judge_size)
        if is_stacked(cfg.data):
            return self._monitor(self.step, samples)
        return self._monitor(self.step, samples, labels)

    def _make_monitor(self):
        from training.evaluation.data import resize_batch
        from training.evaluation.judge import Judge
        from training.evaluation.monitor import ClassMonitor, ModeMonitor, StackedMonitor

        cfg = self.cfg
        if self.toy:
            return ModeMonitor(*mixture_means(cfg.data))
        judge = Judge.load(cfg.monitor_judge)
        _, channels, height, width = judge.info["input"]["shape"]
        self._judge_size = (height, width)
        if is_stacked(cfg.data):
            return StackedMonitor(judge)
        if channels != cfg.channels:
            raise ValueError(
                f"monitor_judge={cfg.monitor_judge}: the judge takes {channels} channel(s), "
                f"the generator makes {cfg.channels}"
            )
        real = self.data.images[: cfg.monitor_n].float().numpy()
        _, features = judge.run(resize_batch(real, height, width))
        return ClassMonitor(judge, real_features=features)

    @torch.no_grad()
    def samples(self) -> np.ndarray:
        g = self.export_generators()["g"].eval()
        cfg = self.cfg
        if self.toy:
            z = torch.from_numpy(latents(list(range(2000)), cfg.z_dim)).to(self.device)
            points = g(z).float().cpu().numpy()
            extent = 1.5 if cfg.data == "ring" else 5.0
            picture = scatter(mixture_means(cfg.data)[0], extent)  # means, then samples
            picture[..., 1:] = 0
            return np.maximum(picture, scatter(points, extent))
        rows = self.num_classes if self.conditional else SAMPLE_COLUMNS
        if self.conditional:  # one row per class, the same seeds in every row
            seeds = list(range(SAMPLE_COLUMNS)) * rows
            y = torch.arange(rows).repeat_interleave(SAMPLE_COLUMNS).to(self.device)
        else:  # seeds 0..63, as /generate would draw them
            seeds, y = list(range(rows * SAMPLE_COLUMNS)), None
        z = torch.from_numpy(latents(seeds, cfg.z_dim)).to(self.device)
        images = g(z, y).float().cpu().numpy()
        return grid(images, SAMPLE_COLUMNS)
