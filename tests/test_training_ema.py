"""The EMA of generator weights: warm-up decay, buffers copied, state round trip."""

from __future__ import annotations

import torch
from torch import nn

from training.ema import EMA


def _net(value: float) -> nn.Module:
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(value)
    return net


def test_the_average_follows_the_warm_up_decay_then_the_set_one() -> None:
    live = _net(0.0)
    ema = EMA(live, decay=0.9)
    expected = 0.0
    for n in range(1, 101):
        with torch.no_grad():
            for p in live.parameters():
                p.fill_(float(n))
        ema.update(live)
        decay = min(0.9, (1 + n) / (10 + n))  # 2/11, 3/12, ..., then 0.9 from n = 80
        expected = decay * expected + (1 - decay) * n
        for avg in ema.model.parameters():
            assert torch.allclose(avg, torch.full_like(avg, expected), rtol=1e-5)
    assert ema.updates == 100


def test_the_average_is_a_frozen_copy_and_takes_the_live_buffers() -> None:
    live = _net(1.0)
    ema = EMA(live, decay=0.5)
    assert not any(p.requires_grad for p in ema.model.parameters())
    assert not ema.model.training
    with torch.no_grad():
        live[0].weight.fill_(3.0)
    assert torch.all(ema.model[0].weight == 1.0)  # not the live tensors
    live.train()(torch.randn(8, 2) * 5 + 2)  # batch norm statistics move
    ema.update(live)
    assert torch.equal(ema.model[1].running_mean, live[1].running_mean)
    assert torch.equal(ema.model[1].running_var, live[1].running_var)


def test_state_round_trip_keeps_weights_and_update_count() -> None:
    live = _net(2.0)
    ema = EMA(live, decay=0.99)
    for _ in range(3):
        ema.update(live)
    restored = EMA(_net(0.0), decay=0.99)
    restored.load_state_dict(ema.state_dict(), ema.updates)
    assert restored.updates == 3
    for a, b in zip(restored.model.parameters(), ema.model.parameters(), strict=True):
        assert torch.equal(a, b)
    live_step = _net(5.0)
    ema.update(live_step)
    restored.update(live_step)  # the same warm-up decay after the restore
    for a, b in zip(restored.model.parameters(), ema.model.parameters(), strict=True):
        assert torch.equal(a, b)
