"""The node registry in SQL: one row per running ``openpersonalize serve``, kept fresh by its heartbeat.

``node.py`` decides what the rows mean (who is alive, who may join); this module only reads and
writes them, in the metadata database every node shares.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

from .metadata import MetadataStore

_meta = sa.MetaData()

nodes = sa.Table(
    "nodes",
    _meta,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("start_token", sa.String(32), nullable=False),
    sa.Column("address", sa.String(512), nullable=False),  # where clients reach it, for messages
    sa.Column("data_dir", sa.Text, nullable=False),
    sa.Column("object_store", sa.Text, nullable=False),
    sa.Column("started", sa.Float, nullable=False),
    sa.Column("heartbeat", sa.Float, nullable=False),
)


@dataclass(frozen=True)
class NodeRow:
    """A registered node as stored."""

    id: str
    host: str
    pid: int
    start_token: str
    address: str
    data_dir: str
    object_store: str
    started: float
    heartbeat: float


class NodeTable:
    """Register, beat, list and remove node rows."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        _meta.create_all(store.writer)

    def register(self, row: NodeRow) -> None:
        with self.store.transaction() as conn:
            conn.execute(nodes.insert().values(**row.__dict__))

    def beat(self, node_id: str) -> bool:
        """Refresh a node's heartbeat; False when its row is gone (removed as dead by another node)."""
        with self.store.transaction() as conn:
            return conn.execute(nodes.update().where(nodes.c.id == node_id).values(heartbeat=time.time())).rowcount > 0

    def rows(self) -> list[NodeRow]:
        with self.store.engine.connect() as conn:
            return [NodeRow(**row._mapping) for row in conn.execute(sa.select(nodes))]

    def remove(self, node_ids: list[str]) -> None:
        if node_ids:
            with self.store.transaction() as conn:
                conn.execute(nodes.delete().where(nodes.c.id.in_(node_ids)))
