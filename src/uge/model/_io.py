"""Safe model files: tensors through ``torch.load(weights_only=True)``, the rest as JSON."""

from __future__ import annotations

import json
import os
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import torch

from uge._constants import VERSION
from uge.core import check_genes

from ._base import UGEBase
from ._build import from_saved

MODEL_FILE = "model.pt"
META_FILE = "uge_model.json"
FORMAT = "uge-model"
FORMAT_VERSION = 1


def _encode(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _encode(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_encode(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, pd.DataFrame):
        return {"__dataframe__": obj.to_dict(orient="split")}
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _decode(obj: Any) -> Any:
    if isinstance(obj, dict):
        if "__ndarray__" in obj:
            dtype = obj["dtype"]
            return np.array(obj["__ndarray__"], dtype=object if dtype == "object" else dtype)
        if "__dataframe__" in obj:
            d = obj["__dataframe__"]
            return pd.DataFrame(d["data"], index=d["index"], columns=d["columns"])
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    return obj


def write_model(dir_path: str, overwrite: bool, state_dict: dict, meta: dict) -> None:
    """Write ``state_dict`` (tensors only) and ``meta`` (JSON-able, numpy and pandas allowed)."""
    if os.path.exists(dir_path) and not overwrite:
        raise ValueError(
            f"{dir_path} already exists. Pass overwrite=True or choose another directory."
        )
    os.makedirs(dir_path, exist_ok=True)
    torch.save(state_dict, os.path.join(dir_path, MODEL_FILE))
    with open(os.path.join(dir_path, META_FILE), "w") as f:
        json.dump(_encode({"format": FORMAT, "format_version": FORMAT_VERSION, **meta}), f)


def read_model(dir_path: str, map_location: str | torch.device = "cpu") -> tuple[dict, dict]:
    """Read a directory written by :func:`write_model`; never executes code from the files."""
    meta_path = os.path.join(dir_path, META_FILE)
    model_path = os.path.join(dir_path, MODEL_FILE)
    if not os.path.isdir(dir_path):
        raise ValueError(f"{dir_path} is not a directory; pass the directory given to save().")
    try:
        with open(meta_path) as f:
            meta = _decode(json.load(f))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{dir_path} is not a saved UGE model: {META_FILE} is missing or unreadable "
            f"({exc.__class__.__name__}). Save a model with `model.save(dir_path)`."
        ) from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{meta_path} is not a UGE model description (no format {FORMAT!r}).")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{dir_path} was saved by uge {meta.get('uge_version', '?')} in model format "
            f"{meta['format_version']}, newer than this uge {VERSION} reads (format "
            f"{FORMAT_VERSION}); upgrade uge to load it."
        )
    try:
        state_dict = torch.load(model_path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"{model_path} could not be read as UGE weights ({exc.__class__.__name__}: {exc}). "
            "Only files written by UGE.save can be loaded; pickled objects are refused."
        ) from exc
    return state_dict, meta


def torch_device(accelerator: str) -> torch.device:
    """The torch device of a Lightning ``accelerator`` name (``"auto"``: a GPU if any)."""
    if accelerator not in ("auto", "cpu", "gpu", "cuda", "mps"):
        raise ValueError(
            f"accelerator must be 'auto', 'cpu', 'gpu', 'cuda' or 'mps', got {accelerator!r}."
        )
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    if accelerator == "mps" or (accelerator == "auto" and torch.backends.mps.is_available()):
        return torch.device("mps")
    return torch.device("cpu")


class SaveLoadMixin(UGEBase):
    """``save`` and ``load`` through safe files (mixin of :class:`uge.UGE`)."""

    def save(self, dir_path: str, overwrite: bool = False, save_anndata: bool = False) -> None:
        """Save the model to a directory.

        Weights go to ``model.pt`` (tensors only, read back with
        ``torch.load(weights_only=True)``), everything else to ``uge_model.json``; loading
        never executes code from the files.

        Parameters
        ----------
        dir_path
            Directory to write.
        overwrite
            Replace an existing directory's model files.
        save_anndata
            Also write the training AnnData to ``adata.h5ad``.
        """
        meta = {
            "model": type(self).__name__,
            "uge_version": VERSION,
            "var_names": self.adata.var_names.to_numpy(dtype=str),
            "registry": self.adata_manager.registry,
            "init_params": self.init_params_,
            "is_trained": self.is_trained_,
            "history": self.history_,
            "query": self.query_,
            "inputs": {"prior_pairs": self.prior_pairs_, "gene_alignment": self.gene_alignment_},
        }
        write_model(dir_path, overwrite, self.module.state_dict(), meta)
        if save_anndata:
            self.adata.write_h5ad(os.path.join(dir_path, "adata.h5ad"))

    @classmethod
    def load(cls, dir_path: str, adata: ad.AnnData | None = None, accelerator: str = "auto"):
        """Load a model saved with :meth:`save`.

        Parameters
        ----------
        dir_path
            Directory written by :meth:`save`.
        adata
            AnnData with the same genes, in the same order, as the training data; it is
            registered with the saved setup. ``None`` reads ``adata.h5ad`` saved with the model.
        accelerator
            ``"cpu"``, ``"gpu"`` or ``"auto"``.

        Notes
        -----
        The model is rebuilt from its saved inputs (token genes, statistics, aligned pairs);
        a model saved by an earlier uge 0.1.0 that did not record them is rebuilt from
        ``adata`` as in training, then its weights are loaded.
        """
        state, meta = read_model(dir_path)
        if meta.get("model") != cls.__name__:
            raise ValueError(f"{dir_path} holds a {meta.get('model')!r} model, not {cls.__name__}.")
        if adata is None:
            path = os.path.join(dir_path, "adata.h5ad")
            if not os.path.exists(path):
                raise ValueError(
                    f"No AnnData saved in {dir_path}: pass the AnnData to load with, "
                    "`UGE.load(dir_path, adata)`, or save with `save(..., save_anndata=True)`."
                )
            adata = ad.read_h5ad(path)
        check_genes(
            adata.var_names,
            pd.Index(meta["var_names"]),
            "Pass an AnnData with the training genes in training order.",
        )
        registry = meta["registry"]
        cls.setup_anndata(adata, source_registry=registry, **registry["setup_args"])
        inputs = from_saved(cls._get_most_recent_anndata_manager(adata), meta, state)
        init = meta["init_params"]
        model = cls(adata, **init["non_kwargs"], **init.get("kwargs", {}), _inputs=inputs)
        if meta.get("query"):
            model.query_ = meta["query"]
        model.module.load_state_dict(state)
        model.is_trained_ = meta["is_trained"]
        model.history_ = meta["history"]
        model.to_device(torch_device(accelerator))
        model.module.eval()
        return model
