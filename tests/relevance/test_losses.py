"""Each loss term against a direct computation, masks, and gradients."""
import math

import pytest
import torch
import torch.nn.functional as F

from flatsearch.jobsearch.relevance.losses import (LossWeights, composite_loss, grade_band_margin, in_batch_contrastive,
                                                   kl_to_frozen, listnet)


def test_listnet_matches_a_direct_cross_entropy():
    scores = torch.tensor([[0.5, 0.2, -0.1]])
    gains = torch.tensor([[4.0, 2.0, 0.0]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    target = torch.softmax(gains / 0.5, dim=-1)
    expected = -(target * torch.log_softmax(scores / 0.05, dim=-1)).sum()
    assert float(listnet(scores, gains, mask, temperature=0.05, teacher_temperature=0.5)) == pytest.approx(float(expected), rel=1e-6)


def test_padding_does_not_change_list_losses():
    scores = torch.tensor([[0.5, 0.2, 0.0]])
    gains = torch.tensor([[4.0, 2.0, 0.0]])
    frozen = torch.tensor([[0.4, 0.3, 0.0]])
    padded = (torch.tensor([[0.5, 0.2, 9.0]]), torch.tensor([[4.0, 2.0, 9.0]]), torch.tensor([[0.4, 0.3, -9.0]]))
    short = torch.tensor([[True, True, False]])
    two = (scores[:, :2], gains[:, :2], frozen[:, :2])
    full = torch.ones(1, 2, dtype=torch.bool)
    assert float(listnet(padded[0], padded[1], short, temperature=0.05, teacher_temperature=0.5)) == pytest.approx(
        float(listnet(two[0], two[1], full, temperature=0.05, teacher_temperature=0.5)), rel=1e-6)
    assert float(kl_to_frozen(padded[0], padded[2], short, temperature=0.05)) == pytest.approx(
        float(kl_to_frozen(two[0], two[2], full, temperature=0.05)), rel=1e-6, abs=1e-9)


def test_kl_to_frozen_is_zero_at_the_start_and_matches_torch():
    scores = torch.tensor([[0.5, 0.2, -0.1], [0.0, 0.1, 0.3]])
    mask = torch.ones(2, 3, dtype=torch.bool)
    assert float(kl_to_frozen(scores, scores.clone(), mask, temperature=0.05)) == pytest.approx(0.0, abs=1e-7)
    frozen = torch.tensor([[0.3, 0.3, 0.1], [0.2, 0.0, 0.1]])
    expected = F.kl_div(torch.log_softmax(scores / 0.05, -1), torch.softmax(frozen / 0.05, -1), reduction="batchmean")
    assert float(kl_to_frozen(scores, frozen, mask, temperature=0.05)) == pytest.approx(float(expected), rel=1e-5)


def test_grade_band_margin_counts_only_ordered_pairs_below_the_margin():
    scores = torch.tensor([[0.50, 0.45], [0.48, 0.10]])
    grades = torch.tensor([[4, 3], [2, 0]])
    mask = torch.ones(2, 2, dtype=torch.bool)
    # Pairs with g_i > g_j across the batch: (4,3) (4,2) (4,0) (3,2) (3,0) (2,0).
    gaps = [(0.50, 0.45, 1), (0.50, 0.48, 2), (0.50, 0.10, 4), (0.45, 0.48, 1), (0.45, 0.10, 3), (0.48, 0.10, 2)]
    expected = sum(max(0.0, 0.1 * g - (a - b)) for a, b, g in gaps) / len(gaps)
    assert float(grade_band_margin(scores, grades, mask, margin=0.1)) == pytest.approx(expected, rel=1e-5)
    assert float(grade_band_margin(scores, torch.full((2, 2), 3), mask, margin=0.1)) == 0.0


def test_contrastive_matches_cross_entropy_and_ignores_excluded_documents():
    queries = F.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), dim=-1)
    positives = F.normalize(torch.tensor([[0.9, 0.1], [0.1, 0.9]]), dim=-1)
    documents = F.normalize(torch.tensor([[1.0, 0.05]]), dim=-1)
    has = torch.tensor([True, True])
    logits = queries @ torch.cat([positives, documents]).T / 0.05
    expected = F.cross_entropy(logits, torch.arange(2))
    assert float(in_batch_contrastive(queries, positives, documents, has_positive=has, temperature=0.05)) == pytest.approx(float(expected), rel=1e-5)
    excluded = in_batch_contrastive(queries, positives, documents, has_positive=has, temperature=0.05,
                                    exclude=torch.tensor([[True], [False]]))
    assert float(excluded) < float(expected)  # the close extra document no longer competes with query 0's positive
    none = in_batch_contrastive(queries, positives, documents, has_positive=torch.tensor([False, False]), temperature=0.05)
    assert float(none) == 0.0


def test_composite_loss_backpropagates_into_embeddings():
    torch.manual_seed(0)
    queries = F.normalize(torch.randn(2, 8), dim=-1).requires_grad_()
    documents = F.normalize(torch.randn(2, 3, 8), dim=-1).requires_grad_()
    gains = torch.tensor([[4.0, 1.0, 0.0], [3.0, 2.0, 0.0]])
    grades = gains.round().long()
    mask = torch.tensor([[True, True, True], [True, True, False]])
    total, terms = composite_loss(queries, documents, teacher_gains=gains, grades=grades, frozen_scores=torch.zeros(2, 3), mask=mask,
                                  weights=LossWeights())
    total.backward()
    assert set(terms) == {"contrastive", "listnet", "kl_to_frozen", "calibration"}
    assert all(math.isfinite(v) for v in terms.values())
    assert queries.grad.abs().sum() > 0 and documents.grad[1, 2].abs().sum() == 0  # the padded slot gets no gradient
    weights = LossWeights()
    assert total.item() == pytest.approx(sum(getattr(weights, k) * v for k, v in terms.items()), rel=1e-5)


def test_loss_weights_reject_bad_values():
    with pytest.raises(ValueError, match="listnet"):
        LossWeights(listnet=-1)
    with pytest.raises(ValueError, match="temperature"):
        LossWeights(temperature=0)
