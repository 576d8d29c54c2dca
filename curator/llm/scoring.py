"""Likelihood scoring: how probable each given answer is after a prompt, without generating.

For a batch of prompts, each with its own candidate answers, the prompts run once (left-padded, one
forward pass) and their key/value cache is shared by all of their candidates, which run together in a
second pass. A prompt of 500 tokens with 10 candidates of 5 tokens costs ~550 token positions instead
of ~5,050. Later stages decide with these scores (e.g. "is this item noise? yes/no").

Candidates are tokenized on their own, without special tokens: give prompts that end where the answer
starts (a chat prompt ends with the assistant header), so that the split between prompt and answer is a
token boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class CandidateScore:
    total: float  # log-probability of the whole candidate: sum over its tokens
    mean: float  # total / tokens, comparable across candidates of different lengths
    tokens: int


@torch.inference_mode()
def score_candidates(
    model, tokenizer, prompts: Sequence[str], candidates: Sequence[Sequence[str]]
) -> list[list[CandidateScore]]:
    """scores[p][c]: the score of candidates[p][c] as the continuation of prompts[p]. One batch: the caller
    splits long lists."""
    if len(prompts) != len(candidates):
        raise ValueError(f"{len(prompts)} prompts but {len(candidates)} candidate lists")
    if any(not options for options in candidates):
        raise ValueError("every prompt needs at least one candidate")
    device = model.device

    prompt = tokenizer(list(prompts), padding=True, add_special_tokens=False, return_tensors="pt").to(device)
    prompt_mask = prompt["attention_mask"]
    # Left padding: each row's positions count its real tokens only.
    positions = (prompt_mask.cumsum(-1) - 1).clamp(min=0)
    # Only the last position's logits are needed from the prompt pass (all of them would be B x P x vocab).
    first = model(
        input_ids=prompt["input_ids"],
        attention_mask=prompt_mask,
        position_ids=positions,
        use_cache=True,
        logits_to_keep=1,
    )

    # Row r of the candidate pass continues prompt owner[r].
    owner = torch.repeat_interleave(torch.arange(len(prompts)), torch.tensor([len(c) for c in candidates])).to(device)
    cache = first.past_key_values
    cache.batch_select_indices(owner)
    flat = [text for options in candidates for text in options]
    ids, mask = _right_padded(
        [tokenizer(text, add_special_tokens=False)["input_ids"] for text in flat], tokenizer.pad_token_id, device
    )
    start = prompt_mask.sum(-1)[owner]
    second = model(
        input_ids=ids,
        attention_mask=torch.cat([prompt_mask[owner], mask], dim=1),
        position_ids=start[:, None] + torch.arange(ids.shape[1], device=device),
        past_key_values=cache,
    )

    # Token t of a candidate is predicted by the position before it: the prompt's last one for t = 0.
    logits = torch.cat([first.logits[owner, -1:], second.logits[:, :-1]], dim=1).float()
    token_logprobs = logits.gather(-1, ids[..., None]).squeeze(-1) - logits.logsumexp(-1)
    totals = (token_logprobs * mask).sum(-1).tolist()
    counts = mask.sum(-1).tolist()

    scores, row = [], 0
    for options in candidates:
        scores.append(
            [CandidateScore(totals[r], totals[r] / counts[r], counts[r]) for r in range(row, row + len(options))]
        )
        row += len(options)
    return scores


def _right_padded(sequences: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    if any(not tokens for tokens in sequences):
        raise ValueError("a candidate is empty")
    width = max(len(tokens) for tokens in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, tokens in enumerate(sequences):
        ids[row, : len(tokens)] = torch.tensor(tokens)
        mask[row, : len(tokens)] = 1
    return ids.to(device), mask.to(device)
