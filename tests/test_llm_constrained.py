"""Constrained decoding: whatever the model's weights, every answer is the JSON object the shape describes."""

import json

import pytest
import torch

from curator.errors import OptionError
from curator.llm.constrained import NOT_IN_STRING, JsonStrings, _vocabulary
from curator.llm.generation import DecodingSettings

from conftest import tiny_engine, tiny_llama

SHAPE = JsonStrings(fields=("summary", "reasoning"), min_words=3)
PROMPTS = [
    "Toy Story",
    "GoldenEye is an action adventure thriller with James Bond and a much longer prompt than the others.",
    'A title with "quotes", a \\ backslash and\na newline',
    'Reply with {"summary":',
]


def chat(engine, text, shape=SHAPE):
    return engine.chat_prompt("You write profiles.", text, response_prefix=shape.prefix)


def biased_engine(tokenizer, seed, bias):
    """A random tiny Llama whose output layer adds `bias(token, text)` to each token's score."""
    model = tiny_llama(tokenizer, seed=seed)
    head = torch.nn.Linear(model.lm_head.in_features, model.lm_head.out_features, bias=True)
    head.weight.data.copy_(model.lm_head.weight.data)
    texts = tokenizer.batch_decode([[token] for token in range(len(tokenizer))])
    head.bias.data.copy_(torch.tensor([float(bias(token, text)) for token, text in enumerate(texts)]))
    model.lm_head = head
    return tiny_engine(model, tokenizer)


def hostile_engine(tokenizer, seed):
    """Prefers what breaks JSON: quotes, backslashes, newlines, braces, special tokens."""

    def breaks_json(token, text):
        return token in tokenizer.added_tokens_decoder or not NOT_IN_STRING.isdisjoint(text) or "}" in text

    return biased_engine(tokenizer, seed, lambda token, text: 10 * breaks_json(token, text))


def assert_shaped(generation, shape, max_new_tokens):
    value = json.loads(shape.prefix + generation.text)
    assert list(value) == list(shape.fields) and all(isinstance(text, str) for text in value.values())
    assert 0 < generation.new_tokens <= max_new_tokens
    if not generation.cut:
        assert all(len(text.split()) >= shape.min_words for text in value.values())
    return value


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_every_answer_parses_even_from_a_model_that_prefers_breaking_json(tokenizer, seed, temperature):
    for engine in (tiny_engine(tiny_llama(tokenizer, seed=seed), tokenizer), hostile_engine(tokenizer, seed)):
        settings = DecodingSettings(max_new_tokens=60, temperature=temperature, constraint=SHAPE)
        for generation in engine.generate([chat(engine, p) for p in PROMPTS], settings, batch_size=3, seed=seed):
            assert_shaped(generation, SHAPE, 60)


def test_a_model_that_closes_its_strings_early_still_writes_the_words_they_need(tokenizer):
    # Prefers quotes, then words: it closes each string as soon as the shape lets it.
    engine = biased_engine(tokenizer, 0, lambda token, text: 20 if '"' in text else 10 * text.startswith(" "))
    generations = engine.generate(
        [chat(engine, p) for p in PROMPTS], DecodingSettings(max_new_tokens=60, constraint=SHAPE), batch_size=4
    )
    for generation in generations:
        assert not generation.cut and generation.text.endswith('"}')
        assert_shaped(generation, SHAPE, 60)


def test_a_field_still_open_at_its_budget_is_closed_and_reported_as_cut(tokenizer):
    engine = hostile_engine(tokenizer, seed=0)
    budget = 40  # little room beyond the skeleton: both fields run out of tokens
    generations = engine.generate(
        [chat(engine, p) for p in PROMPTS], DecodingSettings(max_new_tokens=budget, constraint=SHAPE), batch_size=4
    )
    assert any(generation.cut for generation in generations)
    for generation in generations:
        assert_shaped(generation, SHAPE, budget)


def test_constrained_batches_give_what_one_prompt_at_a_time_gives(engine):
    prompts = [chat(engine, p) for p in PROMPTS]
    settings = DecodingSettings(max_new_tokens=50, constraint=SHAPE)
    batched = engine.generate(prompts, settings, batch_size=4)
    assert batched == [engine.generate([p], settings, batch_size=1)[0] for p in prompts]


def test_a_lead_starts_the_first_field_and_counts_towards_its_words(engine):
    shape = JsonStrings.from_prefix('{"summary": "The user', ("summary", "reasoning"), min_words=4)
    assert shape.lead == "The user" and shape.prefix == '{"summary": "The user'
    generations = engine.generate(
        [chat(engine, p, shape) for p in PROMPTS], DecodingSettings(max_new_tokens=60, constraint=shape), batch_size=2
    )
    for generation in generations:
        assert assert_shaped(generation, shape, 60)["summary"].startswith("The user")


def test_the_prompt_must_end_where_the_answer_begins(engine):
    with pytest.raises(ValueError, match="end every prompt"):
        engine.generate([engine.chat_prompt("s", "u")], DecodingSettings(constraint=SHAPE), batch_size=1)
    with pytest.raises(ValueError, match="plain text"):
        JsonStrings.from_prefix('{"summary": "a "quote', ("summary",))
    with pytest.raises(ValueError, match="begins with"):
        JsonStrings.from_prefix('{"other": "', ("summary",))


def test_too_few_new_tokens_for_the_skeleton_is_an_option_error(engine):
    with pytest.raises(OptionError, match="--max-new-tokens 6 leaves no room"):
        engine.generate([chat(engine, "x")], DecodingSettings(max_new_tokens=6, constraint=SHAPE), batch_size=1)


def test_tokens_allowed_inside_a_string_hold_nothing_that_ends_or_escapes_it(tokenizer):
    vocabulary = _vocabulary(tokenizer)
    allowed = [text for token, text in enumerate(vocabulary.texts) if vocabulary.in_string[token]]
    assert allowed and all(NOT_IN_STRING.isdisjoint(text) for text in allowed)
    assert not any(vocabulary.in_string[token] for token in tokenizer.added_tokens_decoder)
