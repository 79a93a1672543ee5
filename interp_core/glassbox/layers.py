"""The glass box's layers: each one a small class with ``forward``, ``backward`` and its weights.

Row convention throughout (``x [batch, pos, d_model]``, ``y = x @ W + b``), the same shapes
and TransformerLens names as ``interp_core.models``. ``forward`` keeps what ``backward``
needs; ``backward(dout)`` fills ``self.grads`` (same keys and shapes as ``self.params``) and
returns the gradient with respect to the layer's input (the embeddings return nothing: their
input is token ids). The derivations are written next to the lines that compute them
(docs/methods.md §14). ``interp_core.glassbox.model.GlassBox`` wires them into blocks.

A layer remembers only its last forward pass, so call ``backward`` once per ``forward``.
"""

from __future__ import annotations

import math

import numpy as np

from interp_core.glassbox.special import erf

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
GELU_CUBIC = 0.044715


class Layer:
    """A named set of weights and their gradients (``params`` / ``grads``: name -> array)."""

    def __init__(self, **params: np.ndarray) -> None:
        self.params: dict[str, np.ndarray] = params
        self.grads: dict[str, np.ndarray] = {}


def _sum_rows(a: np.ndarray) -> np.ndarray:
    """Sum over every axis but the last: [..., n] -> [n] (the gradient of a broadcast bias)."""
    return a.reshape(-1, a.shape[-1]).sum(axis=0)


def _matmul_grad_w(x: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """dW of ``y = x @ W`` summed over batch and positions: x [..., n], dy [..., m] -> [n, m]."""
    return x.reshape(-1, x.shape[-1]).T @ dy.reshape(-1, dy.shape[-1])


class Embed(Layer):
    """Token embedding ``x[b, t] = W_E[tokens[b, t]]``; ``W_E`` [d_vocab, d_model]."""

    def forward(self, tokens: np.ndarray) -> np.ndarray:
        self.tokens = tokens  # [batch, pos]
        return self.params["W_E"][tokens]  # [batch, pos, d_model]

    def backward(self, dout: np.ndarray) -> None:
        # Row W_E[v] was copied to every position holding token v, so its gradient is the sum
        # of dout over those positions: a scatter-add (np.add.at adds repeated ids correctly).
        dW_E = np.zeros_like(self.params["W_E"])
        np.add.at(dW_E, self.tokens.reshape(-1), dout.reshape(-1, dout.shape[-1]))
        self.grads = {"W_E": dW_E}


class PosEmbed(Layer):
    """Learned positions ``x[b, t] = W_pos[t]`` for t < pos; ``W_pos`` [n_ctx, d_model]."""

    def forward(self, tokens: np.ndarray) -> np.ndarray:
        self.n_pos = tokens.shape[1]
        return self.params["W_pos"][None, : self.n_pos]  # [1, pos, d_model], broadcast over batch

    def backward(self, dout: np.ndarray) -> None:
        # Row t is used by every sequence of the batch: sum over the batch; unused rows get 0.
        dW_pos = np.zeros_like(self.params["W_pos"])
        dW_pos[: self.n_pos] = dout.sum(axis=0)
        self.grads = {"W_pos": dW_pos}


class LayerNorm(Layer):
    """``y = w * x_hat + b`` with ``x_hat = (x - mean) / sigma``, ``sigma = sqrt(var + eps)``."""

    def __init__(self, eps: float, **params: np.ndarray) -> None:
        super().__init__(**params)
        self.eps = eps

    def forward(self, x: np.ndarray) -> np.ndarray:
        centred = x - x.mean(axis=-1, keepdims=True)  # [batch, pos, d_model]
        self.sigma = np.sqrt((centred**2).mean(axis=-1, keepdims=True) + self.eps)  # [b, p, 1]
        self.x_hat = centred / self.sigma  # [batch, pos, d_model]
        return self.x_hat * self.params["w"] + self.params["b"]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.grads = {"w": _sum_rows(dout * self.x_hat), "b": _sum_rows(dout)}
        # With g = dL/dx_hat = dout * w, and x_hat depending on x through the mean and sigma:
        #   dL/dx = (g - mean(g) - x_hat * mean(g * x_hat)) / sigma   (means over d_model).
        # mean(g) is the part that moves every coordinate together (the mean is subtracted);
        # x_hat * mean(g * x_hat) is the part along x_hat (sigma rescales it away).
        g = dout * self.params["w"]
        g_mean = g.mean(axis=-1, keepdims=True)
        g_proj = (g * self.x_hat).mean(axis=-1, keepdims=True)
        return (g - g_mean - self.x_hat * g_proj) / self.sigma


def _split_heads(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-head projection ``x @ W[h] + b[h]`` as one matrix product.

    x [batch, pos, d_model], W [head, d_model, d_head], b [head, d_head]
    -> [batch, head, pos, d_head].
    """
    B, T, d = x.shape
    H, _, dh = W.shape
    flat = x.reshape(B * T, d) @ W.transpose(1, 0, 2).reshape(d, H * dh) + b.reshape(H * dh)
    return flat.reshape(B, T, H, dh).transpose(0, 2, 1, 3)


def _merge_heads(a: np.ndarray) -> np.ndarray:
    """[batch, head, pos, d_head] -> [batch * pos, head * d_head] (heads side by side)."""
    B, H, T, dh = a.shape
    return a.transpose(0, 2, 1, 3).reshape(B * T, H * dh)


def _head_grads(x: np.ndarray, dq: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, ...]:
    """Gradients of ``q = _split_heads(x, W, b)`` given dq [batch, head, pos, d_head].

    Returns (dW [head, d_model, d_head], db [head, d_head], dx [batch, pos, d_model]):
    ``dW[h] = x^T dq[h]``, ``db[h] = sum dq[h]``, ``dx = sum_h dq[h] W[h]^T``.
    """
    B, T, d = x.shape
    H, _, dh = W.shape
    dq_flat = _merge_heads(dq)  # [batch * pos, head * d_head]
    dW = (x.reshape(B * T, d).T @ dq_flat).reshape(d, H, dh).transpose(1, 0, 2)
    db = dq_flat.sum(axis=0).reshape(H, dh)
    dx = (dq_flat @ W.transpose(1, 0, 2).reshape(d, H * dh).T).reshape(B, T, d)
    return dW, db, dx


class Attention(Layer):
    """Causal multi-head attention, every head at once (no Python loop over heads).

    ``q, k, v = x W_Q + b_Q, x W_K + b_K, x W_V + b_V`` per head [batch, head, pos, d_head];
    ``A = softmax(q k^T / sqrt(d_head))`` with keys after the query masked out;
    ``z = A v``; ``out = sum_h z[h] W_O[h] + b_O``.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        p = self.params
        B, T, _ = x.shape
        self.x = x
        self.q = _split_heads(x, p["W_Q"], p["b_Q"])  # [batch, head, pos, d_head]
        self.k = _split_heads(x, p["W_K"], p["b_K"])
        self.v = _split_heads(x, p["W_V"], p["b_V"])
        self.scale = 1.0 / math.sqrt(self.q.shape[-1])
        scores = self.q @ self.k.swapaxes(-1, -2) * self.scale  # [batch, head, query, key]
        causal = np.tril(np.ones((T, T), dtype=bool))  # [query, key]
        scores = np.where(causal, scores, -np.inf)
        scores = scores - scores.max(axis=-1, keepdims=True)  # softmax is shift-invariant
        e = np.exp(scores)  # masked entries: exp(-inf) = 0
        self.pattern = e / e.sum(axis=-1, keepdims=True)  # [batch, head, query, key]
        self.z = self.pattern @ self.v  # [batch, head, pos, d_head]
        H, dh, d = p["W_O"].shape
        out = _merge_heads(self.z) @ p["W_O"].reshape(H * dh, d) + p["b_O"]
        return out.reshape(B, T, d)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        p = self.params
        B, T, d = dout.shape
        H, dh, _ = p["W_O"].shape
        dout_flat = dout.reshape(B * T, d)
        # out = z_flat @ W_O_flat + b_O: the linear rule (dW = z^T dout, dz = dout W^T).
        dW_O = (_merge_heads(self.z).T @ dout_flat).reshape(H, dh, d)
        dz = (dout_flat @ p["W_O"].reshape(H * dh, d).T).reshape(B, T, H, dh).transpose(0, 2, 1, 3)
        # z = A v: dA = dz v^T, dv = A^T dz.
        dA = dz @ self.v.swapaxes(-1, -2)  # [batch, head, query, key]
        dv = self.pattern.swapaxes(-1, -2) @ dz  # [batch, head, pos, d_head]
        # Softmax over keys, row by row: ds_j = A_j (dA_j - sum_k dA_k A_k). Masked entries
        # have A = 0, so their gradient is 0 with no extra masking. Then the 1/sqrt(d_head).
        ds = self.pattern * (dA - (dA * self.pattern).sum(axis=-1, keepdims=True)) * self.scale
        # s = q k^T: dq = ds k, dk = ds^T q.
        dq = ds @ self.k
        dk = ds.swapaxes(-1, -2) @ self.q
        dW_Q, db_Q, dx_q = _head_grads(self.x, dq, p["W_Q"])
        dW_K, db_K, dx_k = _head_grads(self.x, dk, p["W_K"])
        dW_V, db_V, dx_v = _head_grads(self.x, dv, p["W_V"])
        self.grads = {"W_Q": dW_Q, "W_K": dW_K, "W_V": dW_V, "W_O": dW_O,
                      "b_Q": db_Q, "b_K": db_K, "b_V": db_V, "b_O": dout_flat.sum(axis=0)}  # fmt: skip
        return dx_q + dx_k + dx_v  # x feeds q, k and v: the three gradients add


ERF_P = 0.3275911
ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
"""Abramowitz & Stegun 7.1.26: erf(y) = 1 - t (a1 + t (a2 + ...)) exp(-y^2), t = 1 / (1 + p y),
y >= 0, absolute error below 1.5e-7 (float32 rounding)."""


def _erf(y: np.ndarray, exp_minus_y2: np.ndarray) -> np.ndarray:
    """erf(y), given exp(-y^2). float64 arrays get Cody's rational approximation
    (``interp_core.glassbox.special``, exact to rounding); float32 ones the A&S 7.1.26
    polynomial, several times faster and as exact as float32."""
    if y.dtype != np.float32:
        return erf(y)
    t = 1.0 / (1.0 + ERF_P * np.abs(y))
    poly = t * (ERF_A[0] + t * (ERF_A[1] + t * (ERF_A[2] + t * (ERF_A[3] + t * ERF_A[4]))))
    return np.copysign(1.0 - poly * exp_minus_y2, y)


def activation(name: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The MLP nonlinearity ``name`` (interp_core.config.ACT_FNS) and its derivative at x.

    Both at once, because they share the expensive part (erf, tanh, exp); the MLP keeps the
    derivative for its backward pass.
    """
    if name == "gelu":
        # Exact GELU g(x) = x Phi(x), Phi the standard normal CDF; g'(x) = Phi(x) + x phi(x).
        gauss = np.exp(-0.5 * x * x)  # [batch, pos, d_mlp]
        cdf = 0.5 * (1.0 + _erf(x * (1.0 / math.sqrt(2.0)), gauss))
        pdf = gauss * (1.0 / math.sqrt(2.0 * math.pi))
        return x * cdf, cdf + x * pdf
    if name == "gelu_new":
        # GPT-2's tanh form: g = x (1 + tanh u) / 2 with u = c (x + a x^3), so
        # g' = (1 + tanh u) / 2 + x (1 - tanh^2 u) c (1 + 3 a x^2) / 2.
        t = np.tanh(SQRT_2_OVER_PI * (x + GELU_CUBIC * x**3))
        du = SQRT_2_OVER_PI * (1.0 + 3 * GELU_CUBIC * x * x)
        return 0.5 * x * (1.0 + t), 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du
    if name == "relu":
        return np.maximum(x, 0.0), (x > 0).astype(x.dtype)
    if name == "silu":  # g = x s(x), s the sigmoid; g' = s(x) (1 + x (1 - s(x)))
        s = 1.0 / (1.0 + np.exp(-x))
        return x * s, s * (1.0 + x * (1.0 - s))
    raise ValueError(f"unknown activation {name!r}; the glass box has gelu, gelu_new, relu, silu")


class MLP(Layer):
    """``out = act(x W_in + b_in) W_out + b_out``; hidden width d_mlp."""

    def __init__(self, act_fn: str, **params: np.ndarray) -> None:
        super().__init__(**params)
        self.act_fn = act_fn

    def forward(self, x: np.ndarray) -> np.ndarray:
        p = self.params
        self.x = x
        self.pre = x @ p["W_in"] + p["b_in"]  # [batch, pos, d_mlp]
        self.post, self.dact = activation(self.act_fn, self.pre)  # [batch, pos, d_mlp] each
        return self.post @ p["W_out"] + p["b_out"]  # [batch, pos, d_model]

    def backward(self, dout: np.ndarray) -> np.ndarray:
        p = self.params
        dpost = dout @ p["W_out"].T  # linear rule: dx = dy W^T
        dpre = dpost * self.dact  # elementwise chain rule: d act(pre) / d pre
        self.grads = {"W_in": _matmul_grad_w(self.x, dpre), "b_in": _sum_rows(dpre),
                      "W_out": _matmul_grad_w(self.post, dout), "b_out": _sum_rows(dout)}  # fmt: skip
        return dpre @ p["W_in"].T


class Unembed(Layer):
    """``logits = x W_U + b_U``; ``W_U`` [d_model, d_vocab]."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return x @ self.params["W_U"] + self.params["b_U"]  # [batch, pos, d_vocab]

    def backward(self, dlogits: np.ndarray) -> np.ndarray:
        self.grads = {"W_U": _matmul_grad_w(self.x, dlogits), "b_U": _sum_rows(dlogits)}
        return dlogits @ self.params["W_U"].T
