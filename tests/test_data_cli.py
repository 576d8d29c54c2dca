"""`curator data import|info|export` through the real CLI: output, exit codes, one-line errors."""

import json
import re
from pathlib import Path

import pytest

from conftest import NEEDS_SHARED_DATA, SHARED_DATA
from conftest import run_cli as run

TOYS = SHARED_DATA / "amazon-toys-llm4dsr"


@pytest.mark.e2e
def test_import_info_export(tmp_path):
    result = run("data", "import", "movielens-100k", "--out", tmp_path / "ml")
    assert result.exit_code == 0, result.output
    assert "943 users, 1,682 items, 100,000 interactions" in result.output
    result = run("data", "info", tmp_path / "ml")
    assert result.exit_code == 0 and "ties share" in result.output
    result = run("data", "info", tmp_path / "ml", "--json")
    stats = json.loads(result.output)
    assert stats["users"] == 943 and stats["interactions"] == 100000
    result = run("data", "export", tmp_path / "ml", "--format", "recbole", "--out", tmp_path / "rb", "--name", "movies")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "rb").iterdir()) == ["movies.inter", "movies.item", "movies.user"]


@pytest.mark.e2e
@NEEDS_SHARED_DATA
def test_import_llm4dsr_noisy_through_the_cli(tmp_path):
    result = run(
        "data", "import", TOYS, "--format", "llm4dsr", "--variant", "noisy", "--splits", "test", "--out", tmp_path / "t"
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "t" / "labels" / "noise.parquet").is_file()
    assert json.loads((tmp_path / "t" / "manifest.json").read_text())["config"] == {
        "format": "llm4dsr",
        "variant": "noisy",
        "splits": "test",
    }


def write(path: Path, content: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def u_data_folder(tmp_path, u_data: str, u_user: str | None = None) -> Path:
    write(tmp_path / "in" / "u.data", u_data)
    if u_user is not None:
        write(tmp_path / "in" / "u.user", u_user)
    return tmp_path / "in"


WINDOW_HEADER = "user_id,item_ids,mask,item_titles,replaced_item_titles,timestamp\n"


def llm4dsr_folder(tmp_path, row: str) -> Path:
    for split in ("train_5000", "valid", "test"):
        write(tmp_path / "in" / f"clean_{split}.csv", WINDOW_HEADER + row)
    write(tmp_path / "in" / "id2name.json", '{"1": "A", "2": "B"}')
    return tmp_path / "in"


BROKEN = {
    "missing file": (
        lambda tmp: ["sequence", tmp / "nope.txt"],
        r"nope.txt: no such file or folder",
    ),
    "missing column (recbole)": (
        lambda tmp: ["recbole", write(tmp / "in" / "x.inter", "user_id:token\trating:float\nu\t1\n")],
        r"x.inter: missing column 'item_id:token'",
    ),
    "missing column (csv)": (
        lambda tmp: ["csv", write(tmp / "in" / "a.csv", "u,i\n1,2\n"), "--map", "user=u,item=i,time=t"],
        r"a.csv: no column 't' \(columns: u, i\)",
    ),
    "non-numeric id (sequence)": (
        lambda tmp: ["sequence", write(tmp / "in" / "beauty.txt", "1 1\n1 2\nx 3\n")],
        r"beauty.txt, line 3, column user_id: 'x' is not a valid integer",
    ),
    "non-numeric id (u.data)": (
        lambda tmp: ["movielens", u_data_folder(tmp, "196\t242\t3\t881250949\n186\tabc\t3\t891717742\n")],
        r"u.data, line 2, column item_id: 'abc' is not a valid integer",
    ),
    "wrong field count": (
        lambda tmp: ["movielens", u_data_folder(tmp, "196\t242\t3\t881250949\n186\t302\t891717742\n")],
        r"u.data, line 2: expected 4 fields, found 3",
    ),
    "wrong field count (csv)": (
        lambda tmp: ["csv", write(tmp / "in" / "a.csv", "u,i,t\n1,x,5\n2,y\n"), "--map", "user=u,item=i,time=t"],
        r"a.csv, line 3: expected 3 fields, found 2",
    ),
    "non-UTF-8 csv": (
        lambda tmp: ["csv", write(tmp / "in" / "a.csv", b"u,i\n1,ok\n2,caf\xe9\n"), "--map", "user=u,item=i"],
        r"a.csv, line 3 \(byte offset 14\): not valid UTF-8 text",
    ),
    "non-UTF-8 sequence": (
        lambda tmp: ["sequence", write(tmp / "in" / "s.txt", b"1 1\n\xff 2\n")],
        r"s.txt, line 2 \(byte offset 4\): not valid UTF-8 text",
    ),
    "empty sequence file": (
        lambda tmp: ["sequence", write(tmp / "in" / "s.txt", "")],
        r"s.txt: no interactions",
    ),
    "empty csv file": (
        lambda tmp: ["csv", write(tmp / "in" / "a.csv", ""), "--map", "user=u,item=i"],
        r"a.csv: empty file \(expected a header line\)",
    ),
    "header only csv": (
        lambda tmp: ["csv", write(tmp / "in" / "a.csv", "u,i\n"), "--map", "user=u,item=i"],
        r"a.csv: no interactions",
    ),
    "user without interactions": (
        lambda tmp: [
            "movielens",
            u_data_folder(tmp, "1\t5\t3\t100\n", "1|24|M|technician|85711\n2|53|F|other|94043\n"),
        ],
        r"u.user: user '2' has no interactions",
    ),
    "malformed window": (
        lambda tmp: ["llm4dsr", llm4dsr_folder(tmp, '7,"[1, 2",[0],"[\'A\']",[],100\n')],
        r"clean_train_5000.csv, data row 1, column item_ids: not a Python list literal",
    ),
    "option of another format": (
        lambda tmp: ["sequence", write(tmp / "in" / "s.txt", "1 1\n"), "--variant", "noisy"],
        r"format sequence does not take option\(s\): variant",
    ),
}


@pytest.mark.parametrize("case", BROKEN)
def test_broken_input_gives_one_line_error_exit_2_and_no_output(tmp_path, case):
    make_args, message = BROKEN[case]
    format, source, *options = make_args(tmp_path)
    result = run("data", "import", source, "--format", format, "--out", tmp_path / "out", *options)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no staging folder left


def test_usage_errors_exit_2(tmp_path):
    write(tmp_path / "s.txt", "1 1\n")
    result = run("data", "import", tmp_path / "s.txt", "--out", tmp_path / "out")
    assert result.exit_code == 2 and "--format is required" in result.output
    result = run("data", "import", tmp_path / "s.txt", "--format", "parquet", "--out", tmp_path / "out")
    assert result.exit_code == 2  # not a choice: click's own usage error
    assert run("data", "import", tmp_path / "s.txt", "--format", "sequence", "--out", tmp_path / "out").exit_code == 0
    result = run("data", "import", tmp_path / "s.txt", "--format", "sequence", "--out", tmp_path / "out")
    assert result.exit_code == 0 and "nothing to do" in result.output  # the same import again
    result = run("data", "import", tmp_path / "s.txt", "--format", "sequence", "--name", "x", "--out", tmp_path / "out")
    assert result.exit_code == 2 and "already exists (pass --overwrite" in result.output  # another import
    assert (
        run(
            "data", "import", tmp_path / "s.txt", "--format", "sequence", "--out", tmp_path / "out", "--overwrite"
        ).exit_code
        == 0
    )
    result = run("data", "info", tmp_path / "missing")
    assert result.exit_code == 2 and "does not exist" in result.output
