"""The vocabulary of the store schema: dim names (DIMS) and one array's layout (ArraySpec).

Split from ``store.schema`` (which re-exports both) so the modules that declare groups can
share them; see ``store.schema`` for the conventions.
"""

from __future__ import annotations

import dataclasses

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
