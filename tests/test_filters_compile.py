"""Compiling filters to item / user masks against hand-made catalogs and ml-latest-small."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from openpersonalize.filters import (
    FilterValueError,
    ItemCatalog,
    UserCatalog,
    UserContext,
    compile_filter,
    compile_user_filter,
    parse_filter,
)

# Model order differs from table order; "i9" is in the model but not in the table (null metadata).
ITEM_IDS = ["i0", "i1", "i2", "i3", "i4", "i5", "i9"]
ITEMS = pa.table(
    {
        "ITEM_ID": ["i5", "i4", "i3", "i2", "i1", "i0", "zz"],
        "GENRE": ["Drama", "Comedy|Romance", None, "Action|Comedy", "Drama|Thriller", "Comedy", "Comedy"],
        "YEAR": pa.array([1999, 1975, 1970, None, 1980, 1969, 1970], pa.int32()),
        "PRICE": [9.5, 20.0, 5.0, 12.0, 1.0, 30.0, 1.0],
        "BRAND": ["acme", "Acme", "zeta", "zeta", "", "acme", "x"],
    }
)


@pytest.fixture(scope="module")
def catalog() -> ItemCatalog:
    return ItemCatalog(ITEMS, ITEM_IDS)


def allowed(text: str, catalog: ItemCatalog, **kwargs: object) -> list[str]:
    mask = compile_filter(parse_filter(text), catalog).mask(**kwargs)  # type: ignore[arg-type]
    assert mask.dtype == bool and mask.shape == (len(catalog.ids),)
    return [catalog.ids[i] for i in np.flatnonzero(mask)]


def test_genre_include_matches_each_category_value(catalog: ItemCatalog) -> None:
    assert allowed('INCLUDE ItemID WHERE Items.GENRE IN ("Comedy")', catalog) == ["i0", "i2", "i4"]
    assert allowed('EXCLUDE ItemID WHERE Items.GENRE IN ("Comedy")', catalog) == ["i1", "i3", "i5", "i9"]


def test_categorical_match_is_exact_by_default_and_optionally_case_folded(catalog: ItemCatalog) -> None:
    assert allowed('INCLUDE ItemID WHERE Items.GENRE IN ("comedy")', catalog) == []
    assert allowed('INCLUDE ItemID WHERE Items.BRAND IN ("acme")', catalog) == ["i0", "i5"]
    folded = ItemCatalog(ITEMS, ITEM_IDS, case_sensitive=False)
    assert allowed('INCLUDE ItemID WHERE Items.GENRE IN ("comedy")', folded) == ["i0", "i2", "i4"]
    assert allowed('INCLUDE ItemID WHERE Items.BRAND IN ("ACME")', folded) == ["i0", "i4", "i5"]


def test_decade_filter_numeric_and_nulls_never_match(catalog: ItemCatalog) -> None:
    text = "INCLUDE ItemID WHERE Items.YEAR >= 1970 AND Items.YEAR < 1980"
    assert allowed(text, catalog) == ["i3", "i4"]
    assert allowed("EXCLUDE ItemID WHERE Items.YEAR >= 1970 AND Items.YEAR < 1980", catalog) == [
        "i0",
        "i1",
        "i2",
        "i5",
        "i9",
    ]
    assert allowed("INCLUDE ItemID WHERE Items.YEAR != 1970", catalog) == ["i0", "i1", "i4", "i5"]
    assert allowed("INCLUDE ItemID WHERE Items.YEAR = 1970", catalog) == ["i3"]


def test_not_in_skips_nulls(catalog: ItemCatalog) -> None:
    # i3 has no GENRE and i9 no metadata at all: neither matches NOT IN.
    assert allowed('INCLUDE ItemID WHERE Items.GENRE NOT IN ("Comedy")', catalog) == ["i1", "i5"]
    assert allowed('EXCLUDE ItemID WHERE Items.GENRE NOT IN ("Comedy")', catalog) == [
        "i0",
        "i2",
        "i3",
        "i4",
        "i9",
    ]


def test_and_or_parentheses(catalog: ItemCatalog) -> None:
    text = 'INCLUDE ItemID WHERE Items.GENRE IN ("Drama") OR Items.GENRE IN ("Action") AND Items.PRICE > 10'
    assert allowed(text, catalog) == ["i1", "i2", "i5"]
    text = 'INCLUDE ItemID WHERE (Items.GENRE IN ("Drama") OR Items.GENRE IN ("Action")) AND Items.PRICE > 5'
    assert allowed(text, catalog) == ["i2", "i5"]


def test_field_names_fall_back_to_case_insensitive_and_unknown_fields_never_match(catalog: ItemCatalog) -> None:
    assert allowed('INCLUDE ItemID WHERE Items.genre IN ("Drama")', catalog) == ["i1", "i5"]
    compiled = compile_filter(parse_filter('INCLUDE ItemID WHERE Items.COLOUR IN ("red")'), catalog)
    assert compiled.unknown_fields == ["COLOUR"]
    assert not compiled.mask().any()


def test_parameters_strings_numbers_and_cache(catalog: ItemCatalog) -> None:
    compiled = compile_filter(
        parse_filter("INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) AND Items.PRICE <= $MAX"), catalog
    )
    assert compiled.parameters == {"GENRE", "MAX"}
    m = compiled.mask(params={"GENRE": '"Comedy","Drama"', "MAX": "20"})
    assert [catalog.ids[i] for i in np.flatnonzero(m)] == ["i1", "i2", "i4", "i5"]
    m2 = compiled.mask(params={"GENRE": '"Comedy","Drama"', "MAX": "20"})
    assert compiled.cache_info["hits"] == 1
    m2[:] = False  # callers get a private copy
    assert compiled.mask(params={"GENRE": '"Comedy","Drama"', "MAX": "20"}).sum() == 4
    m3 = compiled.mask(params={"GENRE": '"Drama"', "MAX": "5"})
    assert [catalog.ids[i] for i in np.flatnonzero(m3)] == ["i1"]
    with pytest.raises(FilterValueError, match=r"\$MAX"):
        compiled.mask(params={"GENRE": '"Drama"'})
    with pytest.raises(FilterValueError, match="numeric"):
        compiled.mask(params={"GENRE": '"Drama"', "MAX": '"cheap"'})


def test_exclude_with_missing_parameter_is_skipped(catalog: ItemCatalog) -> None:
    text = 'INCLUDE ItemID WHERE Items.GENRE IN ("Comedy") | EXCLUDE ItemID WHERE Items.BRAND IN ($BRAND)'
    assert allowed(text, catalog) == ["i0", "i2", "i4"]
    assert allowed(text, catalog, params={"BRAND": '"acme"'}) == ["i2", "i4"]


def test_poc_interaction_filters(catalog: ItemCatalog) -> None:
    user = UserContext(
        metadata=None,
        item_indices=np.array([0, 1, 1, 6, 3, 99, -1]),
        event_types=np.array(["click", "Watch", "click", "WATCH", "click", "watch", "watch"]),
    )
    watched = allowed('INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")', catalog, user=user)
    assert watched == ["i1", "i9"]  # event types are case-insensitive; out-of-range indices ignored
    unwatched = allowed('EXCLUDE ItemID WHERE Interactions.event_type IN ("watch")', catalog, user=user)
    assert unwatched == ["i0", "i2", "i3", "i4", "i5"]
    anything = allowed('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")', catalog, user=user)
    assert anything == ["i2", "i4", "i5"]
    not_click = allowed('INCLUDE ItemID WHERE Interactions.EVENT_TYPE NOT IN ("click")', catalog, user=user)
    assert not_click == ["i1", "i9"]
    # A user without history: INCLUDE-by-interaction allows nothing, EXCLUDE removes nothing.
    assert allowed('INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")', catalog) == []
    assert len(allowed('EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")', catalog)) == 7


def test_combination_rules_union_and_difference(catalog: ItemCatalog) -> None:
    user = UserContext(item_indices=np.array([1, 2, 5]), event_types=np.array(["favorite", "click", "favorite"]))
    inc_inc = (
        'INCLUDE ItemID WHERE Items.GENRE IN ("Comedy") | INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("favorite")'
    )
    assert allowed(inc_inc, catalog, user=user) == ["i0", "i1", "i2", "i4", "i5"]
    exc_exc = (
        'EXCLUDE ItemID WHERE Items.GENRE IN ("Comedy") | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("favorite")'
    )
    assert allowed(exc_exc, catalog, user=user) == ["i3", "i9"]
    inc_exc = (
        'INCLUDE ItemID WHERE Items.GENRE IN ("Comedy") | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")'
    )
    assert allowed(inc_exc, catalog, user=user) == ["i0", "i4"]
    exc_inc = (
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click") | INCLUDE ItemID WHERE Items.GENRE IN ("Comedy")'
    )
    assert allowed(exc_inc, catalog, user=user) == ["i0", "i4"]  # order doesn't matter
    four = (
        'INCLUDE ItemID WHERE Items.GENRE IN ("Drama") | INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("favorite")'
        ' | EXCLUDE ItemID WHERE Items.PRICE > 10 | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")'
    )
    # Include (Drama or favourite) = {i1, i5} | {i1, i5} ; minus (price > 10 = {i0, i2, i4}) or clicked {i2}
    assert allowed(four, catalog, user=user) == ["i1", "i5"]
    # An interaction INCLUDE never resurrects an item that an item EXCLUDE removed.
    resurrect = (
        'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("favorite") | EXCLUDE ItemID WHERE Items.GENRE IN ("Drama")'
    )
    assert allowed(resurrect, catalog, user=user) == []


def test_if_current_user(catalog: ItemCatalog) -> None:
    text = "EXCLUDE ItemID WHERE Items.PRICE < 10 IF CurrentUser.AGE > 18 AND CurrentUser.AGE < 30"
    adult = UserContext(metadata={"AGE": 25})
    assert allowed(text, catalog, user=adult) == ["i0", "i2", "i4", "i9"]
    for user in [UserContext(metadata={"AGE": 40}), UserContext(metadata={"AGE": None}), UserContext(), None]:
        assert len(allowed(text, catalog, user=user)) == 7  # condition false / unknown: not applied
    member = 'INCLUDE ItemID WHERE Items.GENRE IN ("Drama") IF CurrentUser.TIER IN ("gold", $TIER)'
    gold = UserContext(metadata={"tier": "silver|gold"})
    assert allowed(member, catalog, user=gold, params={"TIER": '"x"'}) == ["i1", "i5"]
    bronze = UserContext(metadata={"TIER": "bronze"})
    assert len(allowed(member, catalog, user=bronze, params={"TIER": '"x"'})) == 7
    assert allowed(member, catalog, user=bronze, params={"TIER": '"bronze"'}) == ["i1", "i5"]


def test_current_item_for_related_items(catalog: ItemCatalog) -> None:
    same_genre = compile_filter(parse_filter("INCLUDE ItemID WHERE Items.GENRE IN (CurrentItem.GENRE)"), catalog)
    assert same_genre.uses_current_item
    ids = lambda m: [catalog.ids[i] for i in np.flatnonzero(m)]  # noqa: E731
    assert ids(same_genre.mask(current_item=2)) == ["i0", "i2", "i4"]  # Action|Comedy
    assert ids(same_genre.mask(current_item=1)) == ["i1", "i5"]  # Drama|Thriller
    assert ids(same_genre.mask(current_item=3)) == []  # current item has no genre
    assert ids(same_genre.mask(current_item=None)) == []
    cheaper = compile_filter(parse_filter("INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE"), catalog)
    assert ids(cheaper.mask(current_item=4)) == ["i1", "i2", "i3", "i5"]  # below 20.0
    other = compile_filter(parse_filter("EXCLUDE ItemID WHERE Items.BRAND IN (CurrentItem.BRAND)"), catalog)
    assert ids(other.mask(current_item=0)) == ["i1", "i2", "i3", "i4", "i9"]
    assert cheaper.cache_info["size"] == 1 and same_genre.cache_info["size"] == 4


def test_string_year_column_still_compares_numerically() -> None:
    table = pa.table({"ITEM_ID": ["a", "b", "c"], "YEAR": ["1970", "x", "1985"]})
    cat = ItemCatalog(table, ["a", "b", "c"])
    assert allowed("INCLUDE ItemID WHERE Items.YEAR > 1980", cat) == ["c"]
    assert allowed("INCLUDE ItemID WHERE Items.YEAR IN (1970)", cat) == ["a"]


def test_duplicate_rows_later_one_wins_and_empty_catalog() -> None:
    table = pa.table({"ITEM_ID": ["a", "a"], "GENRE": ["Old", "New"]})
    cat = ItemCatalog(table, ["a", "b"])
    assert allowed('INCLUDE ItemID WHERE Items.GENRE IN ("New")', cat) == ["a"]
    assert allowed('INCLUDE ItemID WHERE Items.GENRE IN ("Old")', cat) == []
    empty = ItemCatalog(None, ["a", "b"])
    assert allowed('EXCLUDE ItemID WHERE Items.GENRE IN ("x")', empty) == ["a", "b"]


def test_compile_rejects_wrong_target(catalog: ItemCatalog) -> None:
    with pytest.raises(ValueError):
        compile_filter(parse_filter('INCLUDE UserID WHERE Users.TIER IN ("gold")'), catalog)


def test_user_segment_filters() -> None:
    users = pa.table({"USER_ID": ["u0", "u1", "u2"], "TIER": ["gold", "silver|gold", None], "AGE": [30, 17, 50]})
    cat = UserCatalog(users, ["u0", "u1", "u2", "u3"])
    gold = compile_user_filter(parse_filter('INCLUDE UserID WHERE Users.TIER IN ("gold")'), cat)
    assert gold.mask().tolist() == [True, True, False, False]
    adults = compile_user_filter(parse_filter("EXCLUDE UserID WHERE Users.AGE < $AGE"), cat)
    assert adults.mask({"AGE": "18"}).tolist() == [True, False, True, True]
    assert adults.mask().tolist() == [True, True, True, True]  # EXCLUDE without its parameter: skipped
    clicked = compile_user_filter(parse_filter('INCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("click")'), cat)
    inter = (np.array([0, 2, 2, 3]), np.array(["watch", "CLICK", "watch", "view"]))
    assert clicked.mask(interactions=inter).tolist() == [False, False, True, False]


@pytest.fixture(scope="module")
def movie_table(movielens_dir: Path) -> pa.Table:
    from openpersonalize.data.movielens import prepare_items

    return prepare_items(movielens_dir / "movies.csv")


@pytest.fixture(scope="module")
def movies(movie_table: pa.Table) -> ItemCatalog:
    ids = movie_table["ITEM_ID"].to_pylist()
    rng = np.random.default_rng(0)
    return ItemCatalog(movie_table, [ids[i] for i in rng.permutation(len(ids))])


def test_movielens_genre_and_decade_filters_match_a_direct_computation(
    movies: ItemCatalog, movie_table: pa.Table
) -> None:
    by_id = {r["ITEM_ID"]: r for r in movie_table.to_pylist()}
    genres = {i: set((by_id[i]["GENRE"] or "").split("|")) for i in movies.ids}
    years = {i: by_id[i]["YEAR"] for i in movies.ids}

    comedy = compile_filter(parse_filter('INCLUDE ItemID WHERE Items.GENRE IN ("Comedy")'), movies).mask()
    assert comedy.tolist() == ["Comedy" in genres[i] for i in movies.ids]
    assert comedy.sum() == 3756

    decade = compile_filter(
        parse_filter("INCLUDE ItemID WHERE Items.YEAR >= 1970 AND Items.YEAR < 1980"), movies
    ).mask()
    assert decade.tolist() == [years[i] is not None and 1970 <= years[i] < 1980 for i in movies.ids]

    param = compile_filter(parse_filter("INCLUDE ItemID WHERE Items.GENRE IN ($G)"), movies)
    sci = param.mask(params={"G": '"Sci-Fi","Film-Noir"'})
    assert sci.tolist() == [bool(genres[i] & {"Sci-Fi", "Film-Noir"}) for i in movies.ids]
    none = compile_filter(parse_filter('INCLUDE ItemID WHERE Items.GENRE IN ("(no genres listed)")'), movies).mask()
    assert none.sum() == sum("(no genres listed)" in g for g in genres.values())


def test_movielens_combined_filter_is_fast_on_cache_hits(movies: ItemCatalog) -> None:
    import time

    compiled = compile_filter(
        parse_filter(
            'INCLUDE ItemID WHERE Items.GENRE IN ($G) | EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")'
        ),
        movies,
    )
    rng = np.random.default_rng(1)
    user = UserContext(
        item_indices=rng.integers(0, movies.size, 300),
        event_types=rng.choice(np.array(["click", "watch"]), 300),
    )
    params = {"G": '"Comedy","Drama"'}
    first = compiled.mask(user, params)
    watched = set(user.item_indices[user.event_types == "watch"].tolist())  # type: ignore[operator]
    assert not any(first[i] for i in watched)
    start = time.perf_counter()
    for _ in range(200):
        compiled.mask(user, params)
    per_call = (time.perf_counter() - start) / 200
    assert compiled.cache_info["misses"] == 1
    assert per_call < 0.005, per_call
