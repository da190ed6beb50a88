"""import-codes: codes computed elsewhere (.npz or Parquet) become a run with a map and similar items, no model;
every bad file gets a message naming what is wrong, and nothing is left behind.

Real data: 300 Fashion-MNIST test images registered as a small dataset (60 carved for test); the codes are PCA
of them, computed as a user would elsewhere."""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from explorer import cli
from explorer.checkpoint import CheckpointError, load_model
from explorer.datasets import load_data
from explorer.neighbours import knn, precision_at_k
from explorer.projection import ProjectionStaleError, load_projection
from explorer.runs import find_run, list_runs
from tests.support.map_data import map_data

N, N_TEST = 300, 60


@pytest.fixture()
def fm300(tmp_path, monkeypatch, fmnist):
    npz = tmp_path / "fm300.npz"
    np.savez(npz, x=fmnist.test.images[:N], y=fmnist.test.labels[:N])
    monkeypatch.setenv("LATENT_EXPLORER_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("LATENT_EXPLORER_DATASETS", str(tmp_path / "datasets"))
    assert cli.main(["dataset", "add", "fm300", str(npz)]) == 0
    return tmp_path


def pca_codes(dims: int) -> np.ndarray:
    """PCA of every item of fm300 (fitted on its train items), in item-id order: float64 [300, dims]."""
    from sklearn.decomposition import PCA

    data = load_data("fm300")
    x = data.all_images.reshape(N, -1) / 255.0
    return PCA(dims, random_state=0).fit(x[N_TEST:]).transform(x)


def write_parquet(path, ids, codes, **extra) -> str:
    table = pa.table({"id": pa.array(ids), "embedding": pa.array([list(c) for c in codes]), **extra})
    pq.write_table(table, path)
    return str(path)


def left_behind(root) -> list[str]:
    folder = root / "runs" / "fm300"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_pca_codes_become_a_run_with_a_map_and_similar_items(fm300):
    codes = pca_codes(2)
    order = np.random.default_rng(0).permutation(N)  # any order: stored by id
    np.savez(fm300 / "pca2.npz", ids=order, codes=codes[order])
    assert cli.main(["import-codes", str(fm300 / "pca2.npz"), "--dataset", "fm300"]) == 0  # name: the file's

    run = find_run("fm300/pca2")
    assert (run.kind, run.variant, run.trained, run.has_map) == ("codes", None, True, True)
    assert "fm300/pca2" in [r.key for r in list_runs(dataset="fm300")]
    assert "imported codes" in run.title
    config = run.read_config()
    assert (config["kind"], config["dataset"], config["run"], config["dimension"]) == ("codes", "fm300", "pca2", 2)
    assert config["dataset_sha256"] == load_data("fm300").sha256 and config["items"] == N

    proj = load_projection("fm300/pca2")
    np.testing.assert_allclose(proj.codes, codes[:N_TEST], rtol=1e-5, atol=1e-6)  # row i: test item i
    np.testing.assert_allclose(proj.coords, proj.codes)  # 2-d codes are their own map
    np.testing.assert_array_equal(proj.labels, load_data("fm300").test.labels)
    assert np.isnan(proj.recon_mse).all()  # no model, no reconstruction
    # similar items from the stored codes: the same as from the original vectors
    idx, _ = knn(proj.codes, proj.codes[7], 5, exclude=7)
    np.testing.assert_array_equal(idx, knn(codes[:N_TEST], codes[7], 5, exclude=7)[0])
    assert precision_at_k(proj.codes, proj.labels, 5) > 0.3  # PCA-2 groups classes; chance is ~0.1
    with np.load(run.directory / "codes.npz", allow_pickle=False) as z:
        np.testing.assert_array_equal(z["ids"], np.arange(N))  # train items' codes are kept too

    # the map knows the codes it was made from
    np.savez(run.directory / "codes.npz", ids=np.arange(N), codes=codes[::-1].astype(np.float32))
    with pytest.raises(ProjectionStaleError, match=r"import-codes .*pca2.npz --dataset fm300 --name pca2 --overwrite"):
        load_projection("fm300/pca2")


def test_parquet_codes_of_the_test_items_only_import_the_same(fm300):
    codes = pca_codes(2)
    path = write_parquet(fm300 / "c.parquet", np.arange(N_TEST), codes[:N_TEST], note=pa.array(["x"] * N_TEST))
    assert cli.main(["import-codes", path, "--dataset", "fm300", "--name", "pq"]) == 0
    proj = load_projection("fm300/pq")
    np.testing.assert_allclose(proj.codes, codes[:N_TEST], rtol=1e-5, atol=1e-6)
    # named columns, a fixed-size list, int64 ids
    table = pa.table({"item": pa.array(np.arange(N_TEST)), "v": pa.array([list(c) for c in codes[:N_TEST]],
                                                                           pa.list_(pa.float32(), 2))})  # fmt: skip
    pq.write_table(table, fm300 / "named.parquet")
    args = ["import-codes", str(fm300 / "named.parquet"), "--dataset", "fm300", "--name", "named"]
    assert cli.main([*args, "--id-column", "item", "--codes-column", "v"]) == 0
    np.testing.assert_allclose(load_projection("fm300/named").codes, proj.codes, rtol=1e-6)


def test_codes_of_more_than_two_numbers_get_a_umap_map(fm300):
    codes = pca_codes(10)
    np.savez(fm300 / "pca10.npz", ids=np.arange(N), codes=codes.astype(np.float32))
    assert cli.main(["import-codes", str(fm300 / "pca10.npz"), "--dataset", "fm300"]) == 0
    proj = load_projection("fm300/pca10")
    assert proj.coords.shape == (N_TEST, 2) and np.isfinite(proj.coords).all() and proj.codes.shape == (N_TEST, 10)


def test_a_taken_name_is_refused_unless_overwrite(fm300, capsys):
    codes = pca_codes(2)
    np.savez(fm300 / "a.npz", ids=np.arange(N), codes=codes)
    assert cli.main(["import-codes", str(fm300 / "a.npz"), "--dataset", "fm300", "--name", "r"]) == 0
    before = (fm300 / "runs" / "fm300" / "r" / "codes.npz").read_bytes()
    np.savez(fm300 / "b.npz", ids=np.arange(N), codes=-codes)
    assert cli.main(["import-codes", str(fm300 / "b.npz"), "--dataset", "fm300", "--name", "r"]) == 2
    err = capsys.readouterr().err
    assert "exists already" in err and "--overwrite" in err
    assert (fm300 / "runs" / "fm300" / "r" / "codes.npz").read_bytes() == before
    assert cli.main(["import-codes", str(fm300 / "b.npz"), "--dataset", "fm300", "--name", "r", "--overwrite"]) == 0
    np.testing.assert_allclose(load_projection("fm300/r").codes, -codes[:N_TEST], rtol=1e-5, atol=1e-6)
    assert left_behind(fm300) == ["r"]


def test_codes_of_an_unlabelled_dataset_have_no_labels(fm300, fmnist):
    np.savez(fm300 / "u.npz", x=fmnist.test.images[:N])
    assert cli.main(["dataset", "add", "fm300u", str(fm300 / "u.npz")]) == 0
    np.savez(fm300 / "c.npz", ids=np.arange(N), codes=np.random.default_rng(0).normal(size=(N, 2)))
    assert cli.main(["import-codes", str(fm300 / "c.npz"), "--dataset", "fm300u", "--name", "c"]) == 0
    assert (load_projection("fm300u/c").labels == -1).all()


def _npz(**arrays):
    return lambda path: np.savez(path.with_suffix(".npz"), **arrays) or path.with_suffix(".npz")


def _pq(table):
    return lambda path: pq.write_table(table, path.with_suffix(".parquet")) or path.with_suffix(".parquet")


def _csv(path):
    path.with_suffix(".csv").write_text("id,x\n0,1\n")
    return path.with_suffix(".csv")


ids, ok = np.arange(N), np.ones((N, 3))
nan = ok.copy()
nan[[4, 9]] = np.nan
BAD = [
    (_npz(ids=ids), r"has no array named 'codes' \(it holds \['ids'\]\)"),
    (_npz(ids=ids, codes=nan), r"codes of 2 item\(s\) are not finite .*ids 4, 9"),
    (_npz(ids=np.r_[ids[:-2], 3, 5], codes=ok), r"ids must be unique; 2 appear more than once: 3, 5"),
    (_npz(ids=ids + 3, codes=ok), r"ids must be item ids of dataset fm300 \(0..299\); 3 are not: 300, 301, 302"),
    (_npz(ids=ids[N_TEST // 2 :], codes=ok[N_TEST // 2 :]),
     r"must cover every test item of dataset fm300 \(ids 0..59.*30 are missing: 0, 1, 2, 3, 4, …"),
    (_npz(ids=ids, codes=ok[:-1]), r"300 ids but 299 codes"),
    (_npz(ids=ids, codes=np.zeros((N, 0))), r"0 numbers each"),
    (_npz(ids=ids.astype(float), codes=ok), r"ids are float64, must be integers"),
    (_npz(ids=ids, codes=ok[:, 0]), r"codes has shape \(300,\); need \[N, D\]"),
    (_npz(ids=ids, codes=np.array([object()] * N)), r"not a readable .npz without pickled objects"),
    (_pq(pa.table({"item": ids, "v": [[1.0, 2.0]] * N})), r"needs exactly one id column.*none.*--id-column"),
    (_pq(pa.table({"id": ids, "a": [[1.0]] * N, "b": [[2.0]] * N})), r"found 2 \(a, b\).*--codes-column"),
    (_pq(pa.table({"id": ids, "v": [[1.0, 2.0]] * (N - 1) + [[1.0]]})), r"different lengths \(1..2\)"),
    (_pq(pa.table({"id": ids, "v": [[1.0]] * (N - 1) + [None]})), r"column 'v' has 1 empty \(null\) value"),
    (_pq(pa.table({"id": ids, "v": [["a"]] * N})), r"lists of numbers"),
    (_csv, r"give an .npz \(ids, codes\) or a Parquet file"),
]  # fmt: skip


@pytest.mark.parametrize("make, message", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_codes_are_refused_with_a_message_and_leave_nothing(fm300, capsys, make, message):
    path = make(fm300 / "codes")
    assert cli.main(["import-codes", str(path), "--dataset", "fm300", "--name", "bad"]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert left_behind(fm300) == []


def test_codes_for_a_dataset_that_is_not_there(fm300, capsys):
    np.savez(fm300 / "c.npz", ids=ids, codes=ok)
    assert cli.main(["import-codes", str(fm300 / "c.npz"), "--dataset", "nothing-here", "--name", "c"]) == 2
    assert "dataset add nothing-here" in capsys.readouterr().err
    assert not (fm300 / "runs" / "nothing-here").exists()
    assert cli.main(["import-codes", str(fm300 / "c.npz"), "--dataset", "fm300", "--name", "Bad Name"]) == 2
    assert "run name 'Bad Name'" in capsys.readouterr().err


def test_an_imported_run_has_nothing_to_prepare_and_no_model(fm300, capsys):
    np.savez(fm300 / "c.npz", ids=ids, codes=pca_codes(2))
    assert cli.main(["import-codes", str(fm300 / "c.npz"), "--dataset", "fm300"]) == 0
    assert cli.main(["prepare", "fm300/c"]) == 2
    assert "nothing to prepare" in capsys.readouterr().err
    assert json.loads((fm300 / "runs" / "fm300" / "c" / "config.json").read_text())["kind"] == "codes"
    with pytest.raises(CheckpointError, match="holds imported codes .*not a model"):
        load_model("fm300/c")
    assert find_run("fm300/c").capabilities == frozenset()  # what a page asks before it loads a model


def test_a_codes_run_has_a_map_and_similar_items_in_the_dashboard(fm300):
    """No model: the map (coloured by class, no error colouring) and the Similar page from the stored codes."""
    from tests.support.pages import open_link, switch_page

    codes = pca_codes(3)
    np.savez(fm300 / "pca3.npz", ids=np.arange(N), codes=codes)
    assert cli.main(["import-codes", str(fm300 / "pca3.npz"), "--dataset", "fm300"]) == 0
    at = open_link({"page": "map", "dataset": "fm300", "variant": "fm300/pca3"})
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert at.selectbox(key="variant").value == "fm300/pca3"
    data = map_data(at)
    assert data["modes"] == ["class", "cluster"]  # no reconstructions: no error to colour by
    assert data["points"]["error"] is None and not data["atlas"]["has_recon"]
    switch_page(at, "similar").run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert [m.value for m in at.metric if m.label == "Same class"], "neighbours from the imported codes"
