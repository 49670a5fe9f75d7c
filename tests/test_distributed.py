"""Distributed training: Lightning's DDP with two CPU (gloo) processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import uge

pytestmark = pytest.mark.slow  # two processes, each importing torch and uge

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import scvi, torch, uge

    torch.set_num_threads(1)
    scvi.settings.seed = 0
    adata = uge.datasets.simulate_study(
        n_samples_per_species=40, organs=("brain", "liver"), drugs=("tetracycline",),
        n_genes=80, seed=0,
    )
    uge.UGE.setup_anndata(adata, labels_key="organ", condition_key="drug")
    model = uge.UGE(adata, orthologs=adata.uns["orthologs"], d_model=16, n_heads=2,
                    max_tokens=32)
    model.train(max_epochs=2, batch_size=16, accelerator="cpu", devices=2,
                strategy=sys.argv[1], enable_progress_bar=False, enable_model_summary=False)
    weights = sum(float(p.double().sum()) for p in model.module.parameters())
    out = {"rank": int(os.environ.get("LOCAL_RANK", 0)), "weights": weights}
    if out["rank"] == 0:
        z = model.get_latent_representation()
        out["latent"] = list(z.shape)
        out["history"] = {k: v.to_numpy().ravel().tolist() for k, v in model.history.items()
                          if k.endswith("_train")}
    print("RESULT " + json.dumps(out), flush=True)
    """
)


@pytest.mark.parametrize("strategy", ["ddp_find_unused_parameters_true"])
def test_ddp_two_cpu_processes(tmp_path, strategy):
    """Two gloo processes train to the end, log every metric and hold the same weights."""
    script = tmp_path / "train_ddp.py"
    script.write_text(SCRIPT)
    # the child imports this very uge (also from a source tree that is not installed)
    src = str(Path(uge.__file__).parents[1])
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    proc = subprocess.run(
        [sys.executable, str(script), strategy],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = [
        json.loads(line.split("RESULT ", 1)[1])
        for line in proc.stdout.splitlines()
        if line.startswith("RESULT ")
    ]
    assert sorted(r["rank"] for r in results) == [0, 1]
    # gradients were synchronised: both processes end with the same model
    assert results[0]["weights"] == pytest.approx(results[1]["weights"], rel=1e-6)
    main = next(r for r in results if r["rank"] == 0)
    assert main["latent"] == [80, 32]
    history = main["history"]
    for key in ("reconstruction_loss_train", "gene_alignment_train", "latent_alignment_train"):
        assert len(history[key]) == 2
        assert all(v == v and abs(v) < float("inf") for v in history[key])


GATHER = textwrap.dedent(
    """
    import json, sys
    import torch, torch.distributed as dist
    from uge.module._module import gather_processes

    rank = int(sys.argv[1])
    dist.init_process_group("gloo", init_method="file://" + sys.argv[2], rank=rank, world_size=2)
    # minibatches of different sizes on the two processes
    z = torch.arange(3 + 2 * rank, dtype=torch.float64).view(-1, 1).add(10 * rank)
    z.requires_grad_(True)
    ids = torch.full((len(z),), rank)
    allz, allids = gather_processes(z, ids)
    ((1 + allids) * allz.pow(2).ravel()).sum().backward()
    print("RESULT " + json.dumps({"z": allz.detach().ravel().tolist(), "ids": allids.tolist(),
                                   "grad": z.grad.ravel().tolist()}), flush=True)
    dist.destroy_process_group()
    """
)


def test_gather_processes_concatenates_ranks_and_returns_gradients(tmp_path):
    """The latent alignment's gather: every rank sees all rows in rank order; gradients of
    a loss over them come back to each rank's own rows, summed over the ranks' losses."""
    script = tmp_path / "gather.py"
    script.write_text(GATHER)
    src = str(Path(uge.__file__).parents[1])
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(rank), str(tmp_path / "store")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for rank in (0, 1)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs[0][1][-3000:] + outs[1][1][-3000:]
    res = [json.loads(o.split("RESULT ", 1)[1]) for o, _ in outs]
    want = [0.0, 1.0, 2.0, 10.0, 11.0, 12.0, 13.0, 14.0]
    for r in res:
        assert r["z"] == want
        assert r["ids"] == [0, 0, 0, 1, 1, 1, 1, 1]
    # each rank's loss is sum((1 + id) * z**2) over all rows; both ranks' losses reach
    # every row: d/dz = 2 * 2 * (1 + id) * z
    assert res[0]["grad"] == [4.0 * v for v in want[:3]]
    assert res[1]["grad"] == [8.0 * v for v in want[3:]]
