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

import dataclasses
import re

SCHEMA_VERSION = 1
"""Bumped when a change makes old readers misread new runs (renamed dims, new dtypes)."""

DIMS: dict[str, str] = {
    "prompt": "global index of an evaluation prompt in the run (row of `tokens`)",
    "pos": "token position within a prompt; BOS is pos 0",
    "query_pos": "attention: position that attends (the row of a pattern)",
    "key_pos": "attention: position attended to (the column of a pattern)",
    "layer": "transformer block index, 0..n_layers-1",
    "resid_layer": "residual-stream point: resid_pre of block l for l < n_layers, "
    "then the final resid_post (n_layers + 1 points)",
    "head": "attention head index within a layer (TransformerLens says `head_index`)",
    "d_model": "residual stream dimension",
    "d_head": "per-head query/key/value dimension",
    "d_mlp": "MLP hidden dimension (neurons)",
    "d_vocab": "token id",
    "n_ctx": "position in the model's full context window (rows of W_pos)",
    "feature": "SAE feature or probe direction index",
    "score": "name of a per-head score (coordinate `heads/score` holds the names)",
    "train_step": "index of a logged optimizer step (coordinate `training/step`)",
    "eval_step": "index of a validation evaluation during training",
    "batch": "in-model batch index (never stored; in-memory only)",
    "rrt_prompt": "index of a repeated-random-token prompt (run attrs `rrt` say how it was built)",
    "rrt_query_pos": "attention on RRT prompts: position that attends",
    "rrt_key_pos": "attention on RRT prompts: position attended to",
    "rrt_pos": "token position within an RRT prompt (BOS is 0)",
    "mix_level": "mixing-ratio level (coordinate `attn/mix_level`: Attn-W, Attn, AttnRes-W, ...)",
    "checkpoint": "index of a log-spaced training checkpoint (coordinate `dynamics/step`)",
    "loss_pos": "position t of a per-token loss: the loss on predicting token t + 1",
    "component": "DLA component (coordinate `component` array of the group: embed, L0H1, ...)",
    "topk": "rank among the top-k (0 = highest)",
    "logit_k": "rank among a neuron's top-k logit-effect tokens (0 = highest)",
    "hist_bin": "histogram bin (edges in the matching `hist_edges` array)",
    "hist_edge": "histogram bin edge (one more than hist_bin)",
    "fire_bin": "log10 fire-rate bin: [-inf,-6), [-6,-5), ..., [-1,0]",
    "patch_pos": "position swept by a patching experiment (coordinate `positions` of the group)",
    "direction": "patching direction: 0 = denoise (clean into corrupted), 1 = noise",
    "recv_head": "path patching: receiver head in the next layer",
    "qkv_input": "path patching: receiver input, 0 = q, 1 = k, 2 = v",
    "pair": "index of a clean/corrupted prompt pair of a patching experiment",
    "bigram_token": "row of the bigram tables: index into `bigrams/token` (most frequent first)",
    "emb_token": "point of the embedding maps: index into `embeddings/token` (most frequent first)",
    "embed_matrix": "which token vectors: 0 = W_E rows, 1 = W_U columns (`embeddings/matrix`)",
    "map_axis": "coordinate of a 2-D map (PCA or t-SNE): 0 = x, 1 = y",
    "pc": "principal component index (explained-variance spectrum)",
    "category": "token category (names in `embeddings/category_name`)",
    "comp_mode": "composition type: 0 = Q, 1 = K, 2 = V (`circuits/comp_mode`)",
    "src_layer": "composition: layer of the earlier (writing) head",
    "src_head": "composition: the earlier (writing) head",
    "dst_layer": "composition: layer of the later (reading) head",
    "dst_head": "composition: the later (reading) head",
    "trigram": "row of the skip-trigram table",
    "circuit_token": "source/query token with stored top OV/QK tokens: index into `circuits/token`",
    "user_prompt": "index of one of the user's own prompts (`--prompts FILE`, `prompts/text`)",
    "user_pos": "token position within a user prompt; BOS is 0, -1 pads past `prompts/length`",
    "user_query_pos": "attention on user prompts: position that attends",
    "user_key_pos": "attention on user prompts: position attended to",
    "steer_vector": "steering vector (names in `steering/vector`: actadd:<pair>, caa:<pair>)",
    "steer_layer": "steered layer: index into `steering/layer` (the block whose resid_pre is steered)",
    "steer_coeff": "steering coefficient: index into `steering/coeff`",
    "steer_prompt": "steered prompt (`steering/prompt_text`)",
    "steer_target": "a steering pair's target token: 0 = positive, 1 = negative",
    "gen_mode": "continuation: 0 = greedy, 1 = sampled with the step's seed (`steering/gen_mode`)",
    "gen_pos": "position in a prompt + continuation; BOS is 0, -1 pads past its end",
    "xor_seed": "XOR MLP seed: 0 = the checkpoint's, 1 = the contrast seed (`xor/seed`)",
    "xor_step": "recorded optimizer step of the XOR MLP (coordinate `xor/step`, log-spaced)",
    "xor_point": "one of the four XOR inputs (00, 01, 10, 11; `xor/input`)",
    "xor_input": "input coordinate of the XOR MLP: 0 = x, 1 = y",
    "xor_hidden": "hidden unit of the XOR MLP",
    "line_coef": "coefficient of a hidden unit's line w_x x + w_y y + b = 0: 0 = w_x, 1 = w_y, 2 = b",
    "grid_x": "column of the XOR input-plane grid (x values in `xor/grid_x`)",
    "grid_y": "row of the XOR input-plane grid (y values in `xor/grid_y`)",
    "ft_variant": "fine-tune variant of one base (names in `finetune/variant`, this run's first)",
    "ft_step": "saved step of a fine-tune (index; `finetune/curve_step` holds the step, -1 pads)",
    "ft_matrix": "weight matrix type of the weight-change maps (names in `finetune/matrix`)",
    "ft_sv": "singular value index of a weight change (0 = largest)",
    "probe_model": "probed model: 0 = the trained model, 1 = a random-init copy (`probes/model`)",
    "probe_property": "token property a probe decodes (names in `probes/property`)",
    "probe_layer": "point probed: the token embedding alone, then each resid_pre, then the "
    "final resid_post (names in `probes/layer`)",
    "sae_metric": "SAE metric (names in `sae/metric`: l0, fve, ce_rec, ...)",
    "sae_example": "example of an SAE latent: its top contexts, then activation-interval samples",
    "sae_ctx": "token of an SAE example's context window (attr activating_index: the example's)",
    "sae_logit": "logit-effect rank of an SAE latent: logit_k top tokens, then logit_k bottom",
    "sae_neighbor": "nearest other SAE latent by decoder cosine (0 = nearest)",
    "gb_layer": "glass-box layer in forward order (names in `glassbox/layer_name`)",
    "gb_param": "glass-box weight (TransformerLens names in `glassbox/param_name`)",
    "gb_axis": "axis of a glass-box layer's input or output shape (-1 pads shorter shapes)",
    "gb_pos": "token position of the glass-box prompt; BOS is 0",
    "gb_query_pos": "glass-box attention: position that attends",
    "gb_key_pos": "glass-box attention: position attended to",
    "ioi_prompt": "IOI prompt (row of `ioi/tokens`; docs/methods.md §12.2)",
    "ioi_position": "named IOI position: IO, S1, S1+1, S2, END (names in `ioi/position_name`)",
    "ioi_score": "per-head IOI score (names in `ioi/score_name`; docs/methods.md §12.3)",
}
"""The one dimension vocabulary: shape comments, zarr dimension_names, xarray dims, axis titles."""


@dataclasses.dataclass(frozen=True)
class ArraySpec:
    """Layout of one array kind in a run."""

    dims: tuple[str, ...]
    """Dim names from DIMS, in storage order."""
    dtype: str
    """numpy dtype name, or "string" for variable-length UTF-8 text."""
    chunks: dict[str, int] = dataclasses.field(default_factory=dict)
    """dim -> chunk length; dims not listed are one whole chunk."""
    shards: dict[str, int] | None = None
    """dim -> shard length (a multiple of the chunk length), or None for no sharding;
    dims not listed are whole."""
    hook: str | None = None
    """TransformerLens hook template the data comes from, e.g. "blocks.{layer}.hook_resid_pre"."""
    doc: str = ""
    """One line: what the array holds and how to read it."""

    def __post_init__(self) -> None:
        unknown = [d for d in self.dims if d not in DIMS]
        if unknown:
            raise ValueError(f"dims {unknown} are not in store.schema.DIMS; add them there first")
        for table in (self.chunks, self.shards or {}):
            extra = set(table) - set(self.dims)
            if extra:
                raise ValueError(f"chunk/shard dims {sorted(extra)} are not in dims {self.dims}")


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
    # --- steering vectors (jobs/steps/steering.py, docs/methods.md §10) -----------------
    "steering/vector": ArraySpec(("steer_vector",), "string", doc="vector names actadd:<pair>, caa:<pair>"),
    "steering/method": ArraySpec(("steer_vector",), "string", doc="actadd or caa"),
    "steering/pair": ArraySpec(("steer_vector",), "string", doc="the contrast pair of each vector"),
    "steering/layer": ArraySpec(("steer_layer",), "int32", doc="block whose resid_pre is steered"),
    "steering/coeff": ArraySpec(("steer_coeff",), "float32", doc="coefficients of the sweep"),
    "steering/prompt_text": ArraySpec(("steer_prompt",), "string", doc="the steered prompts"),
    "steering/prompt_len": ArraySpec(("steer_prompt",), "int32", doc="their token length with BOS"),
    "steering/gen_mode": ArraySpec(("gen_mode",), "string", doc="greedy, sampled"),
    "steering/target": ArraySpec(("steer_vector", "steer_target"), "int32",
                                 doc="the pair's target tokens (positive, negative)"),
    "steering/tokens": ArraySpec(("steer_vector", "steer_layer", "steer_coeff", "steer_prompt",
                                  "gen_mode", "gen_pos"), "int32", {"steer_vector": 1},
                                 doc="steered prompt + continuation token ids, -1 pads"),
    "steering/base_tokens": ArraySpec(("steer_prompt", "gen_mode", "gen_pos"), "int32",
                                      doc="unsteered prompt + continuation token ids, -1 pads"),
    "steering/injected": ArraySpec(("steer_vector", "steer_prompt", "gen_pos"), "int8",
                                   doc="1 where the vector is added"),
    "steering/logit_shift": ArraySpec(("steer_vector", "steer_layer", "steer_coeff", "steer_target"),
                                      "float32", doc="steered - unsteered target logit, last prompt pos"),
    "steering/kl_prompt": ArraySpec(("steer_vector", "steer_layer", "steer_coeff"), "float32",
                                    doc="KL(unsteered || steered) after the prompts, nats"),
    "steering/kl": ArraySpec(("steer_vector", "steer_layer", "steer_coeff"), "float32",
                             doc="mean KL(unsteered || steered) on held-out text, nats"),
    "steering/ppl": ArraySpec(("steer_vector", "steer_layer", "steer_coeff"), "float32",
                              doc="steered perplexity on held-out text (attr base_ppl: unsteered)"),
    "steering/vector_norm": ArraySpec(("steer_vector", "steer_layer"), "float32",
                                      doc="L2 norm of the vector (ActAdd: its largest row)"),
    "steering/resid_norm": ArraySpec(("steer_layer",), "float32",
                                     doc="mean L2 norm of resid_pre on the held-out text"),
    # --- the XOR MLP over training (jobs/steps/xor.py, docs/methods.md §15) ----------------
    "xor/seed": ArraySpec(("xor_seed",), "int64", doc="seeds shown: the checkpoint's, the contrast"),
    "xor/solved": ArraySpec(("xor_seed",), "int8", doc="1 when the seed's final net solves XOR"),
    "xor/step": ArraySpec(("xor_step",), "int64", doc="optimizer step of each recorded state"),
    "xor/loss": ArraySpec(("xor_seed", "xor_step"), "float32",
                          doc="mean cross-entropy on the four points (nats)"),
    "xor/accuracy": ArraySpec(("xor_seed", "xor_step"), "float32",
                              doc="share of the four points classified right"),
    "xor/grid_x": ArraySpec(("grid_x",), "float32", doc="x of each grid column"),
    "xor/grid_y": ArraySpec(("grid_y",), "float32", doc="y of each grid row"),
    "xor/boundary": ArraySpec(("xor_seed", "xor_step", "grid_y", "grid_x"), "float32",
                              {"xor_seed": 1, "xor_step": 1},
                              doc="P(output = 1) on the grid; the boundary is its 0.5 contour"),
    "xor/lines": ArraySpec(("xor_seed", "xor_step", "xor_hidden", "line_coef"), "float32",
                           doc="hidden units' lines (w_x, w_y, b): pre-activation zero on them"),
    "xor/input": ArraySpec(("xor_point", "xor_input"), "float32", doc="the four XOR inputs"),
    "xor/label": ArraySpec(("xor_point",), "int8", doc="their labels, x XOR y"),
    "xor/point_prob": ArraySpec(("xor_seed", "xor_step", "xor_point"), "float32",
                                doc="P(output = 1) at each of the four points"),
    "xor/hidden": ArraySpec(("xor_seed", "xor_step", "xor_point", "xor_hidden"), "float32",
                            doc="hidden activations (the hidden code) of each point"),
    # --- fine-tuning: weight change, forgetting, head drift (jobs/steps/finetune.py) ----
    "finetune/variant": ArraySpec(("ft_variant",), "string", doc="variant names: lora r=4, full"),
    "finetune/curve_step": ArraySpec(("ft_variant", "ft_step"), "int64",
                                     doc="optimizer step of each saved step (-1 pads)"),
    **{f"finetune/{name}": ArraySpec(("ft_variant", "ft_step"), "float32", doc=doc)
       for name, doc in (("forgetting", "CE_ft - CE_base on the original corpus, nats/token"),
                         ("gain", "CE_base - CE_ft on the new corpus, nats/token"),
                         ("kl_orig", "mean KL(p_base || p_ft) on the original corpus, nats"),
                         ("ce_orig", "CE_ft on the original corpus (NaN pads)"),
                         ("ce_task", "CE_ft on the new corpus (NaN pads)"))},
    "finetune/matrix": ArraySpec(("ft_matrix",), "string", doc="W_Q, W_K, W_V, W_O, W_in, W_out"),
    **{f"finetune/{name}": ArraySpec(("layer", "ft_matrix"), "float32", doc=doc)
       for name, doc in (("fro", "||dW||_F of the layer's matrix (heads side by side)"),
                         ("spectral", "||dW||_2, the largest singular value"),
                         ("relative", "||dW||_F / ||W0||_F"),
                         ("erank", "entropy effective rank of dW"),
                         ("stable_rank", "||dW||_F^2 / ||dW||_2^2"),
                         ("k90", "fewest singular values holding 90% of ||dW||_F^2"),
                         ("amplification", "||dW||_F / ||U_r^T W0 V_r||_F (Hu et al.)"))},
    "finetune/sigma": ArraySpec(("layer", "ft_matrix", "ft_sv"), "float32",
                                doc="singular values of dW, descending (NaN pads)"),
    "finetune/score": ArraySpec(("score",), "string", doc="head-score names of the drift arrays"),
    "finetune/scores_before": ArraySpec(("layer", "head", "score"), "float32",
                                        doc="head scores of the base model"),
    "finetune/scores_after": ArraySpec(("layer", "head", "score"), "float32",
                                       doc="head scores of the fine-tuned model"),
    "finetune/label_before": ArraySpec(("layer", "head"), "string", doc="base head labels"),
    "finetune/label_after": ArraySpec(("layer", "head"), "string", doc="fine-tuned head labels"),
    # --- linear probes (jobs/steps/probes.py, docs/methods.md §8) ------------------------
    **{f"probes/{name}": ArraySpec(("probe_model", "probe_property", "probe_layer"), "float32",
                                   doc=doc) for name, doc in (
        ("accuracy", "held-out probe accuracy (prompt-wise folds, pooled)"),
        ("ci_low", "accuracy: 2.5% bootstrap quantile over test prompts"),
        ("ci_high", "accuracy: 97.5% bootstrap quantile over test prompts"),
        ("balanced_accuracy", "held-out balanced accuracy (mean recall over classes)"),
        ("control", "accuracy of the same probe on the control task (one class per token type)"),
        ("selectivity", "accuracy - control"))},
    "probes/majority": ArraySpec(("probe_property",), "float32",
                                 doc="majority-class baseline accuracy on the same test tokens"),
    "probes/n_tokens": ArraySpec(("probe_property",), "int32", doc="labelled tokens probed"),
    "probes/property": ArraySpec(("probe_property",), "string", doc="property names (coordinate)"),
    "probes/description": ArraySpec(("probe_property",), "string", doc="what each property means"),
    "probes/classes": ArraySpec(("probe_property",), "string",
                                doc="each property's class names, joined by ' | '"),
    "probes/layer": ArraySpec(("probe_layer",), "string", doc="embed, 0_pre, ..., final_post"),
    "probes/model": ArraySpec(("probe_model",), "string", doc="trained, random-init"),
    # --- sparse autoencoder and its latents (jobs/steps/sae.py, docs/methods.md §9) -----
    "sae/metric": ArraySpec(("sae_metric",), "string", doc="metric names: l0, fve, ce_rec, ..."),
    "sae/metric_value": ArraySpec(("sae_metric",), "float32",
                                  doc="their values, pooled over the evaluation tokens"),
    "sae/density": ArraySpec(("feature",), "float32", doc="share of tokens the latent fires on"),
    "sae/max_act": ArraySpec(("feature",), "float32", doc="largest activation on the eval set"),
    "sae/top_token_ids": ArraySpec(("feature", "topk"), "int32",
                                   doc="activating token of each top context (-1: none)"),
    **{f"sae/{name}": ArraySpec(dims, dtype, {"feature": 1}, {"feature": 512}, doc=doc)
       for name, dims, dtype, doc in (  # a card's big arrays: one latent per chunk
        ("example_ids", ("feature", "sae_example", "sae_ctx"), "int32",
         "context token ids of each example (-1 off the ends)"),
        ("example_acts", ("feature", "sae_example", "sae_ctx"), "float16",
         "the latent's activation on each context token"))},
    **{f"sae/{name}": ArraySpec(dims, dtype, doc=doc) for name, dims, dtype, doc in (
        ("example_value", ("feature", "sae_example"), "float32",
         "activation at the example's token (NaN: no example)"),
        ("example_group", ("sae_example",), "int8",
         "-1 = top context, q = sample of activation interval q"),
        ("hist_counts", ("feature", "hist_bin"), "float32", "histogram of non-zero activations"),
        ("hist_edges", ("feature", "hist_edge"), "float32", "its bin edges"),
        ("logit_ids", ("feature", "sae_logit"), "int32", "tokens it pushes up most, then down"),
        ("logit_values", ("feature", "sae_logit"), "float32", "their direct-path logit effects"),
        ("neighbor_ids", ("feature", "sae_neighbor"), "int32", "nearest latents (decoder cos)"),
        ("neighbor_cos", ("feature", "sae_neighbor"), "float32", "their cosine"))},
    # --- the glass box, one forward + backward pass (jobs/steps/glassbox.py) -------------
    "glassbox/tokens": ArraySpec(("gb_pos",), "int32", doc="the prompt, BOS first"),
    "glassbox/layer_name": ArraySpec(("gb_layer",), "string", doc="layers in forward order"),
    "glassbox/in_shape": ArraySpec(("gb_layer", "gb_axis"), "int32",
                                   doc="shape of each layer's input (-1 pads)"),
    "glassbox/out_shape": ArraySpec(("gb_layer", "gb_axis"), "int32",
                                    doc="shape of each layer's output (-1 pads)"),
    "glassbox/grad_out_norm": ArraySpec(("gb_layer",), "float32",
                                        doc="backward: L2 norm of dL/d(layer output)"),
    "glassbox/grad_in_norm": ArraySpec(("gb_layer",), "float32",
                                       doc="backward: L2 norm of dL/d(layer input); NaN for "
                                           "the embeddings (their input is token ids)"),
    "glassbox/param_name": ArraySpec(("gb_param",), "string", doc="weights, TransformerLens names"),
    "glassbox/param_norm": ArraySpec(("gb_param",), "float32", doc="L2 norm of each weight"),
    "glassbox/grad_norm": ArraySpec(("gb_param",), "float32",
                                    doc="L2 norm of each weight's gradient on the prompt"),
    "glassbox/pattern": ArraySpec(("layer", "head", "gb_query_pos", "gb_key_pos"), "float32",
                                  doc="attention pattern of every head on the prompt"),
    # --- IOI head classes (jobs/steps/ioi.py; docs/methods.md §12.2, §12.3) ---------------
    "ioi/tokens": ArraySpec(("ioi_prompt", "pos"), "int32", doc="clean IOI prompts, BOS-padded after END"),
    "ioi/abc_tokens": ArraySpec(("ioi_prompt", "pos"), "int32", doc="ABC corruption of each prompt"),
    "ioi/io": ArraySpec(("ioi_prompt",), "int32", doc="indirect-object token (the answer)"),
    "ioi/s": ArraySpec(("ioi_prompt",), "int32", doc="subject token"),
    "ioi/position_name": ArraySpec(("ioi_position",), "string", doc="IO, S1, S1+1, S2, END"),
    "ioi/positions": ArraySpec(("ioi_prompt", "ioi_position"), "int32", doc="token index of each named position"),
    "ioi/logit_diff": ArraySpec(("ioi_prompt",), "float32", doc="logit(IO) - logit(S) at END"),
    "ioi/score_name": ArraySpec(("ioi_score",), "string", doc="names of the per-head IOI scores"),
    "ioi/scores": ArraySpec(("ioi_score", "layer", "head"), "float32",
                            doc="per-head IOI scores (NaN where a stage did not run)"),
    "ioi/label": ArraySpec(("layer", "head"), "string", doc="IOI classes of each head, '+'-joined ('' none)"),
    "ioi/evidence": ArraySpec(("layer", "head"), "string",
                              doc="JSON per label: {score: [value, op, threshold]}"),
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
