"""Model artifacts on disk: write, read and load one, and read its manifest.

An artifact is a directory: one ``<name>.npy`` per dense array, ``<name>.data/.indices/.indptr.npy``
per sparse (CSR) matrix, and ``manifest.json``, written last, naming the model class, its arrays
and the model's metadata (recipe, parameters, metrics). The manifest marks the artifact complete.
Reading memory-maps every array read-only by default, so serving processes share pages.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from openpersonalize.recipes.protocol import Model

MANIFEST = "manifest.json"
FORMAT = 1
_LAYOUT_KEYS = ("format", "model", "class", "arrays", "sparse")


@dataclass
class Artifact:
    """What an artifact holds: dense arrays, CSR matrices and the model's metadata."""

    arrays: dict[str, np.ndarray]
    sparse: dict[str, sp.csr_matrix]
    meta: dict[str, Any]


def write_artifact(dir: Path, model_class: type[Model], kind: str, artifact: Artifact) -> None:
    """Write the arrays, then the manifest (atomically renamed into place)."""
    dir = Path(dir)
    dir.mkdir(parents=True, exist_ok=True)
    for name, arr in artifact.arrays.items():
        np.save(dir / f"{name}.npy", np.ascontiguousarray(arr))
    for name, mat in artifact.sparse.items():
        mat = mat.tocsr()
        np.save(dir / f"{name}.data.npy", mat.data)
        np.save(dir / f"{name}.indices.npy", mat.indices)
        np.save(dir / f"{name}.indptr.npy", mat.indptr)
    manifest = {
        "format": FORMAT,
        "model": kind,
        "class": f"{model_class.__module__}:{model_class.__name__}",
        "arrays": sorted(artifact.arrays),
        "sparse": {k: list(v.shape) for k, v in artifact.sparse.items()},
        **artifact.meta,
    }
    tmp = dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, default=str))
    tmp.replace(dir / MANIFEST)


def read_manifest(dir: Path) -> dict[str, Any]:
    """The artifact's manifest as written."""
    return json.loads((Path(dir) / MANIFEST).read_text())


def has_artifact(dir: Path) -> bool:
    """Whether ``dir`` holds a complete artifact (its manifest is written last)."""
    return (Path(dir) / MANIFEST).exists()


def read_artifact(dir: Path, mmap: bool = True) -> Artifact:
    """An artifact's arrays (memory-mapped read-only when ``mmap``) and metadata."""
    dir = Path(dir)
    manifest = read_manifest(dir)
    mode = "r" if mmap else None

    def read(path: Path) -> np.ndarray:
        # a plain ndarray view of the mapping: slicing an np.memmap costs a Python-level __getitem__ each time
        return np.load(path, mmap_mode=mode, allow_pickle=False).view(np.ndarray)

    arrays = {name: read(dir / f"{name}.npy") for name in manifest["arrays"]}
    sparse = {}
    for name, shape in manifest.get("sparse", {}).items():
        parts = [read(dir / f"{name}.{p}.npy") for p in ("data", "indices", "indptr")]
        sparse[name] = sp.csr_matrix(tuple(parts), shape=tuple(shape))
    meta = {k: v for k, v in manifest.items() if k not in _LAYOUT_KEYS}
    return Artifact(arrays, sparse, meta)


def load_model(dir: Path, mmap: bool = True) -> Model:
    """Load any artifact with the model class its manifest names."""
    module, _, name = read_manifest(dir)["class"].partition(":")
    cls: type[Model] = getattr(importlib.import_module(module), name)
    return cls.load(Path(dir), mmap=mmap)
