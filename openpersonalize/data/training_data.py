"""Training data built from dataset snapshots (pyarrow Tables named by the Personalize schema).

``TrainingData`` holds the id <-> index maps, the user x item CSR matrix, per-user
chronological histories, item metadata features and item creation/first-seen times:
everything a recipe's ``fit`` needs, computed once with vectorised pyarrow/numpy so it
scales to ML-25M-sized snapshots. ``UserHistory`` is what the runtime hands to
``Model.score_user``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from .training_selection import WEIGHT_COLUMN

_RESERVED_ITEM_COLUMNS = {"ITEM_ID", "CREATION_TIMESTAMP"}


@dataclass
class UserHistory:
    """A user's interactions as item indices, oldest -> newest (what ``score_user`` reads).

    ``user`` is the training user index when the history is that user's training history plus
    ``live_items`` (item indices of the events received since), which lets a model reuse what it
    precomputed for the training part; -1 for any other history.
    """

    items: np.ndarray
    timestamps: np.ndarray | None = None
    event_types: list[str] | None = None
    user: int = -1
    live_items: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.items = np.asarray(self.items, dtype=np.int64)
        if self.timestamps is not None:
            self.timestamps = np.asarray(self.timestamps, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.items)

    @classmethod
    def empty(cls) -> UserHistory:
        """A history with no interactions (cold-start user)."""
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), [])


def dictionary_codes(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(codes int32, unique values as numpy str) in first-appearance order: 4 bytes a row, no Python strings."""
    enc = pc.dictionary_encode(column)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.unify_dictionaries()
        chunks = enc.chunks
        if not chunks:
            return np.zeros(0, np.int32), np.zeros(0, dtype=str)
        dictionary = chunks[0].dictionary
        codes = np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in chunks])
    else:
        dictionary = enc.dictionary
        codes = enc.indices.to_numpy(zero_copy_only=False)
    return codes.astype(np.int32, copy=False), np.asarray(dictionary.to_pylist(), dtype=str)


def _as_str(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return column if pa.types.is_string(column.type) else pc.cast(column, pa.string())


def _numeric_feature(col: pa.ChunkedArray) -> np.ndarray:
    values = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
    values = np.where(np.isnan(values), np.nan, values)
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return np.zeros(len(values), np.float32)
    std = float(finite.std()) or 1.0
    out = (values - float(finite.mean())) / std
    return np.nan_to_num(out, nan=0.0).astype(np.float32)


def item_feature_matrix(
    items: pa.Table | None, item_index: dict[str, int], n_items: int, min_count: int = 1
) -> tuple[sp.csr_matrix, list[str]]:
    """One-hot per categorical value (``A|B`` multi-valued) + standardised numerics, rows = items."""
    if items is None or items.num_rows == 0:
        return sp.csr_matrix((n_items, 0), dtype=np.float32), []
    ids = _as_str(items["ITEM_ID"]).to_pylist()
    rows = np.array([item_index.get(i, -1) for i in ids], dtype=np.int64)
    keep = rows >= 0
    data_rows: list[np.ndarray] = []
    data_cols: list[np.ndarray] = []
    data_vals: list[np.ndarray] = []
    names: list[str] = []
    for name in items.column_names:
        if name in _RESERVED_ITEM_COLUMNS:
            continue
        col = items[name]
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
            vals = _numeric_feature(col)
            data_rows.append(rows[keep])
            data_cols.append(np.full(int(keep.sum()), len(names)))
            data_vals.append(vals[keep])
            names.append(name)
        elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_boolean(col.type):
            strs = _as_str(col) if not pa.types.is_boolean(col.type) else pc.cast(col, pa.string())
            vocab: dict[str, int] = {}
            r: list[int] = []
            c: list[int] = []
            counts: dict[str, int] = {}
            values = strs.to_pylist()
            for row, value in zip(rows, values, strict=True):
                if row < 0 or value is None:
                    continue
                for part in str(value).split("|"):
                    part = part.strip().lower()
                    if part:
                        counts[part] = counts.get(part, 0) + 1
            for row, value in zip(rows, values, strict=True):
                if row < 0 or value is None:
                    continue
                for part in {p.strip().lower() for p in str(value).split("|")}:
                    if not part or counts.get(part, 0) < min_count:
                        continue
                    if part not in vocab:
                        vocab[part] = len(names) + len(vocab)
                    r.append(int(row))
                    c.append(vocab[part])
            data_rows.append(np.asarray(r, np.int64))
            data_cols.append(np.asarray(c, np.int64))
            data_vals.append(np.ones(len(r), np.float32))
            names.extend(f"{name}={v}" for v in vocab)
    if not names:
        return sp.csr_matrix((n_items, 0), dtype=np.float32), []
    mat = sp.csr_matrix(
        (np.concatenate(data_vals), (np.concatenate(data_rows), np.concatenate(data_cols))),
        shape=(n_items, len(names)),
        dtype=np.float32,
    )
    mat.sum_duplicates()
    return mat, names


@dataclass
class TrainingData:
    """Interactions (+ item/user metadata) indexed for training.

    ``hist_*`` arrays are the interactions sorted by (user, timestamp); user ``u``'s
    history is ``hist_items[user_ptr[u]:user_ptr[u+1]]``, oldest first.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    user_ptr: np.ndarray
    hist_items: np.ndarray
    hist_ts: np.ndarray
    hist_events: np.ndarray
    event_names: list[str]
    item_features: sp.csr_matrix
    feature_names: list[str]
    item_created: np.ndarray
    item_first_seen: np.ndarray
    event_values: np.ndarray | None = None
    event_weights: np.ndarray | None = None  # per ``hist_*`` row, from eventsConfig (None: every event weighs 1)
    _matrix: sp.csr_matrix | None = field(default=None, repr=False)
    _user_index: dict[str, int] | None = field(default=None, repr=False)
    _item_index: dict[str, int] | None = field(default=None, repr=False)

    # ----------------------------------------------------------------- building
    @classmethod
    def from_tables(
        cls,
        interactions: pa.Table,
        items: pa.Table | None = None,
        users: pa.Table | None = None,
        event_type: str | None = None,
    ) -> TrainingData:
        """Index a snapshot; ``event_type`` keeps only that EVENT_TYPE (solution ``eventType``).

        A ``WEIGHT_COLUMN`` (``TrainingSelection.interactions``) gives each interaction its weight.
        """
        for required in ("USER_ID", "ITEM_ID"):
            if required not in interactions.column_names:
                raise ValueError(f"Interactions dataset has no {required} column.")
        if event_type and "EVENT_TYPE" in interactions.column_names:
            interactions = interactions.filter(pc.equal(interactions["EVENT_TYPE"], event_type))
        n_rows = interactions.num_rows
        item_cols = [_as_str(interactions["ITEM_ID"])]
        if items is not None and items.num_rows:
            item_cols.append(_as_str(items["ITEM_ID"]))
        all_items = pa.chunked_array([c for col in item_cols for c in col.chunks], type=pa.string())
        item_codes, item_ids = dictionary_codes(all_items)
        inter_items = item_codes[:n_rows]
        user_codes, user_ids = dictionary_codes(_as_str(interactions["USER_ID"]))
        if users is not None and users.num_rows:
            pass  # user metadata is not used by the current recipes; users without events have no row
        if "TIMESTAMP" in interactions.column_names:
            ts = pc.cast(interactions["TIMESTAMP"], pa.int64()).to_numpy(zero_copy_only=False)
        else:
            ts = np.arange(n_rows, dtype=np.int64)
        if "EVENT_TYPE" in interactions.column_names and n_rows:
            ev_codes, ev_names = dictionary_codes(pc.fill_null(_as_str(interactions["EVENT_TYPE"]), ""))
            event_names = [str(x) for x in ev_names]
        else:
            ev_codes, event_names = np.zeros(n_rows, np.int32), [""]
        event_values = None
        if "EVENT_VALUE" in interactions.column_names:
            event_values = pc.cast(interactions["EVENT_VALUE"], pa.float64()).to_numpy(zero_copy_only=False)
        weights = None
        if WEIGHT_COLUMN in interactions.column_names:
            weights = pc.cast(interactions[WEIGHT_COLUMN], pa.float32()).to_numpy(zero_copy_only=False)
        order = np.lexsort((ts, user_codes))
        n_users = len(user_ids)
        n_items = len(item_ids)
        counts = np.bincount(user_codes, minlength=n_users)
        user_ptr = np.zeros(n_users + 1, np.int64)
        np.cumsum(counts, out=user_ptr[1:])
        first_seen = np.full(n_items, np.iinfo(np.int64).max, np.int64)
        np.minimum.at(first_seen, inter_items, ts) if n_rows else None
        max_ts = int(ts.max()) if n_rows else 0
        first_seen[first_seen == np.iinfo(np.int64).max] = max_ts
        created = first_seen.copy()
        if items is not None and "CREATION_TIMESTAMP" in items.column_names and items.num_rows:
            ct = pc.cast(items["CREATION_TIMESTAMP"], pa.float64()).to_numpy(zero_copy_only=False)
            rows = item_codes[n_rows:]
            ok = ~np.isnan(ct)
            created[rows[ok]] = ct[ok].astype(np.int64)
        data = cls(
            user_ids=user_ids,
            item_ids=item_ids,
            user_ptr=user_ptr,
            hist_items=inter_items[order].astype(np.int32),
            hist_ts=ts[order].astype(np.int64),
            hist_events=ev_codes[order].astype(np.int16),
            event_names=event_names,
            item_features=sp.csr_matrix((n_items, 0), dtype=np.float32),
            feature_names=[],
            item_created=created,
            item_first_seen=first_seen,
            event_values=None if event_values is None else event_values[order],
            event_weights=None if weights is None else weights[order],
        )
        data.item_features, data.feature_names = item_feature_matrix(items, data.item_index, n_items)
        return data

    # ---------------------------------------------------------------- accessors
    @property
    def n_users(self) -> int:
        """Number of users with at least one interaction."""
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        """Number of items (from interactions and the items dataset)."""
        return len(self.item_ids)

    @property
    def n_interactions(self) -> int:
        """Number of interaction rows after event-type filtering."""
        return len(self.hist_items)

    @property
    def user_index(self) -> dict[str, int]:
        """USER_ID -> row index."""
        if self._user_index is None:
            self._user_index = {u: i for i, u in enumerate(self.user_ids.tolist())}
        return self._user_index

    @property
    def item_index(self) -> dict[str, int]:
        """ITEM_ID -> column index."""
        if self._item_index is None:
            self._item_index = {u: i for i, u in enumerate(self.item_ids.tolist())}
        return self._item_index

    @property
    def max_timestamp(self) -> int:
        """Newest interaction timestamp (the training "now")."""
        return int(self.hist_ts.max()) if len(self.hist_ts) else 0

    @property
    def hist_users(self) -> np.ndarray:
        """User index of each ``hist_*`` row."""
        return np.repeat(np.arange(self.n_users, dtype=np.int32), np.diff(self.user_ptr))

    @property
    def matrix(self) -> sp.csr_matrix:
        """User x item CSR matrix of interaction counts (float32); weighted counts with ``event_weights``."""
        if self._matrix is None:
            self._matrix = self._counts()
        return self._matrix

    def _counts(self) -> sp.csr_matrix:
        m = sp.csr_matrix(
            (self._weights(), (self.hist_users, self.hist_items)),
            shape=(self.n_users, self.n_items),
            dtype=np.float32,
        )
        m.sum_duplicates()
        return m

    def presence(self) -> sp.csr_matrix:
        """User x item: 1 where the user interacted with the item, or with ``event_weights`` the largest weight
        of their events on it (a user who bought and clicked an item counts as a buyer).

        Built without caching ``matrix``: a recipe that reads only this does not hold a second copy."""
        if self.event_weights is None:
            m = self._matrix.copy() if self._matrix is not None else self._counts()
            m.data[:] = 1.0
            return m
        keys = self.hist_users.astype(np.int64) * self.n_items + self.hist_items
        order = np.lexsort((self.event_weights, keys))
        last = np.r_[keys[order][1:] != keys[order][:-1], True]
        rows = order[last]
        m = sp.csr_matrix(
            (self.event_weights[rows], (self.hist_users[rows], self.hist_items[rows])),
            shape=(self.n_users, self.n_items),
            dtype=np.float32,
        )
        m.eliminate_zeros()
        return m

    def _weights(self) -> np.ndarray:
        return np.ones(len(self.hist_items), np.float32) if self.event_weights is None else self.event_weights

    def item_counts(self) -> np.ndarray:
        """Interactions per item (weighted with ``event_weights``)."""
        return np.bincount(self.hist_items, weights=self._weights(), minlength=self.n_items).astype(np.float64)

    def history(self, user: int) -> UserHistory:
        """The chronological history of user index ``user``."""
        lo, hi = int(self.user_ptr[user]), int(self.user_ptr[user + 1])
        return UserHistory(
            self.hist_items[lo:hi],
            self.hist_ts[lo:hi],
            [self.event_names[e] for e in self.hist_events[lo:hi]],
        )
