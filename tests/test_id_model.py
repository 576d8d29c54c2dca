"""The ID model: the bidirectional item transformer (recsys.models.item_electra), its cross-fitted noise
scores and cloze proposals (curator.denoise.id_model), on a tiny dataset whose noise only sequence evidence can
find; the fold models an adapter carries, read against another dataset's catalog."""

import numpy as np
import pytest
import torch

from curator.data.collaborative import training_interactions
from curator.denoise.baselines import BASELINES
from curator.denoise.config import BASELINE_NAMES, TEXT_BASELINE, IdModelConfig
from curator.denoise.denoiser import load_denoiser
from curator.denoise.id_model import IdModels, cross_fitted, id_model_scores, user_folds, windows
from curator.errors import InputError
from curator.evaluation.detection import auroc
from curator.llm.adapters import adapter_folder
from recsys.models.item_electra import ItemElectra, ItemElectraConfig

from builders import tiny_dataset
from conftest import run_cli


def test_every_position_reads_the_whole_window_and_padding_changes_nothing():
    torch.manual_seed(0)
    model = ItemElectra(ItemElectraConfig(num_items=20, max_len=8, hidden=16, heads=2)).eval()
    items = torch.tensor([[3, 4, 5, 6, 0, 0]])
    later_changed = torch.tensor([[3, 4, 5, 7, 0, 0]])
    with torch.no_grad():
        hidden = model(items)
        assert hidden.shape == (1, 6, 16)
        assert not torch.allclose(hidden[0, 0], model(later_changed)[0, 0])  # not causal: the first sees the last
        assert torch.allclose(hidden[0, :4], model(items[:, :4])[0], atol=1e-5)  # right padding is invisible
        assert torch.all(hidden[0, 4:] == 0)
        assert model.noise_logits(hidden).shape == (1, 6)
        assert model.cloze_logits(hidden[0, :2]).shape == (2, 20)


def test_windows_cover_a_sequence_in_order():
    assert windows(5, 2) == [slice(0, 2), slice(2, 4), slice(4, 5)]
    assert windows(2, 8) == [slice(0, 2)]


def two_tastes(path, users=160, length=12, planted=40):
    """Users of two disjoint tastes (items a* or b*, popularity alike); the first `planted` users have one
    item of the other taste at position 4: noise that only the sequence around it gives away."""
    rng = np.random.default_rng(0)
    sequences, noise = {}, set()
    for k in range(users):
        own, other = ("a", "b") if k % 2 else ("b", "a")
        items = [f"{own}{i}" for i in rng.choice(30, size=length, replace=False)]
        if k < planted:
            items[4] = f"{other}{rng.integers(30)}"
            noise.add((f"u{k:03d}", 4))
        sequences[f"u{k:03d}"] = items
    return tiny_dataset(path, sequences), noise


def test_cross_fitted_scores_find_noise_that_breaks_the_sequence(tmp_path):
    dataset, noise = two_tastes(tmp_path / "two")
    train = training_interactions(dataset)
    config = IdModelConfig(hidden=32, layers=1, steps=150, batch_windows=32, learning_rate=1e-2, folds=2, seed=3)
    scores = id_model_scores(train, config)
    users = np.array(dataset.users["user_id"].to_pylist())[train.user]
    truth = np.array([(u, int(p)) in noise for u, p in zip(users, train.position)])
    assert truth.sum() == 40 and scores.shape == truth.shape and np.all((scores >= 0) & (scores <= 1))
    assert auroc(truth, scores) > 0.9
    assert np.array_equal(scores, id_model_scores(train, config))  # every random choice follows the seed


def test_every_baseline_is_named_in_evaluate_help_and_computed_by_name():
    result = run_cli("evaluate", "--help")
    assert result.exit_code == 0
    help_text = " ".join(result.output.replace("│", " ").split())
    for name in BASELINE_NAMES:
        assert name in help_text, name
    assert set(BASELINE_NAMES) == {*BASELINES, TEXT_BASELINE}


def test_data_without_sequences_to_learn_from_is_a_clear_error(tmp_path):
    dataset = tiny_dataset(tmp_path / "short", {"u1": ["a", "b", "c"], "u2": ["b", "c", "d"]})  # 1 training item each
    with pytest.raises(InputError, match="at least 2 training items"):
        id_model_scores(training_interactions(dataset), IdModelConfig(steps=1))


def test_the_cloze_head_proposes_the_users_taste_at_a_swapped_position(tmp_path):
    dataset, _ = two_tastes(tmp_path / "two", planted=0)
    train = training_interactions(dataset)
    config = IdModelConfig(hidden=32, layers=1, steps=150, batch_windows=32, learning_rate=1e-2, folds=2, seed=3)
    user_ids = dataset.users["user_id"].to_pylist()
    models = IdModels(cross_fitted(train, user_folds(user_ids, 2), config), dataset.items["item_id"].to_pylist())
    evidence = models.reading(dataset.items["item_id"].to_pylist(), user_ids)
    item_ids = np.array(dataset.items["item_id"].to_pylist())
    sequences = train.sequences()
    right = 0
    for user in range(40):
        items = sequences[user].copy()
        taste = item_ids[items[0]][0]
        items[4] = int(np.flatnonzero(np.char.startswith(item_ids, "b" if taste == "a" else "a"))[user % 30])
        log_probs = evidence.cloze_log_probs(user, items, 4)
        best = item_ids[np.argsort(-log_probs)[:10]]
        right += all(item[0] == taste for item in best)
    assert right >= 36  # the ten best proposals are of the user's own taste, not the swapped-in item's


def test_the_fold_models_travel_with_the_adapter_and_unknown_items_enter_masked(tmp_path):
    torch.manual_seed(0)
    config = ItemElectraConfig(num_items=4, max_len=8, hidden=16, heads=2)
    models = IdModels([ItemElectra(config).eval(), ItemElectra(config).eval()], ["a", "b", "c", "d"])
    models.save(tmp_path)
    loaded = IdModels.load(tmp_path)
    assert loaded.item_ids == ["a", "b", "c", "d"] and len(loaded.models) == 2
    # Another dataset: its items in another order, one ("z") the models never saw.
    evidence = loaded.reading(["c", "z", "a"], ["u1", "u2"])
    assert evidence.tokens.tolist() == [3, config.mask_token, 1]
    assert np.array_equal(evidence.fold_of_user, user_folds(["u1", "u2"], 2))
    (features,) = evidence.features([0], [np.array([0, 1, 2])])
    assert features.shape == (3, 2) and np.isclose(features[:, 1].mean(), 0, atol=1e-6)
    with torch.no_grad():
        direct = models.models[evidence.fold_of_user[0]]
        expected = direct.noise_logits(direct(torch.tensor([[3, config.mask_token, 1]])))[0].numpy()
    assert np.allclose(features[:, 0], expected, atol=1e-5)  # the loaded weights are the saved ones
    log_probs = evidence.cloze_log_probs(1, np.array([0, 1, 2]), 2)
    assert log_probs.shape == (3,) and log_probs[1] == log_probs.min()  # the unknown item is never preferred


def test_an_adapter_made_before_the_id_model_loads_as_it_was():
    denoiser = load_denoiser(adapter_folder("denoise-ml100k"), state_dim=576)  # SmolLM2-135M's hidden size
    assert not denoiser.config.use_id_model and denoiser.id_models is None
    assert denoiser.ranker.weights.shape == (4,) and denoiser.evidence(["1"], ["1"]) is None
