"""The metrics as pure numpy functions of feature arrays [N, D] and class probabilities [N, K].

Each follows its paper; tests/test_metrics.py checks them against direct computations.
"""
import numpy as np

KID_SUBSET_SIZE = 1000   # Binkowski et al. 2018 and TF-GAN use subsets of 1000
KID_NUM_SUBSETS = 100
PRECISION_RECALL_K = 3   # Kynkäänniemi et al. 2019 recommend k = 3
# A class counts as covered when it holds at least half of a uniform share: real MNIST, whose classes
# range from 9% to 11%, then covers all ten, while a generator that drops or starves a class does not.
COVERED_SHARE_OF_UNIFORM = 0.5


def mean_and_covariance(features):
  """float64 mean [D] and unbiased covariance [D, D] of features [N, D]."""
  features = np.asarray(features, np.float64)
  if features.ndim != 2 or len(features) < 2:
    raise ValueError(f"Need at least 2 feature vectors [N, D], got shape {features.shape}.")
  return features.mean(axis=0), np.cov(features, rowvar=False)


def _sqrt_psd(matrix):
  """Symmetric square root of a positive semi-definite matrix; round-off negatives become 0."""
  eigenvalues, eigenvectors = np.linalg.eigh(matrix)
  return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def frechet_distance(mean1, cov1, mean2, cov2) -> float:
  """||m1 - m2||^2 + Tr(C1 + C2 - 2 (C1 C2)^(1/2)): the Fréchet distance of two Gaussians.

  Tr((C1 C2)^(1/2)) is read off the eigenvalues of the symmetric PSD matrix C1^(1/2) C2 C1^(1/2), which
  has the same eigenvalues as C1 C2; unlike scipy's general `sqrtm` this never goes complex.
  """
  mean1, mean2 = np.asarray(mean1, np.float64), np.asarray(mean2, np.float64)
  cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
  root1 = _sqrt_psd(cov1)
  product_eigenvalues = np.linalg.eigvalsh(root1 @ cov2 @ root1)
  trace_sqrt_product = np.sum(np.sqrt(np.clip(product_eigenvalues, 0.0, None)))
  difference = mean1 - mean2
  distance = difference @ difference + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_sqrt_product
  return float(max(distance, 0.0))


def fid(features1, features2) -> float:
  """Fréchet distance between Gaussians fitted to two feature sets [N, D] and [M, D]."""
  return frechet_distance(*mean_and_covariance(features1), *mean_and_covariance(features2))


def bootstrap_fid(real, fake, resamples, rng) -> np.ndarray:
  """FIDs [resamples] of `fake` [M, D] drawn with replacement, each against all of `real` [N, D].

  The reference's covariance root is computed once: the same sum as `frechet_distance`, term by term.
  """
  real_mean, real_cov = mean_and_covariance(real)
  root = _sqrt_psd(real_cov)
  fake = np.asarray(fake, np.float64)
  distances = np.empty(resamples)
  for index in range(resamples):
    mean, cov = mean_and_covariance(fake[rng.integers(0, len(fake), len(fake))])
    product_eigenvalues = np.linalg.eigvalsh(root @ cov @ root)
    difference = real_mean - mean
    distance = (difference @ difference + np.trace(real_cov) + np.trace(cov)
                - 2.0 * np.sum(np.sqrt(np.clip(product_eigenvalues, 0.0, None))))
    distances[index] = max(distance, 0.0)
  return distances


def polynomial_kernel(x, y):
  """k(x, y) = (x.y / D + 1)^3, the kernel of KID (Binkowski et al. 2018)."""
  return (x @ y.T / x.shape[1] + 1.0) ** 3


def unbiased_mmd2(x, y) -> float:
  """Unbiased estimate of the squared MMD between samples x [m, D] and y [n, D] (diagonals dropped)."""
  m, n = len(x), len(y)
  k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
  within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
  within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
  return float(within_x + within_y - 2.0 * k_xy.mean())


def kid(features1, features2, subset_size=KID_SUBSET_SIZE, num_subsets=KID_NUM_SUBSETS, seed=0):
  """KID: (mean, std) of the unbiased MMD^2 over random subsets (without replacement within one).

  Subsets hold min(subset_size, N, M) vectors, so small sets still give an unbiased estimate.
  """
  features1, features2 = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
  size = min(subset_size, len(features1), len(features2))
  if size < 2:
    raise ValueError(f"KID needs at least 2 vectors per set, got {len(features1)} and {len(features2)}.")
  rng = np.random.default_rng(seed)
  estimates = [unbiased_mmd2(features1[rng.choice(len(features1), size, replace=False)],
                             features2[rng.choice(len(features2), size, replace=False)])
               for _ in range(num_subsets)]
  return float(np.mean(estimates)), float(np.std(estimates))


def pairwise_distances(x, y):
  """Euclidean distances [len(x), len(y)], through the Gram matrix (float64 keeps it exact enough)."""
  squared = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T
  return np.sqrt(np.clip(squared, 0.0, None))


def _row_blocks(count, block=2000):
  return (slice(start, min(start + block, count)) for start in range(0, count, block))


def kth_neighbour_radii(features, k=PRECISION_RECALL_K):
  """Distance from each vector to its k-th nearest neighbour in the same set, itself excluded."""
  if len(features) <= k:
    raise ValueError(f"A k-NN manifold with k={k} needs more than {k} vectors, got {len(features)}.")
  radii = np.empty(len(features))
  for rows in _row_blocks(len(features)):
    distances = pairwise_distances(features[rows], features)
    # Index 0 of each sorted row is the vector itself (distance 0), so the k-th neighbour is index k.
    radii[rows] = np.partition(distances, k, axis=1)[:, k]
  return radii


def inside_manifold(queries, manifold, radii) -> np.ndarray:
  """bool [len(queries)]: whether each query lies inside at least one ball (manifold[i], radii[i])."""
  queries, manifold = np.asarray(queries, np.float64), np.asarray(manifold, np.float64)
  inside = np.zeros(len(queries), bool)
  for rows in _row_blocks(len(queries)):
    inside[rows] = (pairwise_distances(queries[rows], manifold) <= radii[None, :]).any(axis=1)
  return inside


def fraction_inside_manifold(queries, manifold, radii):
  """Share of `queries` that lie inside at least one ball (manifold[i], radii[i])."""
  return float(inside_manifold(queries, manifold, radii).mean())


def precision_recall(real, fake, k=PRECISION_RECALL_K):
  """Improved precision and recall (Kynkäänniemi et al. 2019) of `fake` against `real` features.

  Precision: share of fake vectors inside the real k-NN manifold (quality). Recall: share of real
  vectors inside the fake manifold (diversity).
  """
  real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
  precision = fraction_inside_manifold(fake, real, kth_neighbour_radii(real, k))
  recall = fraction_inside_manifold(real, fake, kth_neighbour_radii(fake, k))
  return precision, recall


def classifier_score(probabilities) -> float:
  """exp(E_x KL(p(y|x) || p(y))): the Inception score computed with the domain classifier.

  1 when every sample gets the same prediction, up to the number of classes for confident, balanced
  predictions.
  """
  p = np.asarray(probabilities, np.float64)
  marginal = p.mean(axis=0, keepdims=True)
  tiny = np.finfo(np.float64).tiny  # 0 log 0 = 0
  kl = np.sum(p * (np.log(np.maximum(p, tiny)) - np.log(np.maximum(marginal, tiny))), axis=1)
  return float(np.exp(kl.mean()))


def mode_coverage(predicted_classes, num_classes):
  """Predicted-class histogram summary: classes covered (see COVERED_SHARE_OF_UNIFORM), max/min share."""
  counts = np.bincount(np.asarray(predicted_classes), minlength=num_classes)
  shares = counts / counts.sum()
  covered = int(np.sum(shares >= COVERED_SHARE_OF_UNIFORM / num_classes))
  return {"modes_covered": covered, "mode_coverage": covered / num_classes,
          "max_class_share": float(shares.max()), "min_class_share": float(shares.min())}
