"""Every markdown table the commands write (``checkpoints/evaluation.md``, the README's sections).

Measuring happens in ``explorer.commands``; this module only turns measured numbers into text. It imports
no model code at import time, so pages may use its row labels.
"""

from __future__ import annotations

from pathlib import Path

# The rows of the generation table: generation.json's row key -> label.
GENERATION_ROWS = {
    "vae": "VAE samples, z ~ N(0, I)",
    "pca_gaussian": "PCA-10 + Gaussian samples",
    "train": "train images (floor)",
}


def _fmt(v, digits=2):
    return "–" if v is None else f"{v:.{digits}f}"


def render_table(metrics: dict[str, dict], base: dict, bars: dict[str, list], noise_amount: float) -> str:
    """The evaluation table (markdown), each variant beside the classical tool for its job, then the bars.

    ``metrics``: variant -> its metrics.json, in registry order; ``base``: baselines.json; ``bars``: ``check_bars``'
    rows; ``noise_amount``: the noise the denoising baselines were measured at.
    """
    from .models import get_variant

    def g(d, k):
        return (d or {}).get(k)

    lines = [
        "| model | job | PSNR dB | SSIM | P@10 | code < 0.05 | 8-bit code entropy B | −ELBO nats |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def row(label, job, d, psnr_key="psnr", ssim_key="ssim"):
        cells = [
            _fmt(g(d, psnr_key)),
            _fmt(g(d, ssim_key), 3),
            _fmt(g(d, "precision_at_10"), 3),
            _fmt(g(d, "sparsity"), 3),
            _fmt(g(d, "code_entropy_bytes")),
            _fmt(g(d, "neg_elbo"), 1),
        ]
        lines.append(f"| {label} | {job} | " + " | ".join(cells) + " |")

    # A variant whose job is reconstruction: its code makes the image, and it is not trained to denoise
    # (a denoiser's row is the denoising one, beside the median filters).
    for name, m in metrics.items():
        if get_variant(name).can("decoder") and not get_variant(name).can("denoiser"):
            row(f"**{name}**", "reconstruction", m)
    row("PCA-10", "reconstruction", base.get("pca10"))
    row("PCA-32", "reconstruction", base.get("pca32"))
    row("raw pixels", "similar items", base.get("raw_pixels"))
    for name, m in metrics.items():
        if "denoise_psnr" in m:
            row(f"**{name}**", f"denoising @ {m['noise_amount']}", m, "denoise_psnr", "denoise_ssim")
    for key, label in (
        ("noisy_input", "noisy input"),
        ("median3", "3×3 median"),
        ("adaptive_median", "adaptive median"),
    ):
        row(label, f"denoising @ {noise_amount}", base.get(key))
    lines += ["", "Bars:", ""]
    for name, rows in bars.items():
        for k, v, op, b, ok in rows:
            lines.append(f"- {name} {k} = {v:.4g} (bar {op} {b:.4g}): {'met' if ok else 'NOT MET'}")
    return "\n".join(lines) + "\n"


def render_generation_table(result: dict) -> str:
    """Markdown table of generation.json's rows, and whether the VAE beats the baseline."""
    rows = result["rows"]
    lines = [
        f"| generator ({result['n']:,} images) | Fashion-FID to test ↓ | judge confidence ↑ |",
        "|---|---|---|",
    ]
    for key, label in GENERATION_ROWS.items():
        if key in rows:
            lines.append(f"| {label} | {rows[key]['fid']:.2f} | {rows[key]['confidence']:.3f} |")
    lines.append(f"| test images themselves | 0 | {result['test_confidence']:.3f} |")
    if "vae" in rows and "pca_gaussian" in rows:
        v, p = rows["vae"], rows["pca_gaussian"]
        ok = v["fid"] < p["fid"] and v["confidence"] > p["confidence"]
        lines += ["", f"- vae beats the PCA-Gaussian baseline on both measures: {'met' if ok else 'NOT MET'}"]
    return "\n".join(lines) + "\n"


def render_generation_section(result: dict) -> str:
    """The generation section appended to the evaluation table."""
    return "\nGeneration:\n\n" + render_generation_table(result)


def render_training_table(root=None) -> str:
    """How each shipped checkpoint was trained, from its config.json."""
    from .checkpoint import CheckpointError, read_config
    from .models import VARIANTS

    optimizers = {"adam": "Adam", "adamw": "AdamW"}
    lines = [
        "| variant | epochs run (best) | batch | lr schedule | wall time | device, threads |",
        "|---|---|---|---|---|---|",
    ]
    for name in VARIANTS:
        try:
            c = read_config(name, root)
        except CheckpointError:
            continue
        r, t = c.get("recipe", {}), c.get("training", {})
        init = f", from `{r['init_from']}`" if r.get("init_from") else ""
        optimizer = optimizers.get(r.get("optimizer", "adam"), r.get("optimizer"))
        lines.append(
            f"| `{name}` | {t.get('epochs_run')} ({t.get('best_epoch')}) | {r.get('batch_size')} "
            f"| {optimizer} {r.get('lr')}, {r.get('schedule')}{init} | {t.get('wall_seconds', 0) / 60:.1f} min "
            f"| {t.get('device')}, {t.get('threads')} |"
        )
    return "\n".join(lines) + "\n"


def update_readme(table: str, readme: Path, section: str = "evaluation") -> bool:
    """Replace the text between ``<!-- section:start -->`` and ``<!-- section:end -->`` in ``readme`` with
    ``table``; False (nothing written) when the file or a marker is missing."""
    start, end = f"<!-- {section}:start -->", f"<!-- {section}:end -->"
    if not readme.is_file():
        return False
    text = readme.read_text()
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{table}{end}{tail}")
    return True


# ---- compression and clustering


def compression_table(rows: list[dict]) -> str:
    """The rate–distortion rows of ``compress`` as a markdown table, autoencoders first, then PCA, WebP, JPEG, PNG."""
    lines = ["| method | bits | bytes/image (all counted) | entropy B | raw B | PSNR dB |", "|---|---|---|---|---|---|"]
    family_order = {"autoencoder": 0, "pca": 1, "webp": 2, "jpeg": 3, "png": 4}
    for r in sorted(rows, key=lambda r: (family_order.get(r["family"], 5), r["method"].split()[0], r["bytes"])):
        ent = f"{r['entropy_bytes']:.2f}" if "entropy_bytes" in r else "–"
        raw = f"{r['raw_bytes']:g}" if "raw_bytes" in r else "–"
        lines.append(f"| {r['method']} | {r.get('bits') or '–'} | {r['bytes']:.2f} | {ent} | {raw} | {r['psnr']:.2f} |")
    return "\n".join(lines) + "\n"
