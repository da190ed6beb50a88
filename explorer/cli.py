"""``python -m explorer <command>``: train, evaluate, project."""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time


def _threads(n: int | None) -> int:
    # Chosen on purpose: with 2 threads on 2 cores torch runs 3-4x slower than with 1 as soon as
    # another process holds a core (OpenMP waits on the descheduled worker). Default: all cores.
    import torch

    n = n or os.cpu_count() or 1
    torch.set_num_threads(n)
    return n


def cmd_train(args) -> int:
    import torch

    from .checkpoint import load_model, save_checkpoint
    from .data import load_fashion_mnist, train_val_split
    from .models import get_variant
    from .train import pick_device, train

    names = _variant_names(args.variant)
    threads = _threads(args.threads)
    device = pick_device(args.device)
    data = load_fashion_mnist(args.data_dir, download_if_missing=True)
    for name in names:
        variant = get_variant(name)
        overrides = {k: v for k, v in {"epochs": args.epochs, "batch_size": args.batch_size}.items() if v}
        recipe = dataclasses.replace(variant.recipe, **overrides)
        tr, va = train_val_split(len(data.train), recipe.val_fraction, recipe.seed)
        if args.limit:
            tr, va = tr[: args.limit], va[: max(args.limit // 10, 1)]
        x = data.train.tensor()
        torch.manual_seed(recipe.seed)  # weight initialisation
        model = variant.build()
        if recipe.init_from:
            start = load_model(recipe.init_from, args.out)
            if type(start) is not type(model) or start.code_dim != model.code_dim:
                raise ValueError(f"{name}: init_from={recipe.init_from!r} has another architecture.")
            model.load_state_dict(start.state_dict())
        result = train(model, x[tr], x[va], recipe, device, desc=name)
        training = {
            "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch,
            "wall_seconds": round(result.seconds, 1),
            "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
            "cpu": platform.processor() or platform.machine(),
            "threads": threads,
            "torch": torch.__version__,
            "train_images": len(tr),
            "val_images": len(va),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        out = save_checkpoint(
            result.model, name, args.out, recipe=dataclasses.asdict(recipe), training=training,
            history=result.history, dataset_sha256=data.sha256,
        )  # fmt: skip
        best = result.history[result.best_epoch - 1]
        print(
            f"{name}: {result.epochs_run} epochs in {result.seconds / 60:.1f} min on {training['device']}, "
            f"best val loss {best['val_loss']:.5g} (epoch {result.best_epoch}) -> {out}"
        )
    print("Now measure them: python -m explorer evaluate")
    return 0


def _variant_names(value: str) -> list[str]:
    from .models import VARIANTS, get_variant

    if value == "all":
        return list(VARIANTS)
    names = [v.strip() for v in value.split(",") if v.strip()]
    for n in names:
        get_variant(n)
    return names


def cmd_evaluate(args) -> int:
    from pathlib import Path

    from .evaluate import run_evaluation

    _threads(args.threads)
    readme = Path(__file__).resolve().parent.parent / "README.md" if args.out is None else None
    run_evaluation(_variant_names(args.variant), data_dir=args.data_dir, root=args.out, quick=args.quick, readme=readme)
    return 0


def cmd_project(args) -> int:
    from .projection import run_projection

    _threads(args.threads)
    splits = ("test", "all") if args.all else ("test",)
    run_projection(_variant_names(args.variant), data_dir=args.data_dir, root=args.out, force=args.force, splits=splits)
    return 0


def cmd_train_judge(args) -> int:
    from .judge import JudgeRecipe, run_train_judge

    threads = _threads(args.threads)
    overrides = {k: v for k, v in {"epochs": args.epochs, "max_minutes": args.max_minutes}.items() if v}
    recipe = dataclasses.replace(JudgeRecipe(), **overrides)
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
    run_clustering(args.data_dir, args.out, args.encoder, args.seed, args.dec_seconds, args.limit, methods,
                   n2d_metric=args.n2d_metric)  # fmt: skip
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m explorer", description="Latent Explorer: train, evaluate, project.")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("--variant", default="all", help="dense, sparse, denoising, vae, a comma list, or all")
        sp.add_argument("--data-dir", default=None, help="directory with the Fashion-MNIST IDX files")
        sp.add_argument("--out", default=None, help="checkpoints root (default: ./checkpoints)")
        sp.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")

    t = sub.add_parser("train", help="train variants and write their checkpoints")
    common(t)
    t.add_argument("--epochs", type=int, default=None, help="override the recipe's maximum epochs")
    t.add_argument("--batch-size", type=int, default=None)
    t.add_argument("--device", default="auto", help="auto, cpu or cuda")
    t.add_argument("--limit", type=int, default=None, help="train on the first N images only (smoke runs)")
    t.set_defaults(func=cmd_train)

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
    j.add_argument("--data-dir", default=None, help="directory with the Fashion-MNIST IDX files")
    j.add_argument("--out", default=None, help="checkpoints root (default: ./checkpoints)")
    j.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    j.add_argument("--epochs", type=int, default=None, help="override the recipe's maximum epochs")
    j.add_argument("--max-minutes", type=float, default=None, help="time box (default: the recipe's)")
    j.add_argument("--device", default="auto", help="auto, cpu or cuda")
    j.add_argument("--limit", type=int, default=None, help="train on the first N images only (smoke runs)")
    j.set_defaults(func=cmd_train_judge)

    c = sub.add_parser("compress", help="rate-distortion of the codes (range-coded) vs PNG/JPEG/WebP/PCA")
    common(c)
    c.add_argument("--limit", type=int, default=None, help="measure the first N test images only (smoke runs)")
    c.set_defaults(func=cmd_compress)

    cl = sub.add_parser("cluster", help="DEC, N2D and k-means on all 70k images; writes checkpoints/clustering.*")
    cl.add_argument("--data-dir", default=None, help="directory with the Fashion-MNIST IDX files")
    cl.add_argument("--out", default=None, help="checkpoints root (default: ./checkpoints)")
    cl.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    cl.add_argument("--encoder", default="dense", help="the variant whose codes are clustered")
    cl.add_argument("--methods", default="kmeans_pca10,kmeans_ae,n2d,n2d_sparse,n2d_vae,dec",
                    help="comma list; n2d_<variant> clusters that variant's codes, the others --encoder's")  # fmt: skip
    cl.add_argument("--seed", type=int, default=0)
    cl.add_argument("--n2d-metric", default=None, help="UMAP metric for the N2D methods run now (default: cosine "
                    "for the sparse codes, euclidean for the others)")  # fmt: skip
    cl.add_argument("--dec-seconds", type=float, default=600, help="time box of DEC's fine-tuning")
    cl.add_argument("--limit", type=int, default=None, help="a random N of the 70k images only (smoke runs)")
    cl.set_defaults(func=cmd_cluster)
    return p


def main(argv: list[str] | None = None) -> int:
    from .checkpoint import CheckpointError
    from .data import DatasetError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (DatasetError, CheckpointError, ValueError, FloatingPointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
