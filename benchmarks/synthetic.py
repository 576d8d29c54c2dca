"""A synthetic dataset of any size for the scale figures: a dataset's users replicated with remapped ids.

Copy c of user u is user `c{c}-{u}` with u's whole sequence (same items, timestamps and positions) and
weight; the catalog is the source's. MovieLens-100K x 106 is 10.0M interactions of 99,958 users. The
copies agree with each other, so the collaborative evidence of the replicated data is the source's scaled:
what the figures measure is the cost of the work, not the quality of the result.

    python -P benchmarks/synthetic.py SOURCE --copies 106 --out DIR
"""

import argparse
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from curator.data.dataset import Dataset, read_dataset, write_dataset


def replicated(source: Dataset, copies: int, out: Path) -> Dataset:
    """`source` with each user copied `copies` times under new ids, written at `out`."""
    interactions, users = [], []
    for copy in range(copies):
        prefix = f"c{copy}-"
        interactions.append(
            source.interactions.set_column(
                source.interactions.schema.get_field_index("user_id"),
                "user_id",
                pc.binary_join_element_wise(prefix, source.interactions["user_id"], ""),
            )
        )
        users.append(
            source.users.set_column(
                source.users.schema.get_field_index("user_id"),
                "user_id",
                pc.binary_join_element_wise(prefix, source.users["user_id"], ""),
            )
        )
    return write_dataset(
        out,
        pa.concat_tables(interactions),
        source.items,
        pa.concat_tables(users),
        name=out.name,
        source=None,
        command=sys.argv,
        config={"replicated_from": str(source.path), "copies": copies},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("--copies", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    data = replicated(read_dataset(args.source), args.copies, args.out)
    print(f"{args.out}: {len(data.interactions):,} interactions, {len(data.users):,} users, {len(data.items):,} items")


if __name__ == "__main__":
    main()
