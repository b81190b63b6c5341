"""The five relevance grades and the probability distributions over them.

A grader answers with a distribution over ``GRADES`` (lowest first), not a single
label: the spread says how sure it is, and the student learns from all of it.
"""
from __future__ import annotations

import numpy as np

from ..student import GRADE_VALUES, GRADES, NUM_GRADES  # noqa: F401 (re-exported) the scale the serving student predicts


def grade_distribution(points: np.ndarray, *, spread: float = 0.5) -> np.ndarray:
    """A distribution over the grades centred on continuous grade points (0 = Bad ... 4 = Excellent).

    Each grade g gets weight ``exp(-(g - points)^2 / (2 spread^2))``; a small spread
    means a confident grade.

    Example:
        >>> grade_distribution(np.array([4.0, 1.5])).argmax(axis=1).tolist()
        [4, 1]
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 1:
        raise ValueError(f"points: expected a 1-d array of grade points, got shape {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError("points: expected finite grade points, got NaN or infinity")
    if not spread > 0:
        raise ValueError(f"spread: expected a positive number, got {spread!r}")
    logits = -((GRADE_VALUES[None, :] - points[:, None]) ** 2) / (2 * spread**2)
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


def check_distribution(distribution: np.ndarray, *, name: str = "distribution") -> np.ndarray:
    """Validate an (n, 5) array of probabilities (rows summing to 1) and return it as float64."""
    array = np.asarray(distribution, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != NUM_GRADES:
        raise ValueError(f"{name}: expected shape (n, {NUM_GRADES}), got {array.shape}")
    if not np.isfinite(array).all() or (array < 0).any():
        raise ValueError(f"{name}: expected finite non-negative probabilities")
    sums = array.sum(axis=1)
    if array.shape[0] and not np.allclose(sums, 1.0, atol=1e-4):
        worst = int(np.argmax(np.abs(sums - 1)))
        raise ValueError(f"{name}: expected rows summing to 1, got row {worst} summing to {sums[worst]:.6f}")
    return array


def expected_grade(distribution: np.ndarray) -> np.ndarray:
    """The mean grade of each row: a ranking score in [0, 4].

    Example:
        >>> expected_grade(np.array([[0, 0, 0.5, 0.5, 0]])).tolist()
        [2.5]
    """
    return np.asarray(distribution, dtype=np.float64) @ GRADE_VALUES


def hard_grade(distribution: np.ndarray) -> np.ndarray:
    """The most likely grade of each row (ties go to the lower grade)."""
    return np.asarray(distribution).argmax(axis=1).astype(np.int64)
