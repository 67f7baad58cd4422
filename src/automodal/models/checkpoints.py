"""Offline-first checkpoint resolution: a local directory, then the local Hugging Face cache, then the hub."""

from __future__ import annotations

import contextlib
import os

from ..errors import CheckpointNotFoundError


def hub_offline() -> bool:
    return any(os.environ.get(flag, "").lower() in ("1", "true", "yes", "on")
               for flag in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _how_to_provide(name: str, key: str) -> str:
    return (f"Provide '{name}' locally: on a machine with network access run "
            f"`huggingface-cli download {name} --local-dir DIR` (or save_pretrained() the model and its "
            f"tokenizer to DIR), copy DIR here, and set {key} to DIR.")


def resolve_hf_checkpoint(name: str, key: str) -> str:
    """Return a local directory holding the checkpoint `name`; download only when the hub is reachable."""
    if not name:
        raise CheckpointNotFoundError(f"{key} is empty; set it to a Hugging Face checkpoint name or a local directory.")
    local = os.path.expanduser(name)
    if os.path.isdir(local):
        return local
    looks_like_path = name.startswith(("/", "./", "../", "~")) or name.count("/") > 1
    if looks_like_path:
        raise CheckpointNotFoundError(f"{key}: directory '{name}' does not exist (relative paths are read from the "
                                      f"working directory '{os.getcwd()}'). Set {key} to a directory holding the "
                                      "model's config.json, weights and tokenizer files (as save_pretrained() writes "
                                      "them), or to a Hugging Face checkpoint name.")
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(name, local_files_only=True)
    except Exception:  # not in the local cache
        pass
    if hub_offline():
        raise CheckpointNotFoundError(f"{key}: checkpoint '{name}' is not a local directory nor in the local "
                                      f"Hugging Face cache, and the hub is offline. {_how_to_provide(name, key)}")
    try:
        return snapshot_download(name)
    except Exception as exc:
        raise CheckpointNotFoundError(f"{key}: checkpoint '{name}' is not available locally and could not be "
                                      f"downloaded ({type(exc).__name__}). {_how_to_provide(name, key)}") from exc


@contextlib.contextmanager
def quiet_loading(unused_weights_expected: bool = False):
    """transformers draws a progress bar per from_pretrained(); the fit's own log reports what matters. When part
    of a checkpoint is left out on purpose (one tower of a CLIP), its report of unused weights is silenced too."""
    from transformers.utils import logging as hf_logging

    enabled, level = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    if unused_weights_expected:
        hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if enabled:
            hf_logging.enable_progress_bar()
