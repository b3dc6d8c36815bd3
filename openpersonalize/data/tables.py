"""Small pyarrow table helpers shared by training and the runtime."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def append_rows(base: pa.Table, extra: pa.Table) -> pa.Table:
    """``base`` plus ``extra``'s rows, conformed to ``base``'s columns (missing ones null)."""
    if extra.num_rows == 0:
        return base
    by_name = {name.upper(): name for name in extra.column_names}
    columns = []
    for field in base.schema:
        source = by_name.get(field.name.upper())
        if source is None:
            columns.append(pa.nulls(extra.num_rows, field.type))
        else:
            columns.append(extra.column(source).cast(field.type))
    return pa.concat_tables([base, pa.table(columns, schema=base.schema)])


def upsert_rows(base: pa.Table | None, updates: list[dict], id_column: str) -> pa.Table | None:
    """``base`` with ``updates`` (dicts keyed by column name) replacing or adding rows by ``id_column``."""
    if not updates:
        return base
    if base is None:
        return pa.Table.from_pylist(updates)
    new_ids = pa.array([str(u[id_column]) for u in updates])

    kept = base.filter(pc.invert(pc.is_in(base.column(id_column), value_set=new_ids)))
    by_name = {name.upper(): name for name in base.column_names}
    rows = [{by_name.get(k.upper(), k): v for k, v in u.items() if k.upper() in by_name} for u in updates]
    extra = pa.Table.from_pylist(rows, schema=pa.schema([f for f in base.schema]))
    return append_rows(kept, extra)
