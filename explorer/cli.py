"""``latent-explorer <command>`` (= ``python -m explorer <command>``): argument parsing only; each command's work
is done by ``explorer.commands.<command>``."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

DISTRIBUTED_COMMANDS = ("train", "prepare")  # the commands that share their work among torchrun's processes


def _threads(n: int | None) -> int:
    # Chosen on purpose: with 2 threads on 2 cores torch runs 3-4x slower than with 1 as soon as
    # another process holds a core (OpenMP waits on the descheduled worker). Default: all cores, shared
    # out among the processes torchrun starts on this machine (2 cores, 2 processes: 1 thread each).
    import torch

    from .distributed import local_world

    n = n or max(1, (os.cpu_count() or 1) // local_world())
    torch.set_num_threads(n)
    return n


def _variant_names(value: str, shipped: bool = True) -> list[str]:
    """The ``--variant`` value's names; ``shipped``: built-in variants only (the commands of the shipped checkpoints;
    a plugin's variant is trained and prepared as a run)."""
    from .models import VARIANTS, get_variant

    if value == "all":
        return list(VARIANTS)
    names = [v.strip() for v in value.split(",") if v.strip()]
    for n in names:
        get_variant(n)
        if shipped and n not in VARIANTS:
            raise ValueError(
                f"variant {n!r} is a plugin's: it trains as a run, `train --dataset fashion-mnist --variant {n} "
                f"--name RUN`, then `prepare fashion-mnist/RUN`."
            )
    return names


def cmd_train(args) -> int:
    from . import distributed
    from .train import pick_device

    threads = _threads(args.threads)
    with distributed.session(pick_device(args.device)):  # under torchrun: join the process group
        return _train(args, threads)


def _train(args, threads: int) -> int:
    from .commands.train import run_training, train_run

    if args.dataset or args.name:  # a run of one's own: runs/<dataset>/<name>/
        variants = _variant_names(args.variant, shipped=False)
        if len(variants) != 1:
            raise ValueError("train --dataset/--name trains one run: give one --variant, e.g. --variant dense.")
        train_run(
            args.dataset or "fashion-mnist",
            variants[0],
            args.name,
            runs=args.runs,
            overwrite=args.overwrite,
            datasets_root=args.datasets,
            data_dir=args.data_dir,
            device=args.device,
            epochs=args.epochs,
            batch_size=args.batch_size,
            limit=args.limit,
            threads=threads,
            assignments=args.set,
            snapshots=args.snapshots,
        )
        return 0
    run_training(
        _variant_names(args.variant),
        data_dir=args.data_dir,
        root=args.out,
        device=args.device,
        epochs=args.epochs,
        batch_size=args.batch_size,
        limit=args.limit,
        threads=threads,
        assignments=args.set,
        snapshots=args.snapshots,
    )
    return 0


def cmd_dataset(args) -> int:
    from .datasets import add_dataset, default_root, list_datasets

    if args.action == "add":
        if not args.name or not args.path:
            raise ValueError("dataset add needs a NAME and a PATH: latent-explorer dataset add digits digits.npz")
        from tqdm import tqdm

        d = add_dataset(args.name, args.path, args.datasets, args.overwrite, lambda it: tqdm(it, desc="reading"))
        labels = f"{len(d.class_names)} classes" if d.has_labels else "no labels"
        print(f"{d.name}: {len(d):,} images of {'×'.join(map(str, d.shape))}, {labels}, {d.n_test:,} for test")
        for notice in d.info["notices"]:
            print(f"  note: {notice}")
        print(f"  sha256 {d.sha256[:16]}… -> {args.datasets or default_root()}/{d.name}")
        return 0
    rows = list_datasets(args.datasets)
    if not rows:
        print(f"No datasets registered in {args.datasets or default_root()}: latent-explorer dataset add NAME PATH")
    for r in rows:
        if "problem" in r:
            print(f"{r['name']}: {r['problem']}")
            continue
        labels = f"{len(r['class_names'])} classes" if r.get("class_names") else "no labels"
        shape = "×".join(map(str, r["shape"]))
        print(f"{r['name']}: {r['n_items']:,} images of {shape}, {labels}, {r['n_test']:,} test ({r['source_kind']})")
    return 0


def cmd_prepare(args) -> int:
    from . import distributed
    from .commands.prepare import run_prepare

    _threads(args.threads)
    splits = ("test", "all") if args.all else ("test",)
    with distributed.session("cpu"):  # under torchrun: the processes share the encoding
        for key in args.run:
            timings = run_prepare(key, args.runs, args.data_dir, args.datasets, args.force, splits)
            if distributed.is_main():
                print(
                    f"{key}: prepared in {sum(timings.values()):.1f} s ("
                    + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
                    + ")"
                )
    return 0


def cmd_import_codes(args) -> int:
    from .commands.import_codes import import_codes

    import_codes(
        args.file,
        args.dataset,
        args.name,
        runs=args.runs,
        overwrite=args.overwrite,
        data_dir=args.data_dir,
        datasets_root=args.datasets,
        id_column=args.id_column,
        codes_column=args.codes_column,
    )
    return 0


def cmd_evaluate(args) -> int:
    from .commands.evaluate import run_evaluation

    _threads(args.threads)
    readme = Path(__file__).resolve().parent.parent / "README.md" if args.out is None else None
    run_evaluation(_variant_names(args.variant), data_dir=args.data_dir, root=args.out, quick=args.quick, readme=readme)
    return 0


def cmd_project(args) -> int:
    from .commands.project import run_projection

    _threads(args.threads)
    splits = ("test", "all") if args.all else ("test",)
    run_projection(_variant_names(args.variant), data_dir=args.data_dir, root=args.out, force=args.force, splits=splits)
    return 0


def cmd_train_judge(args) -> int:
    from .commands.judge import RECIPE, run_train_judge

    threads = _threads(args.threads)
    overrides = {k: v for k, v in {"epochs": args.epochs, "max_minutes": args.max_minutes}.items() if v}
    recipe = dataclasses.replace(RECIPE, **overrides)
    run_train_judge(args.data_dir, args.out, recipe, args.device, args.limit, threads)
    return 0


def cmd_compress(args) -> int:
    from .commands.compress import run_compression

    _threads(args.threads)
    run_compression(_variant_names(args.variant), data_dir=args.data_dir, root=args.out, limit=args.limit)
    return 0


def cmd_cluster(args) -> int:
    from .commands.cluster import run_clustering

    _threads(args.threads)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    run_clustering(
        args.data_dir,
        args.out,
        args.encoder,
        args.seed,
        args.dec_seconds,
        args.limit,
        methods,
        n2d_metric=args.n2d_metric,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .models import VARIANTS
    from .snapshots import DEFAULT_SNAPSHOTS, MAX_SNAPSHOTS

    p = argparse.ArgumentParser(
        prog="latent-explorer",
        description="Latent Explorer: train, prepare and map autoencoders on Fashion-MNIST or your own images.",
    )
    p.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="register the variants of a plugin module (repeatable; installed plugins are found by their entry "
        "points); may also follow the command",
    )
    sub = p.add_subparsers(dest="command", required=True)

    def data_and_out(sp, threads_default=None, threads_help="torch threads (default: all cores)"):
        sp.add_argument("--data-dir", default=None, help="directory with the Fashion-MNIST IDX files")
        sp.add_argument("--out", default=None, help="checkpoints root (default: ./checkpoints)")
        sp.add_argument("--threads", type=int, default=threads_default, help=threads_help)

    def common(sp):
        sp.add_argument("--variant", default="all", help=f"{', '.join(VARIANTS)}, a comma list, or all")
        data_and_out(sp)

    def training(sp):
        sp.add_argument("--epochs", type=int, default=None, help="override the recipe's maximum epochs")
        sp.add_argument("--device", default="auto", help="auto, cpu or cuda")
        sp.add_argument("--limit", type=int, default=None, help="train on the first N images only (smoke runs)")

    t = sub.add_parser("train", help="train autoencoders and write their checkpoints")
    common(t)
    training(t)
    t.add_argument("--batch-size", type=int, default=None)
    t.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config or recipe field, e.g. --set latent=2 --set epochs=5 (latent: any variant's code size)",
    )
    t.add_argument("--dataset", default=None, help="train a run on this dataset (fashion-mnist or one `dataset add`ed)")
    t.add_argument("--name", default=None, help="the run's name (default: the variant's): runs/<dataset>/<name>/")
    t.add_argument("--runs", default=None, help="runs root (default: $LATENT_EXPLORER_RUNS or ./runs)")
    t.add_argument("--datasets", default=None, help="datasets root (default: $LATENT_EXPLORER_DATASETS or cache)")
    t.add_argument("--overwrite", action="store_true", help="replace a run of the same name")
    t.add_argument(
        "--snapshots",
        type=int,
        default=DEFAULT_SNAPSHOTS,
        metavar="K",
        help=f"keep K snapshots of the latent space while training, denser early (0-{MAX_SNAPSHOTS}; "
        f"default {DEFAULT_SNAPSHOTS}; 0: none)",
    )
    t.set_defaults(func=cmd_train)

    pp = sub.add_parser("prepare", help="compute a run's metrics, map, generation quality and data-quality lists")
    pp.add_argument("run", nargs="+", help="run keys: a shipped variant (dense) or <dataset>/<run> (digits/dense)")
    pp.add_argument("--runs", default=None, help="runs root (default: $LATENT_EXPLORER_RUNS or ./runs)")
    pp.add_argument("--datasets", default=None, help="datasets root (default: $LATENT_EXPLORER_DATASETS or cache)")
    pp.add_argument("--data-dir", default=None, help="directory with the Fashion-MNIST IDX files")
    pp.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    pp.add_argument("--force", action="store_true", help="recompute even what is up to date")
    pp.add_argument("--all", action="store_true", help="also map the train split")
    pp.set_defaults(func=cmd_prepare)

    ds = sub.add_parser("dataset", help="register an image dataset of your own (IDX folder, image folder, .npz)")
    ds.add_argument("action", choices=("add", "list"))
    ds.add_argument("name", nargs="?", help="the dataset's name (lower-case letters, digits, - and _)")
    ds.add_argument("path", nargs="?", help="an .npz (x, y, class_names), a folder of IDX files or of images")
    ds.add_argument("--datasets", default=None, help="datasets root (default: $LATENT_EXPLORER_DATASETS or cache)")
    ds.add_argument("--overwrite", action="store_true", help="replace a dataset of the same name")
    ds.set_defaults(func=cmd_dataset)

    ic = sub.add_parser("import-codes", help="give codes computed elsewhere (.npz or Parquet) a map and similar items")
    ic.add_argument("file", help="an .npz with ids [N] and codes [N, D], or Parquet with an id and a list column")
    ic.add_argument("--dataset", required=True, help="the dataset the ids are item ids of (fashion-mnist or added)")
    ic.add_argument("--name", default=None, help="the run's name (default: the file's): runs/<dataset>/<name>/")
    ic.add_argument("--runs", default=None, help="runs root (default: $LATENT_EXPLORER_RUNS or ./runs)")
    ic.add_argument("--datasets", default=None, help="datasets root (default: $LATENT_EXPLORER_DATASETS or cache)")
    ic.add_argument("--data-dir", default=None, help="directory with the Fashion-MNIST IDX files")
    ic.add_argument("--id-column", default=None, help="Parquet: the id column (default: the one named id or ids)")
    ic.add_argument("--codes-column", default=None, help="Parquet: the codes column (default: the one list column)")
    ic.add_argument("--overwrite", action="store_true", help="replace a run of the same name")
    ic.set_defaults(func=cmd_import_codes)

    e = sub.add_parser("evaluate", help="measure checkpoints and baselines on the test split; write metrics.json")
    common(e)
    e.add_argument("--quick", action="store_true", help="skip the slow baselines (adaptive median)")
    e.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser("project", help="compute the UMAP maps stored beside each checkpoint")
    common(pr)
    pr.add_argument("--force", action="store_true", help="recompute even when up to date")
    pr.add_argument("--all", action="store_true", help="also map all 70k images (slower)")
    pr.set_defaults(func=cmd_project)

    j = sub.add_parser("train-judge", help="train the CNN classifier that labels generated images (checkpoints/judge)")
    data_and_out(j)
    training(j)
    j.add_argument("--max-minutes", type=float, default=None, help="time box (default: the recipe's)")
    j.set_defaults(func=cmd_train_judge)

    c = sub.add_parser("compress", help="rate-distortion of the codes (range-coded) vs PNG/JPEG/WebP/PCA")
    common(c)
    c.add_argument("--limit", type=int, default=None, help="measure the first N test images only (smoke runs)")
    c.set_defaults(func=cmd_compress)

    cl = sub.add_parser("cluster", help="DEC, N2D and k-means on all 70k images; writes checkpoints/clustering.*")
    data_and_out(cl, 1, "torch threads (default: 1)")
    cl.add_argument("--encoder", default="dense", help="the variant whose codes are clustered")
    cl.add_argument(
        "--methods",
        default="kmeans_pca10,kmeans_ae,n2d,n2d_sparse,n2d_vae,dec",
        help="comma list; n2d_<variant> clusters that variant's codes, the others --encoder's",
    )
    cl.add_argument("--seed", type=int, default=0)
    cl.add_argument(
        "--n2d-metric",
        default=None,
        help="UMAP metric for the N2D methods run now (default: cosine for the sparse codes, euclidean for the others)",
    )
    cl.add_argument("--dec-seconds", type=float, default=600, help="time box of DEC's fine-tuning")
    cl.add_argument("--limit", type=int, default=None, help="a random N of the 70k images only (smoke runs)")
    cl.set_defaults(func=cmd_cluster)
    sub.add_parser(
        "serve",
        help="start the dashboard warm (torch and the pages imported first), one thread each, no Nagle delay; "
        "Streamlit's options follow (e.g. --server.port 8502)",
        add_help=False,  # every option after `serve` is Streamlit's (main passes them on before parsing)
    )
    return p


def cmd_serve(options: list[str], plugin_modules: list[str]) -> int:
    from .ui.serve import serve

    return serve(options, plugin_modules)


def load_plugins(argv: list[str]) -> list[str]:
    """Register the installed plugins (a broken one is a warning) and every ``--plugin MODULE`` in ``argv`` (anywhere
    in it) -> ``argv`` without those options; PluginError for a ``--plugin`` module that fails."""
    from . import plugins

    modules, rest = plugins.plugins_from_argv(argv), plugins.strip_plugin_args(argv)
    _, problems = plugins.load_entry_points()
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    plugins.load_plugins(modules, entry_points=False)
    return rest


def main(argv: list[str] | None = None) -> int:
    from .checkpoint import CheckpointError
    from .data import DatasetError
    from .distributed import DistributedError, launched
    from .plugins import PluginError

    argv = sys.argv[1:] if argv is None else list(argv)
    from .plugins import plugins_from_argv

    try:
        modules = plugins_from_argv(argv)
        argv = load_plugins(argv)
    except PluginError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if argv[:1] == ["serve"]:  # Streamlit's options, passed on as they are (argparse would refuse --server.port)
        return cmd_serve(argv[1:], modules)
    args = build_parser().parse_args(argv)
    try:
        if launched() and args.command not in DISTRIBUTED_COMMANDS:  # N copies would each do all and write alike
            raise ValueError(
                f"{args.command} runs in one process: start it without torchrun "
                f"(torchrun serves {' and '.join(DISTRIBUTED_COMMANDS)})."
            )
        return args.func(args)
    except (DatasetError, CheckpointError, ValueError, FloatingPointError, DistributedError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
