"""The metric functions against direct computations, on constructed feature sets (numpy only, fast)."""
import numpy as np
import pytest

from zoo.metrics import scores


def gaussian(rng, n, mean, cov):
  return rng.multivariate_normal(mean, cov, size=n)


def random_covariance(rng, dim):
  a = rng.normal(size=(dim, dim))
  return a @ a.T / dim + 0.1 * np.eye(dim)


def test_fid_of_a_set_with_itself_is_zero():
  features = np.random.default_rng(0).normal(size=(2000, 32))
  assert scores.fid(features, features) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_of_diagonal_gaussians_has_its_closed_form():
  # With commuting (here diagonal) covariances the trace term is sum((sqrt(a) - sqrt(b))^2).
  mean1, mean2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
  var1, var2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
  expected = np.sum((mean1 - mean2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)  # 5 + 6
  assert expected == 11.0
  assert scores.frechet_distance(mean1, np.diag(var1), mean2, np.diag(var2)) == pytest.approx(11.0)


def test_frechet_distance_matches_scipy_sqrtm_on_full_covariances():
  linalg = pytest.importorskip("scipy.linalg")
  rng = np.random.default_rng(1)
  mean1, mean2 = rng.normal(size=8), rng.normal(size=8)
  cov1, cov2 = random_covariance(rng, 8), random_covariance(rng, 8)
  direct = (np.sum((mean1 - mean2) ** 2)
            + np.trace(cov1 + cov2 - 2.0 * linalg.sqrtm(cov1 @ cov2).real))
  assert scores.frechet_distance(mean1, cov1, mean2, cov2) == pytest.approx(direct, rel=1e-9)


def test_fid_of_samples_converges_to_the_frechet_distance_of_their_gaussians():
  rng = np.random.default_rng(2)
  mean1, mean2 = np.zeros(4), np.full(4, 0.5)
  cov1, cov2 = random_covariance(rng, 4), random_covariance(rng, 4)
  exact = scores.frechet_distance(mean1, cov1, mean2, cov2)
  estimate = scores.fid(gaussian(rng, 200_000, mean1, cov1), gaussian(rng, 200_000, mean2, cov2))
  assert estimate == pytest.approx(exact, rel=0.02)


def test_unbiased_mmd2_matches_a_direct_double_sum():
  rng = np.random.default_rng(3)
  x, y = rng.normal(size=(6, 3)), rng.normal(1.0, size=(5, 3))
  k = lambda a, b: (a @ b / 3 + 1.0) ** 3
  xx = sum(k(x[i], x[j]) for i in range(6) for j in range(6) if i != j) / (6 * 5)
  yy = sum(k(y[i], y[j]) for i in range(5) for j in range(5) if i != j) / (5 * 4)
  xy = sum(k(a, b) for a in x for b in y) / (6 * 5)
  assert scores.unbiased_mmd2(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_kid_is_near_zero_for_two_draws_of_one_distribution():
  rng = np.random.default_rng(4)
  cov = random_covariance(rng, 16)
  draws = [gaussian(rng, 2000, np.zeros(16), cov) for _ in range(2)]
  shifted = gaussian(rng, 2000, np.full(16, 0.3), cov)
  same_mean, same_std = scores.kid(*draws, subset_size=500, num_subsets=20)
  shifted_mean, _ = scores.kid(draws[0], shifted, subset_size=500, num_subsets=20)
  # Unbiased: the mean over subsets sits within noise of 0 (it can be negative), far below a real shift.
  assert abs(same_mean) < 3 * same_std
  assert abs(same_mean) < 0.05 * shifted_mean


def test_kid_of_small_sets_uses_all_of_them():
  x = np.random.default_rng(5).normal(size=(20, 4))
  mean, std = scores.kid(x, x + 1.0, subset_size=1000, num_subsets=3)
  assert mean == pytest.approx(scores.unbiased_mmd2(x, x + 1.0)) and std == pytest.approx(0.0, abs=1e-12)


def test_kth_neighbour_radii_skip_the_point_itself():
  points = np.array([[0.0], [1.0], [3.0], [7.0]])
  np.testing.assert_allclose(scores.kth_neighbour_radii(points, k=1), [1.0, 1.0, 2.0, 4.0])
  np.testing.assert_allclose(scores.kth_neighbour_radii(points, k=2), [3.0, 2.0, 3.0, 6.0])


def test_precision_and_recall_of_a_subset_and_of_a_shifted_set():
  rng = np.random.default_rng(6)
  real = rng.normal(size=(2000, 2))
  same = scores.precision_recall(real, real)
  # A generator that reproduces real images from one third of the space only (mode dropping).
  subset = scores.precision_recall(real, real[real[:, 0] < -0.43])
  far = scores.precision_recall(real, real + 100.0)
  assert same == (1.0, 1.0)
  assert subset[0] == 1.0 and 0.3 < subset[1] < 0.5
  assert far == (0.0, 0.0)


def test_precision_drops_for_a_half_shifted_set():
  rng = np.random.default_rng(7)
  real = rng.normal(size=(1000, 4))
  fake = np.concatenate([rng.normal(size=(500, 4)), rng.normal(size=(500, 4)) + 50.0])
  precision, recall = scores.precision_recall(real, fake)
  assert 0.4 < precision < 0.55 and recall > 0.8


def test_classifier_score_of_confident_predictions():
  one_hot = np.eye(10)[np.arange(1000) % 10]
  assert scores.classifier_score(one_hot) == pytest.approx(10.0)
  assert scores.classifier_score(np.tile(np.eye(10)[3], (100, 1))) == pytest.approx(1.0)
  assert scores.classifier_score(np.full((100, 10), 0.1)) == pytest.approx(1.0)


def test_mode_coverage_counts_classes_with_half_a_fair_share():
  predicted = np.array([0] * 50 + [1] * 45 + [2] * 4 + [3] * 1)  # shares .50 .45 .04 .01 of 4 classes
  coverage = scores.mode_coverage(predicted, num_classes=4)
  assert coverage == {"modes_covered": 2, "mode_coverage": 0.5, "max_class_share": 0.5,
                      "min_class_share": 0.01}
  assert scores.mode_coverage(np.full(10, 7), 10)["min_class_share"] == 0.0


def test_too_few_vectors_are_rejected_clearly():
  with pytest.raises(ValueError, match="at least 2"):
    scores.fid(np.zeros((1, 3)), np.zeros((5, 3)))
  with pytest.raises(ValueError, match="k=3"):
    scores.precision_recall(np.zeros((3, 2)), np.zeros((10, 2)))


def test_bootstrap_fid_resamples_the_samples_with_replacement():
  rng = np.random.default_rng(0)
  real, fake = rng.normal(size=(400, 4)), rng.normal(0.3, 1.0, size=(300, 4))
  fids = scores.bootstrap_fid(real, fake, 3, np.random.default_rng(5))
  draw = np.random.default_rng(5)
  expected = [scores.fid(real, fake[draw.integers(0, 300, 300)]) for _ in range(3)]
  np.testing.assert_allclose(fids, expected, rtol=1e-9)


def test_bootstrap_intervals_hold_the_estimate_and_narrow_with_more_samples():
  from zoo.metrics import evaluation
  rng = np.random.default_rng(1)
  real = rng.normal(size=(2000, 32))  # in many dimensions resampling's upward bias exceeds the spread
  widths = []
  for count in (200, 1600):
    fake = rng.normal(0.2, 1.0, size=(count, 32))
    intervals = evaluation.bootstrap_intervals(real, fake, 40, k=3)
    point = evaluation.score_features(real, fake, kid_subsets=2, k=3)
    assert intervals["fid"][0] < point["fid"] < intervals["fid"][1]
    assert intervals["recall"][0] <= point["recall"] <= intervals["recall"][1]
    widths.append(intervals["fid"][1] - intervals["fid"][0])
  assert widths[1] < widths[0] / 2  # ~1/sqrt(N): 8x the samples, about a third of the width
