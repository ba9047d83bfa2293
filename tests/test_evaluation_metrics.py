"""Known answers for the evaluation metrics (numpy only, milliseconds)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.data import mixture_means
from training.evaluation import metrics as M


def test_fd_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).normal(size=(500, 8))
    assert M.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)


def test_fd_of_two_samples_of_one_gaussian_is_small_and_shift_adds_squared_distance():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(20000, 4))
    b = rng.normal(size=(20000, 4))
    assert M.frechet_distance(a, b) < 0.01
    shift = np.array([3.0, 0.0, 0.0, 4.0])
    assert M.frechet_distance(a, b + shift) == pytest.approx(25.0, rel=0.01)


def test_fd_closed_form_for_diagonal_covariances():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 2.0, 0.5]), np.array([3.0, 2.0, 1.5])
    expected = float(((mu1 - mu2) ** 2).sum() + ((s1 - s2) ** 2).sum())
    got = M.frechet_distance_from_stats(mu1, np.diag(s1**2), mu2, np.diag(s2**2))
    assert got == pytest.approx(expected, rel=1e-10)


def test_fd_closed_form_with_correlated_covariance():
    # rotate both covariances: the distance is rotation invariant
    theta = 0.7
    r = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    s1 = r @ np.diag([4.0, 1.0]) @ r.T
    s2 = r @ np.diag([1.0, 9.0]) @ r.T
    got = M.frechet_distance_from_stats(np.zeros(2), s1, np.zeros(2), s2)
    assert got == pytest.approx((2 - 1) ** 2 + (1 - 3) ** 2, rel=1e-9)


def test_kl_from_uniform():
    assert M.kl_from_uniform(np.full(10, 0.1)) == pytest.approx(0.0, abs=1e-12)
    assert M.kl_from_uniform(np.eye(10)[3]) == pytest.approx(math.log(10))
    assert M.kl_from_uniform(np.array([5, 5, 0, 0])) == pytest.approx(math.log(2))
    assert M.kl_from_uniform(np.zeros(4)) == math.inf


def test_class_histogram_and_presence_rule():
    pred = np.array([0] * 90 + [1] * 9 + [2] * 1)  # class 2 has exactly 1 %
    hist = M.class_histogram(pred, 10)
    assert hist.sum() == pytest.approx(1.0)
    assert hist[:3].tolist() == pytest.approx([0.9, 0.09, 0.01])
    assert M.classes_present(hist) == 3
    assert M.classes_present(M.class_histogram(np.array([0] * 101 + [1]), 10)) == 1


def test_a_collapsed_generator_is_caught_by_the_class_metrics():
    collapsed = M.class_histogram(np.full(1000, 7), 10)
    assert M.classes_present(collapsed) == 1
    assert M.kl_from_uniform(collapsed) == pytest.approx(math.log(10))
    balanced = M.class_histogram(np.arange(1000) % 10, 10)
    assert M.classes_present(balanced) == 10
    assert M.kl_from_uniform(balanced) == pytest.approx(0.0, abs=1e-12)


def test_per_label_accuracy():
    requested = np.array([0, 0, 1, 1, 1, 1])
    predicted = np.array([0, 1, 1, 1, 0, 1])
    assert M.per_label_accuracy(predicted, requested, 3) == [0.5, 0.75, None]


def test_knn_radii_on_a_line():
    x = np.array([[0.0], [1.0], [3.0], [6.0]])
    assert M.knn_radii(x, k=1).tolist() == [1.0, 1.0, 2.0, 3.0]
    assert M.knn_radii(x, k=2).tolist() == [3.0, 2.0, 3.0, 5.0]
    with pytest.raises(ValueError):
        M.knn_radii(x, k=4)


def test_precision_recall_identical_sets_are_one():
    x = np.random.default_rng(2).normal(size=(300, 16))
    assert M.precision_recall(x, x, k=3) == (1.0, 1.0)


def test_precision_recall_far_apart_sets_are_zero():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(200, 8))
    fake = rng.normal(size=(200, 8)) + 100.0
    assert M.precision_recall(real, fake, k=3) == (0.0, 0.0)


def test_precision_recall_of_a_collapsed_generator():
    # every fake sample sits on one real point: perfect precision, recall of a few points only
    real = np.random.default_rng(4).normal(size=(400, 8))
    fake = np.repeat(real[:1], 400, axis=0) + 1e-9
    precision, recall = M.precision_recall(real, fake, k=3)
    assert precision == 1.0
    assert recall <= 0.01


def test_precision_recall_of_two_samples_of_one_distribution_are_high():
    rng = np.random.default_rng(5)
    p, r = M.precision_recall(rng.normal(size=(1000, 4)), rng.normal(size=(1000, 4)), k=3)
    assert p > 0.9 and r > 0.9


def test_mode_metrics_perfect_generator():
    means = mixture_means("ring")[0]
    samples = np.repeat(means, 100, axis=0) + np.random.default_rng(6).normal(size=(800, 2)) * 0.001
    r = M.mode_metrics(samples, means, std=0.01)
    assert r["modes"] == 8 and r["high_quality"] == 1.0
    assert r["reverse_kl"] == pytest.approx(0.0, abs=1e-12)
    assert r["counts"] == [100] * 8


def test_mode_metrics_collapsed_and_bad_generators():
    means = mixture_means("grid")[0]
    one = M.mode_metrics(np.repeat(means[4:5], 50, axis=0), means, std=0.05)
    assert one["modes"] == 1 and one["high_quality"] == 1.0
    assert one["reverse_kl"] == pytest.approx(math.log(25))
    # points between modes are nobody's high-quality sample
    bad = M.mode_metrics(np.array([[1.0, 1.0], [3.0, -1.0]]), means, std=0.05)
    assert bad["modes"] == 0 and bad["high_quality"] == 0.0 and bad["reverse_kl"] == math.inf


def test_mode_metrics_three_standard_deviations_threshold():
    means = mixture_means("ring")[0]
    inside = means[0] + np.array([0.0, 0.0299])
    outside = means[1] + np.array([0.0, 0.0301]) @ np.eye(2)
    r = M.mode_metrics(np.stack([inside, outside]), means, std=0.01)
    assert r["modes"] == 1 and r["high_quality"] == 0.5
    assert r["counts"][0] == 1


def test_stacked_mnist_modes():
    all_triples = np.array([[a, b, c] for a in range(10) for b in range(10) for c in range(10)])
    full = M.stacked_modes(np.repeat(all_triples, 3, axis=0))
    assert full == {"modes": 1000, "num_modes": 1000, "kl_from_uniform": pytest.approx(0.0)}
    one = M.stacked_modes(np.array([[1, 2, 3]] * 50))
    assert one["modes"] == 1 and one["kl_from_uniform"] == pytest.approx(math.log(1000))
    # (1, 2, 3) and (3, 2, 1) are different modes
    assert M.stacked_modes(np.array([[1, 2, 3], [3, 2, 1]]))["modes"] == 2
