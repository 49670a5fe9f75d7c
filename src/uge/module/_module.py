from __future__ import annotations

from itertools import accumulate
from typing import Literal

import torch
import torch.nn.functional as F
from scvi import REGISTRY_KEYS
from scvi.distributions import NegativeBinomial
from scvi.module import Classifier
from scvi.module.base import BaseModuleClass, LossOutput, auto_move_data
from torch import distributed as torch_dist
from torch import nn
from torch.distributions import Normal

from uge._constants import CONDITION_KEY, SPECIES_KEY, TARGET_SUM

from ._decoder import ReactomeAlignedDecoder
from ._embedding import TokenEmbedding
from ._encoder import TransformerEncoder
from ._sparse import block, own_species_sums


def _group_mmd(z: torch.Tensor, member: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    """Maximum mean discrepancy between groups of samples, for many pairs of groups at once.

    ``member`` is a ``(groups, B)`` 0/1 indicator of each group's samples; ``pairs`` holds
    ``(P, 2)`` group ids. Each pair gets a multi-scale Gaussian kernel (bandwidths 0.1, 1
    and 10 times the mean squared distance among the pair's samples); all pairs are
    computed in a few batched operations with no synchronisation (in chunks of pairs that
    keep the ``(pairs, B, B)`` kernels under 2**24 entries).
    """
    d2 = torch.cdist(z, z).pow(2)
    step = max(1, 2**24 // len(z) ** 2)
    out = []
    for first in range(0, len(pairs), step):
        a, b = member[pairs[first : first + step, 0]], member[pairs[first : first + step, 1]]
        both = a + b  # (P, B) indicators
        scale = ((both @ d2.detach() * both).sum(1) / both.sum(1).pow(2)).clamp_min(1e-6)
        k = sum(torch.exp(-d2 / (scale[:, None, None] * s)) for s in (0.1, 1.0, 10.0))
        wa, wb = a / a.sum(1, keepdim=True), b / b.sum(1, keepdim=True)

        def block(u: torch.Tensor, v: torch.Tensor, k: torch.Tensor = k) -> torch.Tensor:
            return torch.einsum("pi,pij,pj->p", u, k, v)

        out.append(block(wa, wa) + block(wb, wb) - 2 * block(wa, wb))
    return torch.cat(out)


def gather_processes(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Concatenate each tensor over the processes of data-parallel training, gradients kept.

    Outside distributed training (or without gradients) the tensors come back as they
    are. Under DDP every process gets the whole step's samples in rank order (minibatches
    may differ in size); gradients flow back to each process's own rows, so a loss over the
    gathered samples has, after DDP's averaging, the gradient of the same loss computed
    on one process over the whole step.
    """
    distributed = torch_dist.is_available() and torch_dist.is_initialized()
    if not distributed or not torch.is_grad_enabled():
        return tensors
    world = torch_dist.get_world_size()
    if world == 1:
        return tensors
    from torch.distributed.nn.functional import all_gather

    size = torch.tensor([len(tensors[0])], device=tensors[0].device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    torch_dist.all_gather(sizes, size)
    sizes = [int(n) for n in sizes]
    longest = max(sizes)
    out = []
    for t in tensors:
        padded = torch.cat([t, t.new_zeros((longest - len(t), *t.shape[1:]))])
        parts = all_gather(padded)
        out.append(torch.cat([part[:n] for part, n in zip(parts, sizes, strict=True)]))
    return tuple(out)


class UGEModule(BaseModuleClass):
    """Universal Gene Embedding: token embedding, transformer encoder, reactome-aligned decoder.

    Pure-torch module behind :class:`uge.UGE`. Tensors in, tensors out.

    Parameters
    ----------
    gene_species
        ``(G,)`` species id of every gene.
    token_candidates
        ``(S, G)`` boolean: the genes each species may use as input tokens.
    gene_mean, gene_std
        ``(G,)`` mean and standard deviation of each gene's log-normalised expression in its
        species: token values are relative, ``(x - mean) / std`` (paper 3.1.2).
    gene_baseline
        ``(G,)`` starting value of the decoder's per-gene baseline (log mean share of counts,
        or mean log-normalised value), so training starts from the genes' average level.
    n_conditions
        Number of external-token categories (conditions); 0 when none is registered.
    n_batch
        Number of batches.
    likelihood
        ``"nb"`` (negative binomial on counts) or ``"gaussian"`` (log-normalised input).
    d_model, n_layers, n_heads
        Transformer width, depth and attention heads.
    n_latent
        Dimension of the sample latent (the projected ``<cls>`` output).
    n_hidden
        Hidden width of the decoder.
    dropout
        Dropout rate.
    max_tokens
        Most gene tokens per sample.
    gene_pairs
        ``(P, 2)`` gene ids of cross-species pairs (an ortholog prior), or ``None``. A paired
        gene of a later species is embedded as its partners' mean plus its own residual
        (:class:`~uge.module.GeneEmbedding`).
    gene_align_weight
        Weight of the penalty on those residuals (the gene alignment, paper 3.5).
    latent_align_weight
        Weight of the cross-species latent alignment (MMD between species, within condition).
    n_labels
        Number of labels (without the unlabelled category, which is coded ``n_labels``).
    classification_weight
        Weight of the cross-entropy of a label classifier on the latent, over labelled
        samples (paper 3.6, scANVI style); 0 trains no classifier.
    gene_rank
        ``(G,)`` anchoring order of paired genes (:class:`~uge.module.GeneEmbedding`);
        ``None``: by species.
    token_ranking
        How a sample ranks its candidate genes to pick its tokens: ``"expression"``, by
        expression; ``"relative"``, by relative value (log-normalised expression minus the
        gene's mean, over its standard deviation: the genes most above their own usual
        level, as Geneformer ranks them).
    """

    def __init__(
        self,
        gene_species: torch.Tensor,
        token_candidates: torch.Tensor,
        gene_mean: torch.Tensor | None = None,
        gene_std: torch.Tensor | None = None,
        gene_baseline: torch.Tensor | None = None,
        n_conditions: int = 0,
        n_batch: int = 1,
        likelihood: Literal["nb", "gaussian"] = "nb",
        d_model: int = 64,
        n_layers: int = 2,
        n_heads: int = 4,
        n_latent: int = 32,
        n_hidden: int = 128,
        dropout: float = 0.0,
        max_tokens: int = 128,
        gene_pairs: torch.Tensor | None = None,
        gene_align_weight: float = 1.0,
        latent_align_weight: float = 0.1,
        n_labels: int = 0,
        classification_weight: float = 0.0,
        gene_rank: torch.Tensor | None = None,
        token_ranking: Literal["expression", "relative"] = "expression",
    ) -> None:
        super().__init__()
        self.token_ranking = token_ranking
        n_species, n_genes = token_candidates.shape
        self.likelihood = likelihood
        self.n_species = n_species
        self.n_conditions = max(n_conditions, 1)
        self.max_tokens = int(min(max_tokens, token_candidates.sum(1).max()))
        self.gene_align_weight = gene_align_weight
        self.latent_align_weight = latent_align_weight
        self.register_buffer("gene_species", gene_species.long())
        self.register_buffer(
            "species_genes", gene_species[None, :] == torch.arange(n_species)[:, None]
        )
        # each species' gene ids, in one buffer: species s holds [offsets[s], offsets[s + 1])
        counts = torch.bincount(gene_species.long(), minlength=n_species)
        self.gene_offsets = [0, *torch.cumsum(counts, 0).tolist()]
        self.register_buffer(
            "gene_order", torch.argsort(gene_species.long(), stable=True), persistent=False
        )
        self.register_buffer("token_candidates", token_candidates.bool())
        # the genes any species may use as tokens, and each species' candidates among them:
        # token choice reads only these columns of the input
        columns = token_candidates.bool().any(0).nonzero().ravel()
        self.register_buffer("token_columns", columns, persistent=False)
        self.register_buffer("token_slots", token_candidates.bool()[:, columns], persistent=False)
        self.register_buffer(
            "gene_mean", torch.zeros(n_genes) if gene_mean is None else gene_mean.float()
        )
        self.register_buffer(
            "gene_std", torch.ones(n_genes) if gene_std is None else gene_std.float()
        )
        if gene_pairs is None:
            gene_pairs = torch.zeros(0, 2, dtype=torch.long)
        self.register_buffer("gene_pairs", gene_pairs.long())

        self.embedding = TokenEmbedding(
            gene_species, n_species, n_conditions, n_batch, d_model, gene_pairs, gene_rank
        )
        self.encoder = TransformerEncoder(d_model, n_layers, n_heads, dropout)
        # species-specific affine maps into the common subspace (paper 3.5, P_s and P_t)
        # all species start from the same map: the model is species-agnostic at first
        shared = torch.randn(1, d_model, n_latent) / d_model**0.5
        self.proj_weight = nn.Parameter(shared.repeat(n_species, 1, 1))
        self.proj_bias = nn.Parameter(torch.zeros(n_species, n_latent))
        self.decoder = ReactomeAlignedDecoder(
            n_latent, d_model, n_genes, n_hidden, n_batch=n_batch, dropout=dropout
        )
        if gene_baseline is not None:
            with torch.no_grad():
                self.decoder.gene_bias.copy_(gene_baseline)
        self.classification_weight = classification_weight
        self.n_labels = n_labels
        self.classifier = (
            # scvi-tools' classifier, batch norm included (layer norm instead lowered Baron
            # mouse -> human annotation from 0.645 to 0.598), its statistics taken over all
            # samples of a minibatch (over the labelled ones only, Brawand organ transfer
            # fell from 0.944 to 0.472: benchmarks/bench_species.py)
            Classifier(n_latent, n_hidden, n_labels, dropout_rate=dropout, logits=True)
            if classification_weight > 0 and n_labels > 1
            else None
        )
        # per-gene log inverse dispersion (nb; starts at theta = e^2, a bulk-like value) or
        # softplus-parametrised standard deviation (gaussian)
        self.px_r = nn.Parameter(torch.full((n_genes,), 2.0 if likelihood == "nb" else 0.0))

    # ------------------------------------------------------------------ inputs
    @staticmethod
    def _codes(tensors: dict, key: str) -> torch.Tensor | None:
        t = tensors.get(key)
        return None if t is None else t.reshape(-1).long()

    def _get_inference_input(self, tensors: dict) -> dict:
        return {
            "x": tensors[REGISTRY_KEYS.X_KEY],
            "species": self._codes(tensors, SPECIES_KEY),
            "condition": self._codes(tensors, CONDITION_KEY),
            "batch": self._codes(tensors, REGISTRY_KEYS.BATCH_KEY),
        }

    def _get_generative_input(self, tensors: dict, inference_outputs: dict) -> dict:
        return {
            "z": inference_outputs["z"],
            "species": inference_outputs["species"],
            "library": inference_outputs["library"],
            "batch": self._codes(tensors, REGISTRY_KEYS.BATCH_KEY),
        }

    # --------------------------------------------------------------- inference
    def select_tokens(
        self, x: torch.Tensor, species: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pick each sample's top ``max_tokens`` genes among its species' candidates.

        ``x`` is dense or a sparse CSR tensor; only the candidate genes' columns are read
        (for sparse input, only stored entries), so dense and sparse input give the same
        tokens. With ``token_ranking="expression"`` genes are ranked on the input as it is
        (log-normalising is monotone within a sample); with ``"relative"`` by their
        relative values.

        Returns gene ids ``(B, M)``, their relative values ``(B, M)`` (log-normalised, then
        standardised per gene and clipped to +-5), a mask of real tokens, and the library
        size ``(B, 1)`` over the sample's species' genes.
        """
        library = own_species_sums(x, species, self.gene_species)
        candidates = block(x, self.token_columns)
        columns = self.token_columns
        if self.token_ranking == "relative":
            candidates = self._relative(candidates, library, columns)
        scores = candidates.masked_fill(~self.token_slots[species], float("-inf"))
        top, slots = scores.topk(self.max_tokens, dim=1)
        keep = torch.isfinite(top)
        slots = slots.masked_fill(~keep, 0)
        genes = columns[slots].masked_fill(~keep, 0)
        values = candidates.gather(1, slots)
        if self.token_ranking != "relative":
            values = self._relative(values, library, genes)
        return genes, values.clamp(-5, 5).masked_fill(~keep, 0.0), keep, library

    def _relative(
        self, values: torch.Tensor, library: torch.Tensor, genes: torch.Tensor
    ) -> torch.Tensor:
        """Input values of ``genes`` (ids, one per column or per entry) as relative values:
        log-normalised, minus the gene's mean, over its standard deviation."""
        if self.likelihood != "gaussian":
            values = torch.log1p(values / library.clamp_min(1.0) * TARGET_SUM)
        return (values - self.gene_mean[genes]) / self.gene_std[genes]

    @auto_move_data
    def inference(
        self,
        x: torch.Tensor,
        species: torch.Tensor,
        condition: torch.Tensor | None = None,
        batch: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Encode samples into the shared latent space."""
        genes, values, keep, library = self.select_tokens(x, species)
        h = self.embedding(genes, values, species, external=condition, batch=batch)
        keep = torch.cat([keep.new_ones(len(keep), 2), keep], dim=1)
        cls = self.encoder(h, keep)
        z = torch.einsum("bd,bdl->bl", cls, self.proj_weight[species]) + self.proj_bias[species]
        return {"z": z, "library": library, "species": species}

    # -------------------------------------------------------------- generative
    def genes_of(self, species: int) -> torch.Tensor:
        """Gene ids of one species."""
        return self.gene_order[self.gene_offsets[species] : self.gene_offsets[species + 1]]

    def gene_logits(self, z: torch.Tensor, batch: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, G)`` decoder log-rates (``nb``) or means (``gaussian``) of all genes."""
        return self.decoder(z, self.embedding.gene(), batch=batch)

    @auto_move_data
    def generative(
        self,
        z: torch.Tensor,
        species: torch.Tensor,
        library: torch.Tensor,
        batch: torch.Tensor | None = None,
    ) -> dict:
        """Decode each latent into the genes of its ``species`` (one id per sample) only.

        Samples are grouped by species and each group is decoded into its species' genes,
        so the cost does not grow with other species' genes. Returns ``"px"``, one
        ``(rows, genes, distribution)`` per species in the minibatch (:meth:`expected_values`
        turns it into a samples × genes matrix).
        """
        table = self.embedding.gene()
        px = []
        order = torch.argsort(species, stable=True)
        counts = torch.bincount(species, minlength=self.n_species).tolist()  # one sync
        starts = [0, *accumulate(counts)]
        for s in (s for s in range(self.n_species) if counts[s]):
            rows = order[starts[s] : starts[s + 1]]
            genes = self.genes_of(s)
            logits = self.decoder(
                z[rows], table[genes], batch=None if batch is None else batch[rows], genes=genes
            )
            if self.likelihood == "gaussian":
                mu = logits
                dist = Normal(mu, F.softplus(self.px_r[genes]) + 1e-3)
            else:
                mu = logits.softmax(-1) * library[rows]
                dist = NegativeBinomial(mu=mu, theta=self.px_r[genes].exp())
            px.append((rows, genes, dist))
        return {"px": px}

    def expected_values(self, generative_outputs: dict, n_samples: int) -> torch.Tensor:
        """``(B, G)`` expected values of :meth:`generative`'s distributions (counts at the
        sample's library size, or log-normalised values), 0 on other species' genes."""
        px = generative_outputs["px"]
        bias = self.decoder.gene_bias
        mean = bias.new_zeros(n_samples, len(bias))
        for rows, genes, dist in px:
            mean.index_put_((rows[:, None], genes[None, :]), dist.mean.to(mean.dtype))
        return mean

    # -------------------------------------------------------------------- loss
    def latent_alignment_loss(
        self, z: torch.Tensor, species: torch.Tensor, condition: torch.Tensor | None
    ) -> torch.Tensor:
        """MMD between species' latents, within each condition seen in several species.

        Under data-parallel training it is computed over the samples of all processes
        (:func:`gather_processes`), so that splitting a step over processes leaves it as
        it is.
        """
        groups = torch.zeros_like(species) if condition is None else condition
        z, species, groups = gather_processes(z, species, groups)
        n_groups = self.n_conditions * self.n_species  # one per (condition, species)
        member = F.one_hot(groups * self.n_species + species, n_groups).T.to(z.dtype)
        valid = (member.sum(1) > 1).view(self.n_conditions, self.n_species)  # 2+ samples
        upper = torch.ones(self.n_species, self.n_species, dtype=torch.bool, device=z.device)
        pair = valid[:, :, None] & valid[:, None, :] & upper.triu(1)
        cond, a, b = pair.nonzero(as_tuple=True)  # the step's one synchronisation
        if len(cond) == 0:
            return z.new_zeros(())
        first = cond * self.n_species
        return _group_mmd(z, member, torch.stack([first + a, first + b], 1)).mean()

    def loss(
        self,
        tensors: dict,
        inference_outputs: dict,
        generative_outputs: dict,
        kl_weight: float = 1.0,
    ) -> LossOutput:
        """Reconstruction (per gene of the sample's species, averaged) plus gene and latent
        alignment."""
        x = tensors[REGISTRY_KEYS.X_KEY]
        species = inference_outputs["species"]
        recon = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for rows, genes, px in generative_outputs["px"]:
            nll = -px.log_prob(block(x, genes, rows)).mean(-1)
            recon = recon.index_put((rows,), nll)
        gene_align = self.embedding.gene.residual_penalty()
        latent_align = self.latent_alignment_loss(
            inference_outputs["z"], species, self._codes(tensors, CONDITION_KEY)
        )
        classification = self.classification_loss(
            inference_outputs["z"], self._codes(tensors, REGISTRY_KEYS.LABELS_KEY)
        )
        loss = (
            recon.mean()
            + self.gene_align_weight * gene_align
            + self.latent_align_weight * latent_align
            + self.classification_weight * classification
        )
        return LossOutput(
            loss=loss,
            reconstruction_loss=recon,
            kl_local=torch.zeros_like(recon),
            extra_metrics={
                "gene_alignment": gene_align,
                "latent_alignment": latent_align,
                "classification": classification,
            },
        )

    def classification_loss(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Cross-entropy of the label classifier over the labelled samples of a minibatch."""
        if self.classifier is None or labels is None:
            return z.new_zeros(())
        labelled = labels < self.n_labels
        if not labelled.any() or (self.training and len(z) < 2):  # batch norm needs two
            return z.new_zeros(())
        # all samples pass through the classifier, so that its batch norm learns the
        # statistics of every species' latents (as scANVI classifies every cell); only the
        # labelled ones are scored
        return F.cross_entropy(self.classifier(z)[labelled], labels[labelled])
