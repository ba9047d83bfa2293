"""A photo's windows for super-resolution: offsets on the network's multiple, one shape,
and blend weights that sum to one over every output pixel (so a constant stays constant).
Whether the tiled answer equals the whole one is tested with real networks in
tests/service/api/test_upscale.py."""

from __future__ import annotations

import numpy as np

from service.engine import tiling


def test_blend_weights_sum_to_one_everywhere() -> None:
    for height, width, tile, overlap, multiple, scale in [
        (768, 1024, 256, 16, 1, 4),
        (300, 302, 64, 16, 2, 2),
        (100, 40, 32, 8, 4, 1),
        (50, 50, 256, 16, 1, 4),
    ]:
        tiles = tiling.plan(height, width, tile, overlap, multiple, scale)
        canvas = tiles.canvas(1)
        ones = np.ones((1, tiles.window[0] * scale, tiles.window[1] * scale), np.float32)
        for i in range(tiles.count):
            tiles.paste(canvas, i, ones)
        np.testing.assert_allclose(canvas, 1, atol=1e-6)
        assert all(s % multiple == 0 for s in tiles.rows.starts + tiles.cols.starts)


def test_a_photo_within_one_window_runs_whole() -> None:
    tiles = tiling.plan(40, 48, 32, 8, 1, 4)  # 48: a core of 32 and 8 on either side
    assert tiles.count == 1 and tiles.window == (40, 48)
    assert tiling.plan(40, 49, 32, 8, 1, 4).count == 2
