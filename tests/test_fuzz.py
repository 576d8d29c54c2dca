"""Property-based fuzzing of the importers and the option parsers (hypothesis), against the one contract of every
command: exit 0 with a valid dataset folder, or exit 2 with exactly one printable `error:` line and nothing left
on disk. Never a traceback.

The example counts are bounded so the suite stays fast in CI; CURATOR_FUZZ_EXAMPLES raises them for a longer hunt
(e.g. CURATOR_FUZZ_EXAMPLES=2000 pytest tests/test_fuzz.py).
"""

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from curator.cli.train import parse_seeds
from curator.data.dataset import read_dataset
from curator.data.importers.delimited import parse_delimiter, parse_mapping
from curator.errors import CuratorError
from curator.run.sharding import Shard
from curator.training import TrainOptions

from builders import imported
from conftest import run_cli as run

EXAMPLES = int(os.environ.get("CURATOR_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the repository
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Text a hostile file or option holds: anything printable or not, and the values that broke parsers before.
TRICKY = st.sampled_from(
    ["", " ", "0", "-1", "1", "2", "1e400", "-0", "nan", "inf", "-inf", "NaN", '"', '""', '"a,b"', ",", ";", "\t",
     "|", "\\t", "=", "a=b", "1/2", "0/0", "2/1", "1,1", "\ufeff", "\x00", "\x1f", "é", "１", "2020-01-01T00:00:00",
     "2020-01-01T00:00:00+02:00", "99999999999999999999", "[x]", "[/]", "--out", "-"]
)  # fmt: skip
TEXT = st.one_of(TRICKY, st.text(max_size=12))
FIELD = st.one_of(TRICKY, st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=8), st.integers())


def check_contract(result, folder: Path, out: Path, inputs: set[str]) -> None:
    """Exit 0 and `out` is a valid dataset folder, or exit 2, one printable `error:` line and nothing but the
    inputs in `folder`."""
    if currently_in_test_context():  # --hypothesis-show-statistics: how many examples got through
        event(f"exit code {result.exit_code}")
    if result.exit_code == 0:
        dataset = read_dataset(out)  # validates every table and the content hash
        assert dataset.manifest["counts"]["interactions"] == len(dataset.interactions) > 0
        shown = run("data", "info", out)  # and it can be looked at, whatever its names and values hold
        assert shown.exit_code == 0, f"{shown.exception!r}\n{shown.output}"
        assert {entry.name for entry in folder.iterdir()} == inputs | {out.name}
        return
    assert result.exit_code == 2, f"{result.exception!r}\n{result.output}"
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and lines[0].isprintable(), result.output
    assert {entry.name for entry in folder.iterdir()} == inputs


def delimited(rows: list[list], delimiter: str, quoted: bool) -> str:
    def field(value) -> str:
        text = str(value)
        return '"' + text.replace('"', '""') + '"' if quoted else text

    return "".join(delimiter.join(field(value) for value in row) + "\n" for row in rows)


def mostly(good: st.SearchStrategy, clean: bool) -> st.SearchStrategy:
    """`good` alone for a clean file (which should import); else `good` three times in four, a hostile field
    the fourth (a file that gets far into the importer before it breaks, if it breaks)."""
    return good if clean else st.one_of(good, good, good, FIELD)


# Plausible values of each CSV column (user, item, time, rating, a title) and the --map that names them.
CSV_COLUMNS = {
    "uid": st.sampled_from(["1", "2", "3", "u", "é", "x y"]),
    "iid": st.sampled_from(["1", "2", "10", "a", "b", "１"]),
    "ts": st.one_of(
        st.integers(0, 2**40).map(str), st.sampled_from(["2020-01-01T00:00:00", "2021-06-01T12:00:00+02:00"])
    ),
    "stars": st.one_of(st.floats(0, 5).map(str), st.sampled_from(["", "4", "nan", "inf", "-inf"])),
    "title": st.text(max_size=6),
}
CSV_KEYS = {"uid": "user", "iid": "item", "ts": "time", "stars": "rating"}


@FUZZ
@given(
    data=st.data(),
    clean=st.booleans(),
    extra=st.lists(st.sampled_from(["ts", "stars", "title"]), unique=True),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    quoted=st.booleans(),
    bom=st.booleans(),
    mapping=st.one_of(st.none(), TEXT),  # None: the mapping of the columns
    delimiter_option=st.one_of(st.none(), TEXT),
    on_duplicates=st.sampled_from([None, "keep", "drop", "error"]),
    name=st.one_of(st.none(), TEXT),
)
def test_csv_import(data, clean, extra, delimiter, quoted, bom, mapping, delimiter_option, on_duplicates, name):
    columns = data.draw(st.permutations(["uid", "iid", *extra]))
    header = columns if clean else data.draw(st.lists(st.one_of(st.sampled_from(columns), TEXT), min_size=1))
    row = st.tuples(*(mostly(CSV_COLUMNS.get(column, FIELD), clean) for column in header))
    rows = data.draw(st.lists(row, max_size=8) if clean else st.lists(st.one_of(row, st.lists(FIELD)), max_size=8))
    if clean or mapping is None:
        mapping = ",".join(f"{CSV_KEYS[c]}={c}" for c in columns if c in CSV_KEYS)
    if clean:
        delimiter_option = None
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        text = delimited([header, *rows], delimiter, quoted)
        (folder / "ratings.csv").write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8", "replace"))
        options = ["--map", mapping]
        options += ["--delimiter", delimiter_option] if delimiter_option is not None else []
        options += ["--on-duplicates", on_duplicates] if on_duplicates else []
        options += ["--name", name] if name is not None else []
        out = folder / "out"
        result = run("data", "import", folder / "ratings.csv", "--format", "csv", "--out", out, *options)
        check_contract(result, folder, out, {"ratings.csv"})


def test_a_quoted_empty_rating_is_no_rating(tmp_path):
    """Found by test_csv_import: `""` in a number column was refused, by a message that named no line."""
    (tmp_path / "ratings.csv").write_text('"uid","iid","stars"\n"1","a",""\n"1","b","4"\n')
    options = {"mapping": "user=uid,item=iid,rating=stars"}
    dataset = imported(tmp_path / "ratings.csv", tmp_path / "out", format="csv", options=options)
    assert dataset.interactions["rating"].to_pylist() == [None, 4.0]


NUMERIC_ID = st.integers(0, 30).map(str)


@FUZZ
@given(data=st.data(), clean=st.booleans(), raw=st.binary(max_size=20))
def test_sequence_import(data, clean, raw):
    lines = data.draw(st.lists(st.tuples(mostly(NUMERIC_ID, clean), mostly(NUMERIC_ID, clean)), max_size=10))
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        content = delimited(lines, " ", quoted=False).encode("utf-8", "replace") + (b"" if clean else raw)
        (folder / "seq.txt").write_bytes(content)
        out = folder / "out"
        check_contract(
            run("data", "import", folder / "seq.txt", "--format", "sequence", "--out", out), folder, out, {"seq.txt"}
        )


# Plausible values of each RecBole column, by its typed header.
RECBOLE_COLUMNS = {
    "user_id:token": st.sampled_from(["1", "2", "u"]),
    "item_id:token": st.sampled_from(["1", "2", "3", "i"]),
    "rating:float": st.one_of(st.floats(0, 5).map(str), st.sampled_from(["", "nan"])),
    "timestamp:float": st.one_of(st.integers(0, 2**40).map(str), st.sampled_from(["1.5", "881250949.0"])),
    "x:token_seq": st.sampled_from(["", "a b", "a"]),
}


@FUZZ
@given(
    data=st.data(),
    clean=st.booleans(),
    extra=st.lists(st.sampled_from(["rating:float", "timestamp:float", "x:token_seq"]), unique=True),
)
def test_recbole_import(data, clean, extra):
    columns = data.draw(st.permutations(["user_id:token", "item_id:token", *extra]))
    header = columns if clean else data.draw(st.lists(st.one_of(st.sampled_from(columns), TEXT), min_size=1))
    row = st.tuples(*(mostly(RECBOLE_COLUMNS.get(column, FIELD), clean) for column in header))
    write_and_import_recbole([header, *data.draw(st.lists(row, max_size=8))])


def test_a_carriage_return_in_a_header_is_one_error_line():
    """Found by test_recbole_import: the csv module refused the header with an error of its own."""
    write_and_import_recbole([["\r0"]])


def write_and_import_recbole(rows: list) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        (folder / "data.inter").write_text(delimited(rows, "\t", quoted=False), errors="replace")
        out = folder / "out"
        check_contract(
            run("data", "import", folder / "data.inter", "--format", "recbole", "--out", out),
            folder,
            out,
            {"data.inter"},
        )


# Option parsers: through the command line, each command's options with hostile values. DATA does not exist, so
# a command whose options all pass stops at reading it: nothing heavy runs, and the contract still holds.
COMMAND_OPTIONS = {
    "train": ["--seed", "--seeds", "--epochs", "--patience", "--batch-size", "--lr", "--max-len", "--hidden",
              "--layers", "--heads", "--dropout", "--model", "--device"],
    "denoise": ["--threshold", "--max-edits", "--replace-threshold", "--noise-share", "--shard", "--quant", "--dtype",
                "--device", "--adapter", "--engine", "--ray-address", "--ray-cpus", "--ray-workers", "--ray-threads"],
    "inject": ["--noise", "--noise-dist", "--attack", "--fake-users", "--targets", "--seed"],
    "profile": ["--stage", "--users", "--items", "--limit", "--shard", "--batch-size", "--max-new-tokens", "--recent",
                "--seed", "--quant", "--dtype", "--device"],
}  # fmt: skip


@FUZZ
@given(
    command=st.sampled_from(sorted(COMMAND_OPTIONS)),
    data=st.data(),
)
def test_command_options(command, data):
    chosen = data.draw(st.dictionaries(st.sampled_from(COMMAND_OPTIONS[command]), TEXT, max_size=4))
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        options = [part for option, value in chosen.items() for part in (option, value)]
        result = run(command, folder / "no-such-data", "--out", folder / "out", *options)
        check_contract(result, folder, folder / "out", set())


@FUZZ
@given(text=TEXT)
def test_text_option_parsers(text):
    """Each parser returns a value or raises a CuratorError, whatever the text."""
    for parse in (
        lambda: parse_mapping(text, "--map", required=("user", "item")),
        lambda: parse_delimiter(text),
        lambda: Shard.parse(text),
        lambda: parse_seeds(text, 0),
    ):
        try:
            parse()
        except CuratorError:
            pass


NUMBER = st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True))


@FUZZ
@given(
    seeds=st.lists(st.integers(min_value=-(2**70), max_value=2**70), max_size=3),
    integers=st.lists(st.integers(), min_size=7, max_size=7),
    lr=NUMBER,
    dropout=NUMBER,
)
def test_train_options(seeds, integers, lr, dropout):
    names = ("max_epochs", "patience", "batch_size", "max_len", "hidden", "layers", "heads")
    options = TrainOptions(seeds=seeds, lr=lr, dropout=dropout, **dict(zip(names, integers)))
    try:
        options.validate()
    except CuratorError:
        return
    assert all(0 <= seed < 2**64 for seed in seeds) and 0 < lr < 1 and 0 <= dropout < 1
