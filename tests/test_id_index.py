"""IdIndex finds exactly what a dict lookup finds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from openpersonalize.runtime.id_index import IdIndex

ids_text = st.text(st.characters(codec="utf-8"), max_size=6)


@settings(max_examples=300, deadline=None)
@given(catalogue=st.lists(ids_text, unique=True, max_size=60), extra=st.lists(ids_text, max_size=20), seed=st.randoms())
def test_positions_equal_dict_lookups(catalogue, extra, seed):
    as_dict = {item: n for n, item in enumerate(catalogue)}
    query = catalogue + extra
    seed.shuffle(query)
    assert IdIndex(catalogue, as_dict).positions(query).tolist() == [as_dict.get(i, -1) for i in query]


def test_ids_with_the_separator_and_a_large_catalogue():
    catalogue = [str(i * 7919) for i in range(50_000)] + ["a\x00b", "", "é"]
    as_dict = {item: n for n, item in enumerate(catalogue)}
    index = IdIndex(catalogue, as_dict)
    query = ["a\x00b", "a", "", "é", "0", "7919", "nope", "395943081"]
    assert index.positions(query).tolist() == [as_dict.get(i, -1) for i in query]
    assert index.positions(query[1:]).tolist() == [as_dict.get(i, -1) for i in query[1:]]
    assert index.positions([]).tolist() == []
    assert IdIndex([], {}).positions(["x", ""]).tolist() == [-1, -1]
