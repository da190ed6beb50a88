"""The ``import-codes`` command: vectors computed elsewhere become a run with a map and similar items, no model.

``import-codes FILE --dataset NAME [--name RUN]`` reads one code per item of a dataset:

- an ``.npz`` with ``ids`` (int [N], the dataset's item ids: 0..n_test-1 the test items, then the train items)
  and ``codes`` (numbers [N, D]); never unpickled;
- a Parquet file with an id column (``id`` or ``ids``, or ``--id-column``) and one list column of numbers (the only
  list column, or ``--codes-column``).

The codes must cover every test item: the map and similar items are made of the test split, as for a trained run
(the map's row i is test item i). Codes of train items may be given too; they are kept in ``codes.npz`` but are not
on the map. Ids that are not the dataset's, repeated ids, non-finite codes, lengths that disagree and empty codes
are refused with a message naming them.

It writes ``<runs>/<dataset>/<run>/`` with ``config.json`` (``kind: "codes"``, the dataset's content hash, the code
size, the source file), ``codes.npz`` (ids in ascending order, codes float32) and ``projection-test.npz`` (the map:
the codes themselves for 2-d codes, else UMAP; labels from the dataset, -1 where it has none; reconstruction error
NaN: there is no model). Everything is written into a temporary folder and renamed into place, so a failed import
leaves nothing behind; a run of the same name is refused unless ``overwrite``.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1
ID_COLUMNS = ("id", "ids")
PARQUET_SUFFIXES = (".parquet", ".pq")
SHOWN = 5  # offending ids listed in a message


class CodesError(ValueError):
    """Codes that cannot be imported; the message names the file, what is wrong and what to do."""


def _some(values) -> str:
    values = [int(v) for v in values]
    return ", ".join(map(str, values[:SHOWN])) + (", …" if len(values) > SHOWN else "")


# ------------------------------------------------------------------------------------------- reading


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``ids`` and ``codes`` of an .npz (no pickles)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k in ("ids", "codes")}
            held = sorted(z.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise CodesError(f"{path}: not a readable .npz without pickled objects ({e}).") from e
    for key in ("ids", "codes"):
        if key not in arrays:
            raise CodesError(
                f"{path}: has no array named {key!r} (it holds {held or 'nothing'}); save it as "
                "np.savez(FILE, ids=item_ids, codes=codes)."
            )
    return arrays["ids"], arrays["codes"]


def _pick(columns: list[str], given: str | None, candidates: list[str], what: str, flag: str, path: Path) -> str:
    if given is not None:
        if given not in columns:
            raise CodesError(f"{path}: no column {given!r} for {flag}; its columns are {', '.join(columns)}.")
        return given
    if len(candidates) != 1:
        found = f"{len(candidates)} ({', '.join(candidates)})" if candidates else "none"
        raise CodesError(
            f"{path}: needs exactly one {what}, found {found}; its columns are {', '.join(columns)}. "
            f"Name it with {flag} COLUMN."
        )
    return candidates[0]


def read_parquet(path: Path, id_column: str | None = None, codes_column: str | None = None):
    """The id column and the list column of numbers of a Parquet file -> (ids [N], codes [N, D])."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as e:
        raise CodesError(f"{path}: not a readable Parquet file ({e}).") from e
    columns = table.column_names
    is_list = lambda t: pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
    id_name = _pick(columns, id_column, [c for c in columns if c in ID_COLUMNS], "id column (id or ids)",
                    "--id-column", path)  # fmt: skip
    lists = [c for c in columns if c != id_name and is_list(table.schema.field(c).type)]
    codes_name = _pick(columns, codes_column, lists, "list column of codes", "--codes-column", path)
    ids_col, codes_col = table.column(id_name).combine_chunks(), table.column(codes_name).combine_chunks()
    for name, col in ((id_name, ids_col), (codes_name, codes_col)):
        if col.null_count:
            raise CodesError(f"{path}: column {name!r} has {col.null_count} empty (null) value(s); give every row one.")
    if not is_list(codes_col.type):
        raise CodesError(f"{path}: column {codes_name!r} holds {codes_col.type}, not lists of numbers (one per item).")
    lengths = pc.list_value_length(codes_col).to_numpy(zero_copy_only=False)
    if len(lengths) and (lengths != lengths[0]).any():
        raise CodesError(
            f"{path}: the codes in {codes_name!r} have different lengths ({lengths.min()}..{lengths.max()}); every "
            "item's code needs the same number of entries."
        )
    values = codes_col.flatten()
    if values.null_count or not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
        raise CodesError(f"{path}: column {codes_name!r} must hold lists of numbers without nulls, not {values.type}.")
    d = int(lengths[0]) if len(lengths) else 0
    codes = values.to_numpy(zero_copy_only=False).reshape(len(lengths), d)
    return ids_col.to_numpy(zero_copy_only=False), codes


def read_codes(path, id_column: str | None = None, codes_column: str | None = None):
    """(ids, codes) of an .npz or a Parquet file, as stored (checked by ``check_codes``)."""
    path = Path(path)
    if not path.is_file():
        raise CodesError(f"{path} does not exist. Give an .npz with ids and codes, or a Parquet file.")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        if id_column or codes_column:
            raise CodesError(f"{path}: --id-column/--codes-column are for Parquet; an .npz holds ids and codes.")
        return read_npz(path)
    if suffix in PARQUET_SUFFIXES:
        return read_parquet(path, id_column, codes_column)
    raise CodesError(f"{path}: give an .npz (ids, codes) or a Parquet file (.parquet) with an id and a list column.")


# ------------------------------------------------------------------------------------------- checks


def check_codes(ids, codes, dataset: str, n_items: int, n_test: int, where: str = "codes"):
    """Check codes against a dataset of ``n_items`` items (``n_test`` test items first) -> (ids int64 [N] ascending,
    codes float32 [N, D] in that order). CodesError naming what is wrong."""
    ids, codes = np.asarray(ids), np.asarray(codes)
    if ids.ndim != 1:
        raise CodesError(f"{where}: ids has shape {ids.shape}; need one item id per code, shape [N].")
    if codes.ndim != 2:
        raise CodesError(f"{where}: codes has shape {codes.shape}; need [N, D], one row of D numbers per item.")
    if len(ids) != len(codes):
        raise CodesError(f"{where}: {len(ids)} ids but {len(codes)} codes; need exactly one id per code.")
    if len(ids) == 0:
        raise CodesError(f"{where}: holds no codes.")
    if codes.shape[1] == 0:
        raise CodesError(f"{where}: the codes have 0 numbers each (shape {codes.shape}); need D >= 1.")
    if not np.issubdtype(ids.dtype, np.integer):
        raise CodesError(f"{where}: ids are {ids.dtype}, must be integers (item ids of dataset {dataset}).")
    if not (np.issubdtype(codes.dtype, np.floating) or np.issubdtype(codes.dtype, np.integer)):
        raise CodesError(f"{where}: codes are {codes.dtype}, must be numbers.")
    ids = ids.astype(np.int64)
    outside = ids[(ids < 0) | (ids >= n_items)]
    if len(outside):
        raise CodesError(
            f"{where}: ids must be item ids of dataset {dataset} (0..{n_items - 1}); {len(outside)} are not: "
            f"{_some(np.unique(outside))}. Check the codes were computed on {dataset} (or pass its --dataset)."
        )
    unique, counts = np.unique(ids, return_counts=True)
    if len(unique) < len(ids):
        twice = unique[counts > 1]
        raise CodesError(f"{where}: ids must be unique; {len(twice)} appear more than once: {_some(twice)}.")
    order = np.argsort(ids, kind="stable")
    ids, codes = ids[order], codes[order].astype(np.float32)
    bad = ~np.isfinite(codes).all(1)
    if bad.any():
        raise CodesError(
            f"{where}: the codes of {int(bad.sum())} item(s) are not finite (NaN, inf, or beyond float32): "
            f"ids {_some(ids[bad])}."
        )
    missing = np.setdiff1d(np.arange(n_test), ids)
    if len(missing):
        raise CodesError(
            f"{where}: codes must cover every test item of dataset {dataset} (ids 0..{n_test - 1}: the map and "
            f"similar items are made of them); {len(missing)} are missing: {_some(missing)}. Compute theirs too."
        )
    return ids, codes


# ------------------------------------------------------------------------------------------- writing


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def default_name(path) -> str:
    """A run name from the file's name: ``my_codes.npz`` -> ``my_codes`` (lower-cased)."""
    return Path(path).stem.lower()


def import_codes(
    path,
    dataset: str,
    name: str | None = None,
    runs=None,
    overwrite: bool = False,
    data_dir=None,
    datasets_root=None,
    id_column: str | None = None,
    codes_column: str | None = None,
) -> Path:
    """Import the codes in ``path`` as run ``<dataset>/<name>`` (default name: the file's) -> the run's folder."""
    from .. import projection
    from ..checkpoint import CONFIG, runs_root
    from ..data import FASHION_MNIST, DatasetError
    from ..datasets import load_data, staged_folder
    from ..runs import CODES, RunError, check_run_name, run_key

    path = Path(path)
    try:
        name = check_run_name(name or default_name(path))
    except RunError as e:
        raise RunError(f"{e} (the default is the file's name: pass --name RUN)") from None
    key = run_key(dataset, name)
    root = Path(runs or runs_root())
    target = root / key
    if target.exists() and not overwrite:
        raise RunError(f"a run {key!r} exists already ({target}); choose another --name or pass --overwrite.")
    ids, codes = read_codes(path, id_column, codes_column)
    try:
        data = load_data(dataset, data_dir=data_dir, root=datasets_root, download_if_missing=dataset == FASHION_MNIST)
    except DatasetError as e:
        raise DatasetError(f"codes for dataset {dataset!r}, which cannot be loaded: {e}") from e
    n_test, n_items = len(data.test), len(data.test) + len(data.train)
    ids, codes = check_codes(ids, codes, dataset, n_items, n_test, str(path))
    test_codes = codes[:n_test]  # ids ascending and every test id present: the first n_test rows, in test order
    print(f"{key}: mapping the {n_test:,} test codes ({codes.shape[1]} numbers each)…")
    coords = projection.layout(test_codes)
    labels = data.test.labels if data.test.labels is not None else np.full(n_test, -1, np.int64)
    with staged_folder(target) as tmp:
        np.savez(tmp / CODES, ids=ids, codes=codes)
        sha = _sha256(tmp / CODES)
        projection.write_projection(
            tmp / "projection-test.npz", sha, labels, coords, np.full(n_test, np.nan, np.float32), test_codes
        )
        config = {
            "format_version": FORMAT_VERSION,
            "kind": "codes",
            "dataset": dataset,
            "run": name,
            "dataset_sha256": data.sha256,
            "dimension": int(codes.shape[1]),
            "items": len(ids),
            "test_items": n_test,
            "source": str(path.resolve()),
            "source_sha256": _sha256(path),
            "codes_sha256": sha,
        }
        (tmp / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    print(f"{key}: {len(ids):,} codes of {codes.shape[1]} numbers -> {target} (map and similar items ready)")
    return target
