"""The offline commands behind ``latent-explorer <command>`` (= ``python -m explorer <command>``), one module each.

They do the heavy work (training, measuring, mapping, compressing, clustering) with progress bars and leave
artefacts beside the checkpoints, which the dashboard only loads:

    train.py      train     the autoencoders                       -> <variant>/config.json, model.safetensors
    judge.py      train-judge  the judge classifier                -> judge/ (+ metrics.json)
    evaluate.py   evaluate  every variant beside the classical tool for its job, and generation quality
                            -> <variant>/metrics.json, baselines.json, generation.json, evaluation.md
    project.py    project   the UMAP maps                          -> <variant>/projection-*.npz
    compress.py   compress  rate-distortion of the codes           -> compression.json
    cluster.py    cluster   DEC, N2D and k-means                   -> clustering.json, clustering.npz
"""
