"""Every stored JSON artefact is read by one reader: a missing, unreadable or non-object file is a clear error
that names the command to run (never an AttributeError or a UnicodeDecodeError)."""

from __future__ import annotations

import pytest

from explorer.checkpoint import CheckpointError
from explorer.commands import cluster, evaluate
from explorer.commands import compress as compression

LOADERS = [  # (file name under the checkpoints root, loader, error, command named in the message)
    (evaluate.GENERATION, evaluate.load_generation, CheckpointError, "evaluate --variant vae"),
    (compression.COMPRESSION_FILE, compression.load_compression, compression.CompressionError, "compress"),
    (evaluate.BASELINES, evaluate.load_baselines, evaluate.MetricsError, "evaluate"),
]


@pytest.mark.parametrize(
    "content", [None, b"[1, 2]", b"{not json", b"\xff\xfe\x00"], ids=["missing", "list", "bad", "binary"]
)
@pytest.mark.parametrize("name, load, error, command", LOADERS, ids=[row[0] for row in LOADERS])
def test_damaged_json_artefacts_name_the_fix(tmp_path, name, load, error, command, content):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(error, match=rf"{name}.*python -m explorer {command}"):
        load(tmp_path)


@pytest.mark.parametrize("content", [b"[1, 2]", b"{not json"], ids=["list", "bad"])
def test_damaged_clustering_json_names_the_fix(tmp_path, content):
    npz, js = cluster.paths(tmp_path)
    npz.write_bytes(b"")
    js.write_bytes(content)
    with pytest.raises(cluster.ClusteringError, match=r"clustering.json.*python -m explorer cluster"):
        cluster.load_clustering(tmp_path)
