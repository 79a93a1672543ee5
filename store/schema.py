"""The store schema: every array name, its dims, dtype and chunk layout, declared once.

Writers (``store.RunWriter``, used by the jobs) and readers (``store.Run``, used by the
dashboard and by researchers) both look layouts up here; nothing else creates arrays
with literal shapes.

Conventions:

- **Array names are group paths** inside a run: ``"attn/pattern"`` is array ``pattern``
  in group ``attn`` of ``<root>/<run_id>.zarr``. Top-level names (``"tokens"``) live in the
  root group.
- **Dims are names from** :data:`DIMS` and are written as zarr v3 ``dimension_names``, so
  ``xarray.open_zarr(run_path, group="attn")`` gives named axes with no custom decoding.
- **One dim name, one size per group.** xarray opens a whole group as one Dataset, so
  within a group a dim name must have the same length in every array. That is why the
  residual stream uses ``resid_layer`` (n_layers + 1 points) rather than ``layer``.
- **Sizes are not part of the schema.** Writers pass ``sizes={"layer": 4, ...}``; the
  schema fixes only the order of dims, the dtype and the chunking.
- **Chunks follow how the dashboard reads.** ``chunks`` maps a dim to its chunk length;
  dims not listed are whole. ``shards`` (zarr v3 sharding) groups many chunks into one
  file; dims not listed are whole too. Jobs write fastest in blocks of whole shards
  (``RunWriter.block_length``).
- **dtypes:** float16 for activations and attention patterns, float32 for weights and
  scores, int32 tokens, int64 step counters, ``"string"`` (variable-length UTF-8) for text.
- **Optional arrays are absent** when a model lacks them (a 0-layer model has no
  ``weights/W_pos``, an attention-only model no ``acts/mlp_out``). Readers check
  ``Run.has(name)``.
- **Templated names:** a key with ``*`` segments (``"patching/*/result"``) declares a
  family of arrays; ``*`` matches exactly one path segment (``"patching/ioi/result"``).
  Use :func:`spec_for` to look a concrete name up.
- **Labels.** A 1-D string array listed in :data:`LABELS` names the positions of one dim
  throughout its group (``heads/score`` names the ``score`` dim of ``heads/scores``); the
  values of the arrays in :data:`TOKEN_IDS` are token ids, named by ``vocab/token_str``.
  ``store.Run.read`` attaches both as xarray coordinates.

Adding an array kind is one line in :data:`SCHEMA`.

Examples:
    >>> spec_for("attn/pattern").dims
    ('layer', 'head', 'prompt', 'query_pos', 'key_pos')
    >>> spec_for("acts/resid").dtype
    'float16'
"""

from __future__ import annotations

import re

from store._spec import DIMS, ArraySpec
from store.schema_experiments import EXPERIMENT_SCHEMA

SCHEMA_VERSION = 1
"""Bumped when a change makes old readers misread new runs (renamed dims, new dtypes)."""

def _w(dims: tuple[str, ...], doc: str, hook: str | None = None, **chunks: int) -> ArraySpec:
    """A float32 weight array, chunked one layer at a time (unless told otherwise)."""
    if not chunks and "layer" in dims:
        chunks = {"layer": 1}
    return ArraySpec(dims, "float32", chunks, hook=hook, doc=doc)


_ACT = {"layer": 1, "prompt": 64}
_PATTERN_CHUNK = {"layer": 1, "head": 1, "prompt": 1}
_PATTERN_SHARD = {"layer": 1, "head": 1, "prompt": 64}
_LHM = ("layer", "head", "d_model", "d_head")
_PATCH_GRIDS = (  # (granularity, dims, what one cell is): interp_core.analysis.GRANULARITIES
    ("resid_pre", ("layer", "patch_pos"), "residual stream entering a block, one position"),
    ("resid_mid", ("layer", "patch_pos"), "residual stream between attention and MLP"),
    ("attn_out", ("layer", "patch_pos"), "attention layer output, one position"),
    ("mlp_out", ("layer", "patch_pos"), "MLP output, one position"),
    ("z_head", ("layer", "head"), "one head's output at every position"),
    ("z_head_pos", ("layer", "patch_pos", "head"), "one head's output at one position"),
    ("pattern_head", ("layer", "head"), "one head's whole attention pattern"),
    ("pattern_head_dest", ("layer", "head", "patch_pos"), "one head's attention row at one dest"),
)

SCHEMA: dict[str, ArraySpec] = {
    # --- evaluation data -------------------------------------------------------------
    "tokens": ArraySpec(("prompt", "pos"), "int32", {"prompt": 1024},
                        doc="evaluation prompts as token ids; BOS at pos 0"),
    "vocab/token_str": ArraySpec(("d_vocab",), "string",
                                 doc="display string of every token id (no tokenizer needed)"),
    # --- training curves -------------------------------------------------------------
    "training/step": ArraySpec(("train_step",), "int64", doc="optimizer step of each log row"),
    "training/tokens_seen": ArraySpec(("train_step",), "int64", doc="training tokens consumed"),
    "training/loss": ArraySpec(("train_step",), "float32", doc="training loss (nats/token)"),
    "training/lr": ArraySpec(("train_step",), "float32", doc="learning rate"),
    "training/grad_norm": ArraySpec(("train_step",), "float32", doc="global gradient L2 norm"),
    "training/eval_step": ArraySpec(("eval_step",), "int64", doc="optimizer step of each eval"),
    "training/eval_tokens_seen": ArraySpec(("eval_step",), "int64",
                                           doc="training tokens consumed at each eval"),
    "training/val_loss": ArraySpec(("eval_step",), "float32", doc="validation loss (nats/token)"),
    # --- weights (TransformerLens names, stacked over layers) ------------------------
    "weights/W_E": _w(("d_vocab", "d_model"), "token embedding", d_vocab=4096),
    "weights/W_pos": _w(("n_ctx", "d_model"), "positional embedding"),
    "weights/W_Q": _w(_LHM, "query weights per head"),
    "weights/W_K": _w(_LHM, "key weights per head"),
    "weights/W_V": _w(_LHM, "value weights per head"),
    "weights/W_O": _w(("layer", "head", "d_head", "d_model"), "output weights per head"),
    "weights/b_Q": _w(("layer", "head", "d_head"), "query bias"),
    "weights/b_K": _w(("layer", "head", "d_head"), "key bias"),
    "weights/b_V": _w(("layer", "head", "d_head"), "value bias"),
    "weights/b_O": _w(("layer", "d_model"), "attention output bias"),
    "weights/ln1_w": _w(("layer", "d_model"), "LayerNorm before attention: scale"),
    "weights/ln1_b": _w(("layer", "d_model"), "LayerNorm before attention: bias"),
    "weights/ln2_w": _w(("layer", "d_model"), "LayerNorm before the MLP: scale"),
    "weights/ln2_b": _w(("layer", "d_model"), "LayerNorm before the MLP: bias"),
    "weights/W_in": _w(("layer", "d_model", "d_mlp"), "MLP input weights"),
    "weights/b_in": _w(("layer", "d_mlp"), "MLP input bias"),
    "weights/W_out": _w(("layer", "d_mlp", "d_model"), "MLP output weights"),
    "weights/b_out": _w(("layer", "d_model"), "MLP output bias"),
    "weights/ln_final_w": _w(("d_model",), "final LayerNorm: scale"),
    "weights/ln_final_b": _w(("d_model",), "final LayerNorm: bias"),
    "weights/W_U": _w(("d_model", "d_vocab"), "unembedding", d_vocab=4096),
    "weights/b_U": _w(("d_vocab",), "unembedding bias"),
    # --- activations on the evaluation prompts ---------------------------------------
    "acts/resid": ArraySpec(("resid_layer", "prompt", "pos", "d_model"), "float16",
                            {"resid_layer": 1, "prompt": 64},
                            hook="blocks.{layer}.hook_resid_pre",
                            doc="residual stream: resid_pre of each block, then final resid_post"),
    "acts/attn_out": ArraySpec(("layer", "prompt", "pos", "d_model"), "float16", _ACT,
                               hook="blocks.{layer}.hook_attn_out", doc="attention output"),
    "acts/mlp_out": ArraySpec(("layer", "prompt", "pos", "d_model"), "float16", _ACT,
                              hook="blocks.{layer}.hook_mlp_out", doc="MLP output"),
    "acts/mlp_post": ArraySpec(("layer", "prompt", "pos", "d_mlp"), "float16", _ACT,
                               hook="blocks.{layer}.mlp.hook_post", doc="neuron activations"),
    # --- attention ---------------------------------------------------------------------
    "attn/pattern": ArraySpec(("layer", "head", "prompt", "query_pos", "key_pos"), "float16",
                              _PATTERN_CHUNK, _PATTERN_SHARD,
                              hook="blocks.{layer}.attn.hook_pattern",
                              doc="attention weights; one (layer, head, prompt) is one chunk"),
    "attn/norm_pattern": ArraySpec(("layer", "head", "prompt", "query_pos", "key_pos"),
                                   "float16", _PATTERN_CHUNK, _PATTERN_SHARD,
                                   doc="norm-based attention ||a_ij f(x_j)|| (Kobayashi et al.)"),
    # --- heads -------------------------------------------------------------------------
    "heads/scores": ArraySpec(("layer", "head", "score"), "float32",
                              doc="per-head scores; names in heads/score"),
    "heads/score": ArraySpec(("score",), "string",
                             doc="score names: prev_token, induction, ... (coordinate)"),
    "heads/label": ArraySpec(("layer", "head"), "string",
                             doc="taxonomy label of each head ('' when none applies)"),
    # --- attention on RRT, norm-based mixing ratio (jobs/steps/heads.py) ---------------
    "attn/rrt_pattern": ArraySpec(("layer", "head", "rrt_prompt", "rrt_query_pos", "rrt_key_pos"),
                                  "float16", {"layer": 1, "head": 1, "rrt_prompt": 1},
                                  {"layer": 1, "head": 1, "rrt_prompt": 64},
                                  hook="blocks.{layer}.attn.hook_pattern",
                                  doc="attention weights on the repeated-random-token prompts"),
    "attn/rrt_norm_pattern": ArraySpec(("layer", "head", "rrt_prompt", "rrt_query_pos",
                                        "rrt_key_pos"), "float16",
                                       {"layer": 1, "head": 1, "rrt_prompt": 1},
                                       {"layer": 1, "head": 1, "rrt_prompt": 64},
                                       doc="norm-based attention on the RRT prompts"),
    "rrt/tokens": ArraySpec(("rrt_prompt", "rrt_pos"), "int32",
                            doc="repeated-random-token prompts: BOS, r_1..r_n, r_1..r_n"),
    "attn/mixing_ratio": ArraySpec(("layer", "mix_level", "prompt", "pos"), "float32",
                                   {"layer": 1},
                                   doc="context-mixing ratio per position (Kobayashi et al. 2021)"),
    "attn/mix_level": ArraySpec(("mix_level",), "string", doc="mixing-ratio level names"),
    # --- training dynamics over log-spaced checkpoints (jobs/steps/dynamics.py) --------
    "dynamics/step": ArraySpec(("checkpoint",), "int64", doc="optimizer step of each checkpoint"),
    "dynamics/tokens_seen": ArraySpec(("checkpoint",), "int64",
                                      doc="training tokens seen at each checkpoint"),
    "dynamics/head_scores": ArraySpec(("checkpoint", "layer", "head", "score"), "float32",
                                      doc="head scores per checkpoint; names in dynamics/score"),
    "dynamics/score": ArraySpec(("score",), "string", doc="score names of dynamics/head_scores"),
    "dynamics/loss_by_pos": ArraySpec(("checkpoint", "loss_pos"), "float32",
                                      doc="mean eval loss at each position (nats)"),
    "dynamics/loss": ArraySpec(("checkpoint",), "float32", doc="mean eval loss (nats/token)"),
    "dynamics/icl_score": ArraySpec(("checkpoint",), "float32",
                                    doc="loss(late token) - loss(early token); negative = ICL"),
    "dynamics/icl_gain": ArraySpec(("checkpoint",), "float32", doc="-icl_score"),
    "dynamics/induction_loss": ArraySpec(("checkpoint",), "float32",
                                         doc="loss on the predictable second half of RRT"),
    # --- DLA, logit lens, neurons, patching (jobs/steps/attribution|neurons|patching.py)
    "dla/correct": ArraySpec(("component", "prompt", "pos"), "float32", {"prompt": 8},
                             doc="direct logit attribution to the correct next token (frozen LN)"),
    "dla/logit_diff": ArraySpec(("component", "prompt", "pos"), "float32", {"prompt": 8},
                                doc="DLA to logit(correct) - logit(model's top other token)"),
    "dla/rival": ArraySpec(("prompt", "pos"), "int32", doc="top-scoring token other than the correct one"),
    "dla/component": ArraySpec(("component",), "string", doc="DLA row labels (coordinate)"),
    "dla/component_layer": ArraySpec(("component",), "int32",
                                     doc="block of each DLA row: -1 embeddings, n_layers final biases"),
    "logit_lens/top_ids": ArraySpec(("resid_layer", "prompt", "pos", "topk"), "int32",
                                    {"prompt": 8}, doc="top-k token ids read off each layer"),
    "logit_lens/top_probs": ArraySpec(("resid_layer", "prompt", "pos", "topk"), "float32",
                                      {"prompt": 8}, doc="their probabilities"),
    "logit_lens/correct_rank": ArraySpec(("resid_layer", "prompt", "pos"), "int32",
                                         doc="rank of the correct next token (0 = top)"),
    "logit_lens/correct_logprob": ArraySpec(("resid_layer", "prompt", "pos"), "float32",
                                            doc="log-prob of the correct next token"),
    "logit_lens/kl_to_final": ArraySpec(("resid_layer", "prompt", "pos"), "float32",
                                        doc="KL(final output || lens at this layer), nats"),
    "logit_lens/resid_label": ArraySpec(("resid_layer",), "string", doc="0_pre, 1_pre, ..., final_post"),
    "neurons/resid_norm": ArraySpec(("resid_layer", "pos"), "float32",
                                    doc="mean L2 norm of the residual stream over prompts"),
    "neurons/fire_rate": ArraySpec(("layer", "d_mlp"), "float32", doc="fraction of tokens with pre > 0"),
    "neurons/inactive_frac": ArraySpec(("layer", "d_mlp"), "float32",
                                       doc="fraction of tokens with pre < -3 (flat regime)"),
    "neurons/dead": ArraySpec(("layer", "d_mlp"), "int32", doc="1 when the neuron never fires"),
    "neurons/saturated": ArraySpec(("layer", "d_mlp"), "int32",
                                   doc="1 when pre < -3 on almost every token"),
    "neurons/hist_counts": ArraySpec(("layer", "hist_bin"), "float32",
                                     doc="histogram of post-activations (tokens x neurons)"),
    "neurons/hist_edges": ArraySpec(("layer", "hist_edge"), "float32", doc="its bin edges"),
    "neurons/log_fire_hist": ArraySpec(("layer", "fire_bin"), "float32",
                                       doc="neurons per log10 fire-rate bin"),
    "neurons/top_prompt": ArraySpec(("layer", "d_mlp", "topk"), "int32", {"layer": 1},
                                    doc="max-activating prompts per neuron (one position each)"),
    "neurons/top_pos": ArraySpec(("layer", "d_mlp", "topk"), "int32", {"layer": 1},
                                 doc="position of the max activation in that prompt"),
    "neurons/top_act": ArraySpec(("layer", "d_mlp", "topk"), "float32", {"layer": 1},
                                 doc="the activation (mlp post) there"),
    "neurons/logit_top_ids": ArraySpec(("layer", "d_mlp", "logit_k"), "int32", {"layer": 1},
                                       doc="tokens a neuron's output pushes up most (direct path)"),
    "neurons/logit_top_values": ArraySpec(("layer", "d_mlp", "logit_k"), "float32", {"layer": 1},
                                          doc="their W_out[n] diag(gamma) W_U values"),
    "patching/*/positions": ArraySpec(("patch_pos",), "int32", doc="positions the sweeps cover"),
    "patching/*/clean_tokens": ArraySpec(("pair", "pos"), "int32", doc="clean prompts"),
    "patching/*/corrupted_tokens": ArraySpec(("pair", "pos"), "int32", doc="corrupted prompts"),
    "patching/*/answer": ArraySpec(("pair",), "int32", doc="correct answer token per pair"),
    "patching/*/wrong": ArraySpec(("pair",), "int32", doc="wrong answer token per pair"),
    "patching/*/path_to_logits": ArraySpec(("layer", "head"), "float32",
                                           doc="path patching: head -> logits (noising, metric)"),
    "patching/*/path_to_next": ArraySpec(("layer", "head", "recv_head", "qkv_input"), "float32",
                                         doc="path patching: head -> next-layer head's q/k/v"),
    "patching/*/dla": ArraySpec(("component", "pair"), "float32",
                                doc="DLA to the answer - wrong logit difference, clean run"),
    "patching/*/component": ArraySpec(("component",), "string", doc="labels of patching/*/dla"),
    **{f"patching/*/act_{name}": ArraySpec(dims, "float32", doc=f"activation patching: {doc}")
       for name, dims, doc in _PATCH_GRIDS},
    **{f"patching/*/atp_{name}": ArraySpec(("direction", *dims), "float32",
                                           doc=f"attribution patching: {doc}")
       for name, dims, doc in _PATCH_GRIDS},
    # --- bigrams / direct path (jobs/steps/bigrams.py) -----------------------------------
    "bigrams/token": ArraySpec(("bigram_token",), "int32",
                               doc="token ids of the rows, most frequent first; attrs: agreement"),
    "bigrams/token_count": ArraySpec(("bigram_token",), "int64",
                                     doc="occurrences in the corpus (or eval prompts) used"),
    "bigrams/follow_id": ArraySpec(("bigram_token", "topk"), "int32",
                                   doc="model: most likely next tokens, softmax(Bigram[t])"),
    "bigrams/follow_prob": ArraySpec(("bigram_token", "topk"), "float32", doc="their probabilities"),
    "bigrams/predict_id": ArraySpec(("bigram_token", "topk"), "int32",
                                    doc="model: predecessors s with the highest P(t | s)"),
    "bigrams/predict_prob": ArraySpec(("bigram_token", "topk"), "float32", doc="those P(t | s)"),
    "bigrams/corpus_follow_id": ArraySpec(("bigram_token", "topk"), "int32",
                                          doc="corpus: most frequent next tokens (-1 = none)"),
    "bigrams/corpus_follow_prob": ArraySpec(("bigram_token", "topk"), "float32",
                                            doc="corpus P(next | t)"),
    "bigrams/corpus_predict_id": ArraySpec(("bigram_token", "topk"), "int32",
                                           doc="corpus: predecessors s with the highest P(t | s)"),
    "bigrams/corpus_predict_prob": ArraySpec(("bigram_token", "topk"), "float32",
                                             doc="corpus P(t | s)"),
    "bigrams/kl": ArraySpec(("bigram_token",), "float32",
                            doc="KL(corpus || model) of the next-token distribution, nats"),
    "bigrams/row_lse": ArraySpec(("d_vocab",), "float32",
                                 doc="logsumexp of every bigram-table row (log-prob columns)"),
    # --- embedding space (jobs/steps/embeddings.py) --------------------------------------
    "embeddings/token": ArraySpec(("emb_token",), "int32", doc="token id of each map point"),
    "embeddings/category": ArraySpec(("emb_token",), "int8",
                                     doc="token category code (names in category_name)"),
    "embeddings/category_name": ArraySpec(("category",), "string", doc="category names"),
    "embeddings/matrix": ArraySpec(("embed_matrix",), "string", doc="W_E, W_U"),
    "embeddings/pca": ArraySpec(("embed_matrix", "emb_token", "map_axis"), "float32",
                                doc="first two principal-component coordinates"),
    "embeddings/tsne": ArraySpec(("embed_matrix", "emb_token", "map_axis"), "float32",
                                 doc="t-SNE coordinates (after PCA to 50 dims)"),
    "embeddings/explained_variance": ArraySpec(("embed_matrix", "pc"), "float32",
                                               doc="explained-variance ratio per component"),
    # --- the user's own prompts (jobs/steps/prompts.py, --prompts FILE) -----------------
    "prompts/text": ArraySpec(("user_prompt",), "string", doc="each user prompt as written"),
    "prompts/tokens": ArraySpec(("user_prompt", "user_pos"), "int32",
                                doc="user prompts as token ids, BOS first, -1 past each length"),
    "prompts/length": ArraySpec(("user_prompt",), "int32", doc="tokens per user prompt, with BOS"),
    "prompts/pattern": ArraySpec(("layer", "head", "user_prompt", "user_query_pos", "user_key_pos"),
                                 "float16", {"layer": 1, "head": 1, "user_prompt": 1},
                                 hook="blocks.{layer}.attn.hook_pattern",
                                 doc="attention weights on the user prompts; 0 past each length"),
    "prompts/norm_pattern": ArraySpec(("layer", "head", "user_prompt", "user_query_pos",
                                       "user_key_pos"), "float16",
                                      {"layer": 1, "head": 1, "user_prompt": 1},
                                      doc="norm-based attention on the user prompts; 0 past "
                                          "each length"),
    # --- QK / OV circuits (jobs/steps/circuits.py) ---------------------------------------
    "circuits/copying": ArraySpec(("layer", "head"), "float32",
                                  doc="OV eigenvalue copying score sum(l)/sum(|l|), in [-1, 1]"),
    "circuits/ov_top1": ArraySpec(("layer", "head"), "float32",
                                  doc="full-OV top-1 accuracy: source token is its own argmax"),
    "circuits/ov_top5": ArraySpec(("layer", "head"), "float32", doc="full-OV top-5 accuracy"),
    "circuits/comp_mode": ArraySpec(("comp_mode",), "string", doc="Q, K, V"),
    "circuits/comp_raw": ArraySpec(("comp_mode", "src_layer", "src_head", "dst_layer", "dst_head"),
                                   "float32", doc="composition score (0 where dst_layer <= src_layer)"),
    "circuits/comp": ArraySpec(("comp_mode", "src_layer", "src_head", "dst_layer", "dst_head"),
                               "float32", doc="composition score minus the random baseline"),
    "circuits/token": ArraySpec(("circuit_token",), "int32",
                                doc="source/query tokens with stored top tokens"),
    "circuits/ov_top_id": ArraySpec(("layer", "head", "circuit_token", "topk"), "int32",
                                    {"layer": 1}, doc="full OV: output tokens a source raises most"),
    "circuits/ov_top_value": ArraySpec(("layer", "head", "circuit_token", "topk"), "float32",
                                       {"layer": 1}, doc="their full-OV entries (logit units)"),
    "circuits/qk_top_id": ArraySpec(("layer", "head", "circuit_token", "topk"), "int32",
                                    {"layer": 1}, doc="full QK: key tokens a query attends to most"),
    "circuits/qk_top_value": ArraySpec(("layer", "head", "circuit_token", "topk"), "float32",
                                       {"layer": 1}, doc="their full-QK entries (unscaled)"),
    **{f"circuits/trigram_{name}": ArraySpec(("trigram",), dtype, doc=doc) for name, dtype, doc in (
        ("head", "int32", "skip-trigram: head (layer 0)"), ("src", "int32", "source token"),
        ("dest", "int32", "destination (query) token"), ("out", "int32", "predicted token"),
        ("ov", "float32", "strength: full-OV entry [src, out]"),
        ("qk", "float32", "full-QK entry [dest, src] (attention logit, unscaled)"),
        ("copying", "int8", "1 when out == src"))},
    **EXPERIMENT_SCHEMA,
}
"""Every array a run may hold. Keys are group paths; ``*`` segments are templates."""

LABELS: dict[str, str] = {
    "heads/score": "score",
    "dynamics/score": "score",
    "attn/mix_level": "mix_level",
    "dla/component": "component",
    "logit_lens/resid_label": "resid_layer",
    "patching/*/component": "component",
    "embeddings/matrix": "embed_matrix",
    "embeddings/category_name": "category",
    "circuits/comp_mode": "comp_mode",
    "steering/vector": "steer_vector",
    "steering/gen_mode": "gen_mode",
    "finetune/variant": "ft_variant",
    "finetune/matrix": "ft_matrix",
    "finetune/score": "score",
    "probes/property": "probe_property",
    "probes/layer": "probe_layer",
    "probes/model": "probe_model",
    "sae/metric": "sae_metric",
    "glassbox/layer_name": "gb_layer",
    "glassbox/param_name": "gb_param",
    "ioi/position_name": "ioi_position",
    "ioi/score_name": "ioi_score",
}
"""Label arrays: 1-D string array -> the dim whose positions it names, in every array of its
own group. ``Run.read`` attaches the labels as that dim's coordinate, so
``run.read("heads/scores").sel(score="induction")`` works."""

TOKEN_IDS: tuple[str, ...] = (
    "tokens", "rrt/tokens", "dla/rival", "logit_lens/top_ids", "neurons/logit_top_ids",
    "patching/*/clean_tokens", "patching/*/corrupted_tokens", "patching/*/answer",
    "patching/*/wrong", "bigrams/token", "bigrams/follow_id", "bigrams/predict_id",
    "bigrams/corpus_follow_id", "bigrams/corpus_predict_id", "embeddings/token",
    "circuits/token", "circuits/ov_top_id", "circuits/qk_top_id", "circuits/trigram_src",
    "circuits/trigram_dest", "circuits/trigram_out", "prompts/tokens",
    "steering/target", "steering/tokens", "steering/base_tokens",
    "sae/example_ids", "sae/logit_ids", "sae/top_token_ids",
    "glassbox/tokens",
    "ioi/tokens", "ioi/abc_tokens", "ioi/io", "ioi/s",
)  # fmt: skip
"""Arrays whose values are token ids (rows of ``vocab/token_str``; -1 = none). ``Run.read``
gives them a ``token_str`` coordinate of the same dims."""


def _template_regex(key: str) -> re.Pattern[str]:
    return re.compile("^" + "/".join("[^/]+" if s == "*" else re.escape(s)
                                     for s in key.split("/")) + "$")


def spec_for(name: str) -> ArraySpec:
    """Look up the layout of an array name, exact keys first, then ``*`` templates.

    Args:
        name: Concrete array path, e.g. ``"attn/pattern"`` or ``"patching/ioi/result"``.

    Returns:
        The declared ArraySpec.

    Raises:
        KeyError: if no key or template matches; the message lists the declared names.

    Examples:
        >>> spec_for("tokens").dims
        ('prompt', 'pos')
    """
    spec = SCHEMA.get(name)
    if spec is not None:
        return spec
    for key, candidate in SCHEMA.items():
        if "*" in key and _template_regex(key).match(name):
            return candidate
    raise KeyError(f"array {name!r} is not declared in store/schema.py SCHEMA "
                   f"(declared: {', '.join(sorted(SCHEMA))})")


def _matches(key: str, name: str) -> bool:
    return key == name or ("*" in key and bool(_template_regex(key).match(name)))


def label_array(name: str, dim: str) -> str | None:
    """The label array (see :data:`LABELS`) naming the positions of ``dim`` in array ``name``.

    Args:
        name: Concrete array path, e.g. ``"heads/scores"`` or ``"patching/ioi/dla"``.
        dim: One of its dims.

    Returns:
        The concrete name of the label array in the same group, or None when ``dim`` has no
        labels there.

    Examples:
        >>> label_array("heads/scores", "score")
        'heads/score'
        >>> label_array("patching/ioi/dla", "component")
        'patching/ioi/component'
        >>> label_array("heads/scores", "layer") is None
        True
    """
    group = name.rpartition("/")[0]
    for key, labelled in LABELS.items():
        key_group, _, leaf = key.rpartition("/")
        if labelled == dim and _matches(key_group, group):
            return f"{group}/{leaf}" if group else leaf
    return None


def holds_token_ids(name: str) -> bool:
    """True when the values of array ``name`` are token ids (see :data:`TOKEN_IDS`).

    Examples:
        >>> holds_token_ids("patching/ioi/clean_tokens"), holds_token_ids("attn/pattern")
        (True, False)
    """
    return any(_matches(key, name) for key in TOKEN_IDS)


def is_declared(name: str) -> bool:
    """True when :func:`spec_for` would find a layout for ``name``."""
    try:
        spec_for(name)
    except KeyError:
        return False
    return True
