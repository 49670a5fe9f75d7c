"""UGE's transformer encoder against Hugging Face's ``BertModel`` of the same size.

Both encoders get the same random token embeddings (``batch × tokens × d_model``, no
padding), the same width, depth, heads, feed-forward width (2 × ``d_model``, UGE's) and no
dropout; BERT uses PyTorch's fused attention (``attn_implementation="sdpa"``). A training
step is forward, a mean-squared loss on the sample output (UGE's ``<cls>``, BERT's first
token), backward and an AdamW update. Reported: training tokens per second (median of
timed steps after warm-up) for 32-bit and bf16 autocast, and UGE / BERT in the same run.
Needs ``transformers`` (not a dependency of uge). Writes
``benchmarks/results/encoder_<device>.md``.

Usage::

    python benchmarks/bench_encoder.py --device cpu --steps 10
    python benchmarks/bench_encoder.py --device cuda --batch 32 256 1024
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import nullcontext

import torch
from _harness import RESULTS, command, section, write
from transformers import BertConfig, BertModel

from uge.module._encoder import TransformerEncoder

SIZES = {
    "default": (64, 2, 4),  # d_model, layers, heads
    "paper": (256, 4, 8),
}


class Bert(torch.nn.Module):
    """``BertModel`` on given input embeddings, returning the first token's output."""

    def __init__(self, d: int, layers: int, heads: int, dropout: float) -> None:
        super().__init__()
        config = BertConfig(
            hidden_size=d,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=2 * d,
            hidden_dropout_prob=dropout,
            attention_probs_dropout_prob=dropout,
            max_position_embeddings=1024,
            vocab_size=2,
            attn_implementation="sdpa",
        )
        self.bert = BertModel(config, add_pooling_layer=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.bert(inputs_embeds=h).last_hidden_state[:, 0]


def tokens_per_s(
    model: torch.nn.Module, batch: int, length: int, d: int, device: str, bf16: bool, steps: int
) -> float:
    """Median training tokens per second over ``steps`` timed steps."""
    model = model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    h = torch.randn(batch, length, d, device=device)
    target = torch.randn(batch, d, device=device)
    autocast = torch.autocast(device, dtype=torch.bfloat16) if bf16 else nullcontext()
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    times = []
    for step in range(steps + 3):
        sync()
        start = time.perf_counter()
        with autocast:
            loss = (model(h).float() - target).pow(2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync()
        if step >= 3:  # warm-up
            times.append(time.perf_counter() - start)
    return batch * length / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--tokens", type=int, default=130, help="128 genes + <cls> + species")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.manual_seed(0)
    name = (
        torch.cuda.get_device_name()
        if args.device == "cuda"
        else f"{torch.get_num_threads()} CPU threads"
    )
    rows = []
    for size, (d, layers, heads) in SIZES.items():
        for batch in args.batch:
            for bf16 in (False, True):
                rates = {}
                for label, cls in (("uge", TransformerEncoder), ("bert", Bert)):
                    torch.manual_seed(0)
                    rates[label] = tokens_per_s(
                        cls(d, layers, heads, 0.0),
                        batch,
                        args.tokens,
                        d,
                        args.device,
                        bf16,
                        args.steps,
                    )
                precision = "bf16 autocast" if bf16 else "32"
                print(size, batch, precision, rates, flush=True)
                rows.append(
                    (
                        f"{size} (D={d}, {layers} layers, {heads} heads)",
                        batch,
                        precision,
                        f"{rates['uge']:,.0f}",
                        f"{rates['bert']:,.0f}",
                        f"{rates['uge'] / rates['bert']:.2f}",
                    )
                )
    cmd = command(__file__, "--device", args.device, "--batch", *args.batch, "--steps", args.steps)
    text = (
        f"{cmd}: {name}, torch {torch.__version__}, {args.tokens} tokens per sample, no "
        "padding; training tokens per second (forward, backward, AdamW), median of the timed "
        "steps."
    )
    header = "size | batch | precision | UGE tokens/s | BERT tokens/s | UGE / BERT"
    lines = section("Encoder vs Hugging Face BertModel", text, header, "lrlrrr", rows)
    write(args.out or RESULTS / f"encoder_{args.device}.md", lines)


if __name__ == "__main__":
    main()
