import torch
import torch.nn.functional as F

from recsys import loss as loss_module
from recsys.loss import projected_cross_entropy


def reference(hidden, weight, targets, row_weights):
    logits = hidden @ weight.T
    logits[:, 0] = float("-inf")
    per_row = F.cross_entropy(logits, targets, reduction="none")
    return (per_row * row_weights).sum() / row_weights.sum()


def test_fused_loss_and_gradients_match_plain_cross_entropy(monkeypatch):
    monkeypatch.setattr(loss_module, "CHUNK_ELEMENTS", 7 * 50)  # 7 rows a chunk: several, the last partial
    torch.manual_seed(0)
    hidden = torch.randn(30, 8, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(50, 8, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(1, 50, (30,))
    row_weights = torch.rand(30, dtype=torch.float64)

    fused = projected_cross_entropy(hidden, weight, targets, row_weights)
    grads = torch.autograd.grad(2.0 * fused, (hidden, weight))
    plain = reference(hidden, weight, targets, row_weights)
    expected = torch.autograd.grad(2.0 * plain, (hidden, weight))

    assert torch.allclose(fused, plain)
    for got, want in zip(grads, expected):
        assert torch.allclose(got, want)


def test_zero_weight_rows_do_not_contribute():
    torch.manual_seed(1)
    hidden = torch.randn(4, 8, requires_grad=True)
    weight = torch.randn(20, 8)
    targets = torch.tensor([1, 2, 3, 4])
    masked = projected_cross_entropy(hidden, weight, targets, torch.tensor([1.0, 1.0, 0.0, 0.0]))
    kept = projected_cross_entropy(hidden[:2], weight, targets[:2], torch.ones(2))
    assert torch.allclose(masked, kept)
    (grad,) = torch.autograd.grad(masked, hidden)
    assert torch.count_nonzero(grad[2:]) == 0
