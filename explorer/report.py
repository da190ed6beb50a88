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
