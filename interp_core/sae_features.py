"""Feature data of a trained SAE: what the Features page shows for every latent.

Top activating contexts with per-token activations, quantile-interval samples, activation
histogram, firing density, logit effects and nearest latents by decoder cosine
(docs/methods.md §9.5). The SAE itself, its training and metrics live in ``interp_core.sae``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from interp_core.sae import SAE

def _window(row: torch.Tensor, pos: int, left: int, right: int, pad: float) -> torch.Tensor:
    """``row[pos-left : pos+right+1]``, padded with ``pad`` where it runs off either end."""
    out = torch.full((left + right + 1,), pad, dtype=row.dtype)
    lo, hi = max(0, pos - left), min(len(row), pos + right + 1)
    out[lo - (pos - left) : hi - (pos - left)] = row[lo:hi]
    return out


@torch.no_grad()
def feature_data(sae: SAE, acts: torch.Tensor, tokens: torch.Tensor, W_U: torch.Tensor, *,
                 top_k: int = 20, left: int = 16, right: int = 4, n_quantiles: int = 10,
                 per_quantile: int = 4, bins: int = 24, logit_k: int = 10, neighbors: int = 10,
                 block: int = 1024, seed: int = 0) -> dict[str, np.ndarray]:  # fmt: skip
    """Every latent's dashboard data (docs/methods.md §9.5) from hook activations ``acts``
    [prompt, pos, d] of ``tokens`` [prompt, pos] (BOS at pos 0, never counted).

    Args:
        W_U: [d, d_vocab] the unembedding the logit effects go through (fold the final
            LayerNorm's gain into it; it is centred over the vocabulary here).

    Returns:
        numpy arrays, latent first: ``density`` [S], ``max_act`` [S]; top contexts (one per
        prompt) ``top_ids`` / ``top_acts`` [S, top_k, ctx] (ids -1 and acts 0 off the ends),
        ``top_prompt`` / ``top_pos`` / ``top_value`` [S, top_k] (prompt -1 where fewer
        prompts fire); interval samples ``quantile_ids`` / ``quantile_acts`` [S, n_quantiles,
        per_quantile, ctx] and ``quantile_value`` [S, n_quantiles, per_quantile] (NaN where an
        interval is empty), ``quantile_edges`` [S, n_quantiles + 1]; histogram of non-zero
        activations ``hist_counts`` [S, bins] / ``hist_edges`` [S, bins + 1]; logit effects
        ``logit_up_ids`` / ``logit_up_values`` / ``logit_down_ids`` / ``logit_down_values``
        [S, logit_k]; ``neighbor_ids`` / ``neighbor_cos`` [S, neighbors] by decoder cosine.
    """
    P, T, _ = acts.shape
    S, ctx = sae.cfg.d_sae, left + right + 1
    gen = torch.Generator().manual_seed(seed)
    top_k, neighbors = min(top_k, P), min(neighbors, S - 1)
    out = {name: np.zeros(shape, dtype) for name, shape, dtype in (
        ("density", (S,), np.float32), ("max_act", (S,), np.float32),
        ("top_ids", (S, top_k, ctx), np.int32), ("top_acts", (S, top_k, ctx), np.float32),
        ("top_prompt", (S, top_k), np.int32), ("top_pos", (S, top_k), np.int32),
        ("top_value", (S, top_k), np.float32),
        ("quantile_ids", (S, n_quantiles, per_quantile, ctx), np.int32),
        ("quantile_acts", (S, n_quantiles, per_quantile, ctx), np.float32),
        ("quantile_value", (S, n_quantiles, per_quantile), np.float32),
        ("quantile_edges", (S, n_quantiles + 1), np.float32),
        ("hist_counts", (S, bins), np.float32), ("hist_edges", (S, bins + 1), np.float32))}
    x = acts[:, 1:].reshape(-1, acts.shape[-1]).float()  # [P*(T-1), d]
    tok = tokens.cpu()
    kth = _kth_pre(sae, x) if sae.cfg.architecture == "topk" else None  # [N]
    for lo in range(0, S, block):
        hi = min(S, lo + block)
        pre = (x - sae.b_dec) @ sae.W_enc[:, lo:hi] + sae.b_enc[lo:hi]  # [N, block]
        f = F.relu(pre) if kth is None else F.relu(pre) * (pre >= kth[:, None])
        f = torch.cat([torch.zeros(P, 1, hi - lo), f.reshape(P, T - 1, hi - lo)], dim=1)
        for j in range(hi - lo):
            _one_latent(out, lo + j, f[:, :, j], tok, top_k, left, right, n_quantiles,
                        per_quantile, bins, gen)
    out |= _logit_effects(sae.W_dec, W_U, logit_k)
    out |= _neighbors(sae.W_dec, neighbors)
    return out


def _kth_pre(sae: SAE, x: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """Each token's k-th largest pre-activation [N]: TopK keeps latents at or above it."""
    return torch.cat([sae.pre_acts(x[s : s + chunk]).topk(sae.cfg.k, dim=-1).values[:, -1]
                      for s in range(0, len(x), chunk)])  # fmt: skip


def _one_latent(out: dict[str, np.ndarray], i: int, a: torch.Tensor, tok: torch.Tensor,
                top_k: int, left: int, right: int, n_quantiles: int, per_quantile: int,
                bins: int, gen: torch.Generator) -> None:  # fmt: skip
    """Fill latent ``i``'s rows of ``out`` from its activations ``a`` [prompt, pos] (BOS 0)."""
    P, T = a.shape
    fired = a[:, 1:] > 0
    out["density"][i] = float(fired.float().mean())
    best, where = a.max(dim=1)  # per prompt: dedupe by document
    order = best.argsort(descending=True)[:top_k]
    out["top_prompt"][i], out["top_ids"][i], out["top_pos"][i] = -1, -1, 0
    for r, p in enumerate(order.tolist()):
        if best[p] <= 0:
            break
        pos = int(where[p])
        out["top_prompt"][i, r], out["top_pos"][i, r] = p, pos
        out["top_value"][i, r] = float(best[p])
        out["top_ids"][i, r] = _window(tok[p], pos, left, right, -1).numpy()
        out["top_acts"][i, r] = _window(a[p], pos, left, right, 0.0).numpy()
    values = a[a > 0]
    vmax = float(values.max()) if len(values) else 0.0
    out["max_act"][i] = vmax
    edges = np.linspace(0.0, vmax if vmax > 0 else 1.0, bins + 1)
    out["hist_edges"][i] = edges
    out["hist_counts"][i] = np.histogram(values.numpy(), bins=edges)[0]
    q_edges = np.linspace(0.0, vmax if vmax > 0 else 1.0, n_quantiles + 1)
    out["quantile_edges"][i] = q_edges
    out["quantile_ids"][i], out["quantile_value"][i] = -1, np.nan
    flat = a.reshape(-1)
    nonzero = torch.nonzero(flat > 0).squeeze(1)
    shuffled = nonzero[torch.randperm(len(nonzero), generator=gen)]
    interval = (torch.bucketize(flat[shuffled], torch.from_numpy(q_edges).float()) - 1)
    for q in range(n_quantiles):  # interval q = (q_edges[q], q_edges[q + 1]]
        pick = shuffled[interval.clamp(0, n_quantiles - 1) == q][:per_quantile]
        for s, index in enumerate(pick.tolist()):
            p, pos = divmod(index, T)
            out["quantile_value"][i, q, s] = float(flat[index])
            out["quantile_ids"][i, q, s] = _window(tok[p], pos, left, right, -1).numpy()
            out["quantile_acts"][i, q, s] = _window(a[p], pos, left, right, 0.0).numpy()


def _logit_effects(W_dec: torch.Tensor, W_U: torch.Tensor, k: int) -> dict[str, np.ndarray]:
    """Top / bottom ``k`` tokens of ``W_dec[i] @ W_U'`` (W_U centred over the vocabulary)."""
    centred = W_U - W_U.mean(dim=1, keepdim=True)  # [d, d_vocab]
    effect = W_dec.detach().float() @ centred.float()  # [S, d_vocab]
    k = min(k, effect.shape[1])
    up, down = effect.topk(k, dim=1), effect.topk(k, dim=1, largest=False)
    return {"logit_up_ids": up.indices.int().numpy(), "logit_up_values": up.values.numpy(),
            "logit_down_ids": down.indices.int().numpy(),
            "logit_down_values": down.values.numpy()}  # fmt: skip


def _neighbors(W_dec: torch.Tensor, k: int, block: int = 2048) -> dict[str, np.ndarray]:
    """The ``k`` latents whose decoder rows are closest in cosine to each latent's (not itself)."""
    unit = F.normalize(W_dec.detach().float(), dim=1)  # [S, d]
    ids, cos = [], []
    for lo in range(0, len(unit), block):
        sim = unit[lo : lo + block] @ unit.T  # [block, S]
        sim[torch.arange(len(sim)), torch.arange(lo, lo + len(sim))] = -2.0
        top = sim.topk(k, dim=1)
        ids.append(top.indices.int())
        cos.append(top.values)
    return {"neighbor_ids": torch.cat(ids).numpy(), "neighbor_cos": torch.cat(cos).numpy()}
