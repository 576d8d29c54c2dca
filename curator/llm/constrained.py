"""Constrained decoding of a flat JSON object of strings, `{"summary": "...", "reasoning": "..."}`.

Small models lose the shape of a JSON answer (they add keys, forget the second field, write prose after
it). Here the model writes only the contents of the strings; the JSON around them is fixed:

- the prompt ends with the object's opening, `{"summary": "`, and maybe the first words of the first
  string (`JsonStrings.prefix`), so the model starts inside the first string;
- inside a string, a token is allowed when its text can stand there as it is: no quote, no backslash, no
  control character (a newline would be invalid JSON), no special token;
- a token whose text is such text, then one `"`, then the start of what must follow (`",` or `."` or
  `"}`) closes the string, once the string holds `min_words` words and unless the quote follows a space:
  there the model means to open a quotation (`the genre of "Drama"`), and taking that quote as the
  close would end the string mid-sentence, so it is not allowed (the model writes the words unquoted);
- after the closing quote, the rest of the skeleton (`, "reasoning": "`, or `}` and the end-of-sequence
  token) is forced token by token.

Every field also has a token budget, so that the whole object fits in `max_new_tokens`: the fields share
what the skeleton leaves, a field gets an equal part of what is left when it starts, and a field still open
when its budget runs out is closed where it stands (and reported as cut). So every answer parses, whatever
the model's weights; whether it is a good profile is the schema's business.

Implemented as a transformers `LogitsProcessor`, which `generate` applies before temperature and top-p:
disallowed tokens get a score of -inf, so greedy decoding and sampling both pick an allowed one.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field

import torch
from transformers import LogitsProcessor

from curator.errors import OptionError

QUOTE = '"'
# Text that cannot stand unescaped inside a JSON string, or that would begin an escape sequence.
NOT_IN_STRING = frozenset({QUOTE, "\\", *map(chr, range(0x20))})


@dataclass(frozen=True)
class JsonStrings:
    """The answer's shape: a JSON object with these string fields, in this order."""

    fields: tuple[str, ...]
    min_words: int = 1  # a string cannot close before it holds this many words (`lead` included)
    # The first string's first words, written for the model: told to begin with "The user", a small model
    # writes about the user rather than copying the item summaries its prompt shows.
    lead: str = ""

    @classmethod
    def from_prefix(cls, prefix: str, fields: tuple[str, ...], min_words: int = 1) -> JsonStrings:
        """The shape of an answer that begins with `prefix`: the object's opening, then maybe a lead."""
        opening = cls(fields).prefix
        lead = prefix.removeprefix(opening)
        if not prefix.startswith(opening) or not NOT_IN_STRING.isdisjoint(lead):
            raise ValueError(f"an answer of fields {fields} begins with {opening!r} and plain text, not {prefix!r}")
        return cls(fields, min_words, lead)

    @property
    def prefix(self) -> str:
        """What the prompt ends with: the object's opening and the lead (the model continues the first string)."""
        return "{" + json.dumps(self.fields[0]) + ': "' + self.lead

    def after(self, index: int) -> str:
        """The text that follows the closing quote of field `index`."""
        if index + 1 < len(self.fields):
            return ", " + json.dumps(self.fields[index + 1]) + ': "'
        return "}"


@dataclass(frozen=True)
class _FieldTokens:
    """For one field: the tokens that close it, and the forced tokens that follow each way of closing it."""

    closing: torch.Tensor  # bool [vocab]: text that stands in a string, '"', then a start of `after`
    closing_with_text: torch.Tensor  # bool [vocab]: the closing tokens with text before their quote
    consumed: dict[int, int]  # closing token -> characters of `after` it already holds
    rest: tuple[tuple[int, ...], ...]  # rest[j]: token ids of `after` without its first j characters
    forced_close: tuple[int, ...]  # a '"' and all of `after`: what closes the field when its budget runs out

    def closing_after(self, text: str) -> torch.Tensor:
        """The tokens that can close a string holding `text`: none puts its quote right after a space."""
        return self.closing_with_text if not text or text[-1].isspace() else self.closing

    @property
    def reserve(self) -> int:
        """Forced tokens after this field's text, at most, however it closes."""
        return max([len(self.forced_close), *(len(self.rest[j]) for j in self.consumed.values())])


@dataclass(frozen=True)
class _Vocabulary:
    """What each token of a tokenizer may do inside a JSON string."""

    texts: tuple[str, ...]  # each token's text, decoded alone
    special: frozenset[int]  # special and added tokens (<|im_end|>, ...): never part of a string
    in_string: torch.Tensor  # bool [vocab]: the token's text can stand inside a string as it is
    heads: tuple[str, ...]  # what each token adds to a string: its text (a closing token's: up to the quote)


@functools.lru_cache(maxsize=4)
def _vocabulary(tokenizer) -> _Vocabulary:
    # Decoded one token at a time; a byte-level token holding part of a multi-byte character decodes to
    # U+FFFD, which is harmless: the bytes of a multi-byte character are never a quote, backslash or control.
    texts = tuple(
        tokenizer.batch_decode(
            [[token] for token in range(len(tokenizer))], skip_special_tokens=False, clean_up_tokenization_spaces=False
        )
    )
    special = frozenset(tokenizer.added_tokens_decoder)
    in_string = torch.tensor(
        [bool(text) and token not in special and NOT_IN_STRING.isdisjoint(text) for token, text in enumerate(texts)]
    )
    heads = tuple(text.split(QUOTE, 1)[0] for text in texts)
    return _Vocabulary(texts, special, in_string, heads)


@functools.lru_cache(maxsize=16)
def _field_tokens(tokenizer, after: str) -> _FieldTokens:
    vocabulary = _vocabulary(tokenizer)
    consumed = {}
    for token, text in enumerate(vocabulary.texts):
        head, quote, tail = text.partition(QUOTE)
        if (
            quote
            and token not in vocabulary.special
            and NOT_IN_STRING.isdisjoint(head)
            and not head[-1:].isspace()
            and after.startswith(tail)
        ):
            consumed[token] = len(tail)
    closing = torch.zeros(len(vocabulary.texts), dtype=torch.bool)
    closing[list(consumed)] = True
    closing_with_text = closing.clone()
    closing_with_text[[token for token in consumed if not vocabulary.heads[token]]] = False
    encode = lambda text: tuple(tokenizer.encode(text, add_special_tokens=False))  # noqa: E731
    return _FieldTokens(
        closing=closing,
        closing_with_text=closing_with_text,
        consumed=consumed,
        rest=tuple(encode(after[j:]) for j in range(len(after) + 1)),
        forced_close=encode(QUOTE + after),
    )


@dataclass
class _Row:
    field_index: int = 0  # the field being written (or closed by `forced`)
    text: str = ""  # the field's text so far
    free_used: int = 0  # tokens the model chose itself, over all fields
    field_limit: int = 0  # value of free_used at which the field is closed by force
    forced: list[int] = field(default_factory=list)  # tokens still to force, in order
    cut: bool = False  # a field was closed by its budget
    done: bool = False


class JsonStringsProcessor(LogitsProcessor):
    """Keeps each row of one `generate` call inside `shape`; see the module's docstring.

    Made for one batch: it follows each row from the tokens `generate` appends, one step at a time.
    """

    def __init__(
        self, shape: JsonStrings, tokenizer, end_id: int, prompt_length: int, max_new_tokens: int, batch_size: int
    ):
        self.shape, self.end_id, self.prompt_length = shape, end_id, prompt_length
        self.vocabulary = _vocabulary(tokenizer)
        self.fields = [_field_tokens(tokenizer, shape.after(index)) for index in range(len(shape.fields))]
        reserve = sum(tokens.reserve for tokens in self.fields) + 1  # + the end-of-sequence token
        self.free_total = max_new_tokens - reserve
        if self.free_total < len(shape.fields):
            raise OptionError(
                f"--max-new-tokens {max_new_tokens} leaves no room for the answer's text: "
                f"its JSON skeleton alone takes {reserve} tokens"
            )
        self.rows = [_Row() for _ in range(batch_size)]
        for row in self.rows:
            self._open(row, 0)

    @property
    def cut(self) -> list[bool]:
        """Per row: a field was closed by its token budget instead of by the model."""
        return [row.cut for row in self.rows]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[1] > self.prompt_length:  # the first call comes before any answer token
            for row, token in zip(self.rows, input_ids[:, -1].tolist()):
                self._follow(row, token)
        allowed = torch.zeros_like(scores, dtype=torch.bool)
        width = min(scores.shape[1], len(self.vocabulary.texts))  # a model may have more logits than tokens
        for index, row in enumerate(self.rows):
            if row.done:  # generate pads finished rows whatever their scores
                allowed[index] = True
                continue
            if not row.forced and row.free_used >= row.field_limit:
                row.cut = True
                self._close(row, self.fields[row.field_index].forced_close)
            if row.forced:
                allowed[index, row.forced[0]] = True
            else:
                mask = self.vocabulary.in_string
                if len(row.text.split()) >= self.shape.min_words:
                    mask = mask | self.fields[row.field_index].closing_after(row.text)
                allowed[index, :width] = mask[:width]
        return scores.masked_fill(~allowed, float("-inf"))

    def _follow(self, row: _Row, token: int) -> None:
        """Advance `row` by the token generate appended to it."""
        if row.done:
            return
        if row.forced:
            row.forced.pop(0)
            if not row.forced:
                self._next(row)
            return
        row.free_used += 1
        row.text += self.vocabulary.heads[token]
        tokens = self.fields[row.field_index]
        if token in tokens.consumed:
            self._close(row, tokens.rest[tokens.consumed[token]])

    def _close(self, row: _Row, forced: tuple[int, ...]) -> None:
        """The field's closing quote is written (or is the first of `forced`): force the rest of the skeleton."""
        last = row.field_index + 1 == len(self.shape.fields)
        row.forced = [*forced, self.end_id] if last else list(forced)
        if not row.forced:  # the closing token held all of the skeleton up to the next field
            self._next(row)

    def _next(self, row: _Row) -> None:
        """The skeleton after a field is written: open the next field, or the answer is complete."""
        if row.field_index + 1 == len(self.shape.fields):
            row.done = True
        else:
            self._open(row, row.field_index + 1)

    def _open(self, row: _Row, index: int) -> None:
        row.field_index, row.text = index, "" if index else self.shape.lead
        # An equal part of the tokens still free: a short field leaves more to the ones after it.
        row.field_limit = row.free_used + (self.free_total - row.free_used) // (len(self.shape.fields) - index)
