"""Sprite atlases of a map's items: thumbnails for the map's hover card, fetched by the browser after the map is drawn.

An atlas is a list of PNG tiles, each a ``side`` × ``side`` grid of item images in item-id order (tile ``t`` holds
items ``t * side**2`` onwards, row-major), one list for the originals and one for the model's reconstructions.
With ``side`` 32 a tile holds 1,024 Fashion-MNIST items (896 × 896 px, ~0.2–0.4 MB); the 10k test map needs 10
tiles of each kind, the 70k map 69.

``atlas-<split>.npz``, in the user cache (``path_for``: the dashboard may make one, and it never writes into the
checkpoints), stores the tiles (PNG bytes, concatenated, with offsets), the item count,
the per-item k-means cluster of its code (for "colour by cluster") and the SHA-256 of the weights it was made
from, so an atlas from other weights is recognised as stale, like a map.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SIDE = 32  # items per tile side: 1,024 items a tile
CLUSTERS = 10  # k of the k-means clusters the map can be coloured by
FORMAT = 1


class AtlasError(RuntimeError):
    """A missing, damaged or stale atlas; the message names the fix."""


@dataclass(frozen=True)
class Atlas:
    weights_sha256: str
    n: int  # items
    item_shape: tuple[int, ...]  # (H, W) or (C, H, W) of one thumbnail
    side: int  # items per tile side
    originals: tuple[bytes, ...]  # PNG tiles
    reconstructions: tuple[bytes, ...]  # PNG tiles; empty for imported codes (no decoder)
    clusters: np.ndarray | None  # int64 [n]: k-means cluster of each item's code; None without codes

    @property
    def tiles(self) -> int:
        return len(self.originals)


def tile_count(n: int, side: int = SIDE) -> int:
    return -(-int(n) // (side * side))


def tile_png(images: np.ndarray, side: int = SIDE) -> bytes:
    """Up to ``side**2`` uint8 images [n, H, W] (grey) or [n, C, H, W] (C = 1 or 3) -> one PNG, row-major, empty
    cells black."""
    from PIL import Image

    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images have dtype {images.dtype}, need uint8.")
    if images.ndim == 4:
        if images.shape[1] == 1:
            images = images[:, 0]
        elif images.shape[1] == 3:
            images = images.transpose(0, 2, 3, 1)
        else:
            raise ValueError(f"images have {images.shape[1]} channels; 1 or 3 are drawn.")
    if images.ndim not in (3, 4) or len(images) > side * side or len(images) == 0:
        raise ValueError(f"images {images.shape}: need 1 to {side * side} images [n, H, W] or [n, C, H, W].")
    h, w = images.shape[1:3]
    rows = -(-len(images) // side)
    grid = np.zeros((rows * h, side * w, *images.shape[3:]), np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, side)
        grid[r * h : (r + 1) * h, c * w : (c + 1) * w] = im
    buf = io.BytesIO()
    Image.fromarray(grid).save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def tiles(images: np.ndarray, side: int = SIDE) -> tuple[bytes, ...]:
    """All items' images in id order -> PNG tiles of ``side**2`` items each (see ``tile_png``)."""
    per = side * side
    return tuple(tile_png(images[i : i + per], side) for i in range(0, len(images), per))


def build_atlas(
    weights_sha256: str,
    images: np.ndarray,
    reconstructions: np.ndarray | None,
    codes: np.ndarray | None,
    side: int = SIDE,
    k: int = CLUSTERS,
    seed: int = 0,
) -> Atlas:
    """An atlas of items in id order: images uint8 [N, ...], their reconstructions (same shape, uint8) or None,
    codes [N, D] (clustered by k-means, ``k`` clusters, seeded) or None."""
    images = np.asarray(images)
    n = len(images)
    if reconstructions is not None and np.asarray(reconstructions).shape != images.shape:
        raise ValueError(f"reconstructions {np.asarray(reconstructions).shape} differ from images {images.shape}.")
    clusters = None
    if codes is not None:
        codes = np.asarray(codes, np.float32)
        if len(codes) != n:
            raise ValueError(f"codes has {len(codes)} rows for {n} images.")
        if n > k:
            from .clustering import kmeans

            clusters, _ = kmeans(codes, k=k, seed=seed, n_init=3)
    return Atlas(
        weights_sha256=weights_sha256,
        n=n,
        item_shape=tuple(int(s) for s in images.shape[1:]),
        side=side,
        originals=tiles(images, side),
        reconstructions=() if reconstructions is None else tiles(np.asarray(reconstructions), side),
        clusters=None if clusters is None else np.asarray(clusters, np.int64),
    )


def _concat(blobs: tuple[bytes, ...]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.cumsum([0, *(len(b) for b in blobs)]).astype(np.int64)
    return np.frombuffer(b"".join(blobs), np.uint8), offsets


def _split(data: np.ndarray, offsets: np.ndarray) -> tuple[bytes, ...]:
    raw = data.tobytes()
    return tuple(raw[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True))


def save_atlas(atlas: Atlas, path: Path) -> Path:
    """Write ``atlas`` to ``path`` (.npz), atomically (beside, then renamed into place)."""
    path = Path(path)
    orig, orig_off = _concat(atlas.originals)
    rec, rec_off = _concat(atlas.reconstructions)
    arrays = dict(
        format=np.int64(FORMAT),
        weights_sha256=np.array(atlas.weights_sha256),
        n=np.int64(atlas.n),
        item_shape=np.asarray(atlas.item_shape, np.int64),
        side=np.int64(atlas.side),
        originals=orig,
        originals_offsets=orig_off,
        reconstructions=rec,
        reconstructions_offsets=rec_off,
    )
    if atlas.clusters is not None:
        arrays["clusters"] = atlas.clusters
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return path


def load_atlas(path: Path, weights_sha256: str, fix: str) -> Atlas:
    """The atlas at ``path``; AtlasError (naming ``fix``) if missing, damaged or made from other weights."""
    path = Path(path)
    if not path.is_file():
        raise AtlasError(f"No thumbnails yet ({path} is missing). Create them with `{fix}`.")
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
        atlas = Atlas(
            weights_sha256=str(d["weights_sha256"]),
            n=int(d["n"]),
            item_shape=tuple(int(s) for s in d["item_shape"]),
            side=int(d["side"]),
            originals=_split(d["originals"], d["originals_offsets"]),
            reconstructions=_split(d["reconstructions"], d["reconstructions_offsets"]),
            clusters=d["clusters"].astype(np.int64) if "clusters" in d else None,
        )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise AtlasError(f"{path} is damaged ({e}). Recreate it with `{fix}`.") from e
    if atlas.weights_sha256 != weights_sha256:
        raise AtlasError(f"{path} was made from other weights than the run holds now. Update it with `{fix}`.")
    if atlas.tiles != tile_count(atlas.n, atlas.side):
        raise AtlasError(f"{path} has {atlas.tiles} tiles for {atlas.n} items. Recreate it with `{fix}`.")
    return atlas


def path_for(name: str, split: str = "test", root=None) -> Path:
    """Where run ``name``'s ``split`` atlas is kept: in the user cache, never beside the checkpoint (the dashboard
    may make one, and it writes nothing into the checkpoints), one folder per map folder; its weights' hash, checked
    on load, tells a stale one."""
    import hashlib

    from .data import user_cache
    from .projection import path_for as map_path

    folder = map_path(name, split, root).resolve().parent
    return user_cache("atlas", hashlib.sha256(str(folder).encode()).hexdigest()[:16]) / f"atlas-{split}.npz"


def fix_command(name: str, split: str = "test", root=None) -> str:
    """The command that (re)makes a run's atlas: the one that makes its map (an atlas is made with it)."""
    from .projection import fix_command as map_fix

    return map_fix(name, split, root)


def make_atlas(name: str, split: str, images: np.ndarray, model=None, root=None) -> Path:
    """Build and save the atlas of run ``name``'s ``split`` map: ``images`` uint8 in the map's row order (item-id
    order); reconstructions and codes from ``model`` (None: imported codes, whose stored test codes are used)."""
    from .projection import load_projection, source_sha256

    sha = source_sha256(name, root)
    if model is not None:
        from .images import to_uint8
        from .inference import encode, reconstruct

        recons = to_uint8(reconstruct(model, images)).reshape(np.asarray(images).shape)
        codes = encode(model, images)
    else:
        recons, codes = None, load_projection(name, "test", root).codes
        codes = codes if codes is not None and len(codes) == len(images) else None
    return save_atlas(build_atlas(sha, images, recons, codes), path_for(name, split, root))
