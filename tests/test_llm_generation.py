"""Batched generation gives what one-prompt-at-a-time generation gives; sampling follows the seed."""

from curator.llm.generation import DecodingSettings, length_batches

PROMPTS = [
    "Toy Story",
    "GoldenEye is an action adventure thriller with James Bond and a much longer prompt than the others.",
    "The user enjoys comedies",
    "You write profiles.",
    'Reply with {"summary":',
]


def chat(engine, text):
    return engine.chat_prompt("You write profiles.", text, response_prefix='{"summary": "')


def test_batched_greedy_equals_unbatched(engine):
    prompts = [chat(engine, p) for p in PROMPTS]
    settings = DecodingSettings(max_new_tokens=12)
    batched = engine.generate(prompts, settings, batch_size=4)
    one_by_one = [engine.generate([p], settings, batch_size=1)[0] for p in prompts]
    assert batched == one_by_one
    assert all(0 < g.new_tokens <= 12 for g in batched)


def test_sampling_follows_the_seed(engine):
    prompts = [chat(engine, p) for p in PROMPTS]
    settings = DecodingSettings(max_new_tokens=10, temperature=1.0)
    first = engine.generate(prompts, settings, batch_size=2, seed=7)
    assert engine.generate(prompts, settings, batch_size=2, seed=7) == first
    assert engine.generate(prompts, settings, batch_size=2, seed=8) != first


def test_a_stop_string_ends_the_answer_where_it_appears(engine):
    prompt = chat(engine, PROMPTS[0])
    free = engine.generate([prompt], DecodingSettings(max_new_tokens=30), batch_size=1)[0]
    stop = free.text[10:12]  # a string the free answer contains, well before its end
    cut = free.text.index(stop) + len(stop)
    stopped = engine.generate([prompt], DecodingSettings(max_new_tokens=30, stop_strings=(stop,)), batch_size=1)[0]
    # The answer ends with the token that completes the stop string (a token may reach a little past it).
    assert free.text.startswith(stopped.text) and cut <= len(stopped.text) < len(free.text)
    assert stopped.new_tokens < free.new_tokens
    assert free.cut and not stopped.cut  # the token limit ended the free answer, not the stopped one


def test_length_batches_sort_by_length_and_keep_every_index():
    batches = length_batches([5, 1, 9, 1, 3], batch_size=2)
    assert batches == [[1, 3], [4, 0], [2]]
