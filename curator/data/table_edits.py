"""Writing values into rows of an Arrow table column (Arrow tables are immutable: this builds a new one)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def set_values(table: pa.Table, column: str, rows: np.ndarray, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    """`table` with values[i] in `column` at row rows[i] (rows distinct, in any order)."""
    mask = np.zeros(len(table), bool)
    mask[rows] = True
    in_row_order = values.take(pa.array(np.argsort(rows), pa.int64()))
    if isinstance(in_row_order, pa.ChunkedArray):
        in_row_order = in_row_order.combine_chunks()
    updated = pc.replace_with_mask(
        table[column].combine_chunks(), pa.array(mask), in_row_order.cast(table[column].type)
    )
    return table.set_column(table.column_names.index(column), table.schema.field(column), updated)
