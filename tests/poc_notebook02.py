"""item-meta.csv and its schema exactly as the POC notebook 02 builds them.

The notebook runs (pandas)::

    original_data = pd.read_csv(dataset_dir + '/movies.csv')
    original_data['year'] = original_data['title'].str.extract('.*\\((.*)\\).*', expand=False)
    itemmetadata_df = original_data[['movieId', 'genres', 'year']]
    itemmetadata_df.rename(columns={'genres': 'GENRE', 'movieId': 'ITEM_ID', 'year': 'YEAR'}, inplace=True)
    itemmetadata_df.to_csv(path, index=False, float_format='%.0f')

pandas is not installed here, so the csv module reproduces the same bytes: ``str.extract``
is ``re.search`` with the same pattern (NaN, written as an empty field, where it does not
match), ``movieId`` is written as read, and ``to_csv`` quotes minimally with ``\\n`` line ends.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from openpersonalize.data import movielens

YEAR = re.compile(r".*\((.*)\).*")

# The notebook's schema is movielens.ITEMS_SCHEMA (ITEM_ID, categorical GENRE) but with YEAR a plain
# "int", not ["null", "int"].
ITEMS_SCHEMA = {
    **movielens.ITEMS_SCHEMA,
    "fields": [*movielens.ITEMS_SCHEMA["fields"][:2], {"name": "YEAR", "type": "int"}],
}


def item_rows(movies_csv: Path) -> list[tuple[str, str, str]]:
    """(ITEM_ID, GENRE, YEAR) per movie, YEAR as the notebook extracts it ('' where none)."""
    with movies_csv.open(newline="", encoding="utf-8") as f:
        rows = []
        for movie in csv.DictReader(f):
            match = YEAR.search(movie["title"])
            rows.append((movie["movieId"], movie["genres"], match.group(1) if match else ""))
    return rows


def write_item_meta(movies_csv: Path, out: Path) -> Path:
    """Write item-meta.csv as the notebook does."""
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["ITEM_ID", "GENRE", "YEAR"])
        writer.writerows(item_rows(movies_csv))
    return out


def bad_years(movies_csv: Path) -> dict[str, str]:
    """ITEM_ID -> YEAR text for the titles without a plain year (13 in ml-latest-small)."""
    return {item: year for item, _, year in item_rows(movies_csv) if not re.fullmatch(r"[0-9]{4}", year)}
