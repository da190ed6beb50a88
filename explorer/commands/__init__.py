"""The offline commands: each computes an artefact and stores it beside the checkpoints."""
