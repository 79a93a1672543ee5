"""The glass box: the ladder's transformer written in NumPy, gradients derived by hand.

Every layer (embedding, positions, LayerNorm, attention, MLP, unembedding) is a class with
``forward``, ``backward`` and its weights, meant to be read line by line next to
docs/methods.md §14; the torch model is the reference it is tested against. It reads and
writes our checkpoints, so every analysis and page works on a model it trained. Importing
it never imports torch.

Examples:
    >>> from interp_core.glassbox import GlassBox, cross_entropy
    >>> model = GlassBox.from_checkpoint("checkpoints/tiny/gpt-4l")
    >>> loss, dlogits = cross_entropy(model.forward(tokens), tokens)
    >>> model.backward(dlogits)
    >>> model.grads["unembed.W_U"].shape
"""

from __future__ import annotations

from interp_core.glassbox.model import (
    GlassBox, GlassBoxError, cross_entropy, init_params, param_shapes, read_config,
)  # fmt: skip
from interp_core.glassbox.optim import AdamW, clip_grad_norm, decays, lr_at
from interp_core.glassbox.train import Schedule, train_step

__all__ = ["AdamW", "GlassBox", "GlassBoxError", "Schedule", "clip_grad_norm", "cross_entropy",
           "decays", "init_params", "lr_at", "param_shapes", "read_config", "train_step"]  # fmt: skip
