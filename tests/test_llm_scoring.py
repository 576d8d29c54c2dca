"""Scoring candidates in one batched pass with a shared prompt cache equals scoring each one on its own."""

import pytest
import torch

from curator.llm.scoring import score_candidates


def separate_score(engine, prompt, candidate):
    """Reference: one unpadded forward pass over prompt + candidate."""
    tokenizer, model = engine.tokenizer, engine.model
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    candidate_ids = tokenizer(candidate, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt_ids + candidate_ids])
    with torch.inference_mode():
        logprobs = model(input_ids=ids).logits[0].log_softmax(-1)
    start = len(prompt_ids)
    return sum(logprobs[start + t - 1, token].item() for t, token in enumerate(candidate_ids)), len(candidate_ids)


def test_one_pass_equals_each_candidate_alone(engine):
    prompts = [
        engine.chat_prompt("Is this item noise?", "Toy Story, GoldenEye"),
        engine.chat_prompt("Is this item noise?", "a much longer history of comedies and thrillers " * 3),
    ]
    candidates = [["yes", "no", "The user enjoys comedies"], ["no"]]
    scores = score_candidates(engine.model, engine.tokenizer, prompts, candidates)
    assert [len(s) for s in scores] == [3, 1]
    for prompt, options, row in zip(prompts, candidates, scores):
        for candidate, score in zip(options, row):
            total, tokens = separate_score(engine, prompt, candidate)
            assert score.tokens == tokens
            assert score.total == pytest.approx(total, abs=1e-4)
            assert score.mean == pytest.approx(total / tokens, abs=1e-4)


def test_empty_candidate_lists_are_rejected(engine):
    with pytest.raises(ValueError):
        score_candidates(engine.model, engine.tokenizer, ["a"], [[]])
