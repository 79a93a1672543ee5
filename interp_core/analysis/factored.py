"""FactoredMatrix: a matrix ``M = A @ B`` kept as its two factors (docs/methods.md §3.1).

Circuits such as the full OV circuit ``W_E W_V W_O W_U`` are [d_vocab, d_vocab] (2.5e9
entries for GPT-2) but have rank at most d_head. Keeping the factors makes the SVD, the
Frobenius norm and the eigenvalues cost O(r^3) instead of O(V^3), and lets rows, columns
and row-wise top-k be computed block by block without materialising ``M``.

Semantics follow TransformerLens's ``FactoredMatrix`` (``AB``, ``BA``, ``T``, ``@``,
indexing, ``svd``, ``norm``, ``eigenvalues``) with one deliberate difference: ``svd()``
returns ``V`` (not TransformerLens's misnamed ``Vh``) so ``M = U diag(S) V^T``.

Examples:
    >>> fm = FactoredMatrix(torch.randn(100, 8), torch.randn(8, 100))
    >>> U, S, V = fm.svd()                    # [100, 8], [8], [100, 8]
    >>> fm.norm()                             # Frobenius norm, from S
    >>> values, ids = fm.topk_rows(5)         # [100, 5] each, in row blocks of <= 1024
"""

from __future__ import annotations

from functools import cached_property

import torch

__all__ = ["FactoredMatrix"]


class FactoredMatrix:
    """``M = A @ B`` with ``A`` [..., m, r] and ``B`` [..., r, n]; leading dims broadcast."""

    def __init__(self, A: torch.Tensor, B: torch.Tensor) -> None:
        if A.shape[-1] != B.shape[-2]:
            raise ValueError(f"inner dims differ: A {tuple(A.shape)}, B {tuple(B.shape)}")
        lead = torch.broadcast_shapes(A.shape[:-2], B.shape[:-2])
        self.A = A.broadcast_to(lead + A.shape[-2:])  # [..., m, r]
        self.B = B.broadcast_to(lead + B.shape[-2:])  # [..., r, n]

    # ------------------------------------------------------------------ shape
    @property
    def ldim(self) -> int:
        """Rows of M (m)."""
        return self.A.shape[-2]

    @property
    def mdim(self) -> int:
        """Inner (factor) dimension (r)."""
        return self.A.shape[-1]

    @property
    def rdim(self) -> int:
        """Columns of M (n)."""
        return self.B.shape[-1]

    @property
    def shape(self) -> torch.Size:
        """Shape of M: leading dims + (m, n)."""
        return self.A.shape[:-1] + (self.rdim,)

    @property
    def ndim(self) -> int:
        """Number of dims of M."""
        return len(self.shape)

    def __repr__(self) -> str:
        return f"FactoredMatrix(shape={tuple(self.shape)}, mdim={self.mdim})"

    # ------------------------------------------------------------------ algebra
    @property
    def AB(self) -> torch.Tensor:
        """The materialised matrix M [..., m, n] (only for small m, n)."""
        return self.A @ self.B

    @property
    def BA(self) -> torch.Tensor:
        """``B @ A`` [..., r, r]; needs m == n. Same non-zero spectrum as M."""
        if self.ldim != self.rdim:
            raise ValueError(f"BA needs a square matrix, got {tuple(self.shape)}")
        return self.B @ self.A

    @property
    def T(self) -> FactoredMatrix:
        """Transpose: ``FM(B^T, A^T)``."""
        return FactoredMatrix(self.B.transpose(-2, -1), self.A.transpose(-2, -1))

    def __matmul__(self, other: torch.Tensor | FactoredMatrix) -> FactoredMatrix | torch.Tensor:
        if isinstance(other, FactoredMatrix):
            # Multiply through the smaller inner dim so the result stays low rank.
            if self.mdim <= other.mdim:
                return FactoredMatrix(self.A, (self.B @ other.A) @ other.B)
            return FactoredMatrix(self.A @ (self.B @ other.A), other.B)
        if other.ndim == 1:  # matrix @ vector
            return self.A @ (self.B @ other)
        return FactoredMatrix(self.A, self.B @ other)

    def __rmatmul__(self, other: torch.Tensor) -> FactoredMatrix | torch.Tensor:
        if other.ndim == 1:  # vector @ matrix
            return (other @ self.A) @ self.B
        return FactoredMatrix(other @ self.A, self.B)

    def __mul__(self, scalar: float) -> FactoredMatrix:
        return FactoredMatrix(self.A * scalar, self.B)

    __rmul__ = __mul__

    def __getitem__(self, idx: object) -> FactoredMatrix:
        """Index leading dims and the last two (rows via A, columns via B)."""
        idx = idx if isinstance(idx, tuple) else (idx,)
        n_lead = self.ndim - 2
        lead, rest = idx[:n_lead], idx[n_lead:]
        A, B = self.A[lead] if lead else self.A, self.B[lead] if lead else self.B
        if len(rest) >= 1:
            row = rest[0]
            row = slice(row, row + 1) if isinstance(row, int) else row
            A = A[..., row, :]
        if len(rest) >= 2:
            col = rest[1]
            col = slice(col, col + 1) if isinstance(col, int) else col
            B = B[..., :, col]
        return FactoredMatrix(A, B)

    def unsqueeze(self, dim: int) -> FactoredMatrix:
        """Add a leading dim (``dim`` counts among leading dims only)."""
        return FactoredMatrix(self.A.unsqueeze(dim), self.B.unsqueeze(dim))

    # ------------------------------------------------------------------ spectra
    @cached_property
    def _svd(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        Ua, Sa, Vha = torch.linalg.svd(
            self.A, full_matrices=False
        )  # [..., m, r], [..., r], [..., r, r]
        Ub, Sb, Vhb = torch.linalg.svd(
            self.B, full_matrices=False
        )  # [..., r, r], [..., r], [..., r, n]
        core = Sa[..., :, None] * (Vha @ Ub) * Sb[..., None, :]  # [..., r, r]
        Uc, S, Vhc = torch.linalg.svd(
            core, full_matrices=False
        )  # [..., r, r], [..., r], [..., r, r]
        U = Ua @ Uc  # [..., m, r]
        V = (Vhc @ Vhb).transpose(-2, -1)  # [..., n, r]
        return U, S, V

    def svd(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """SVD without materialising M: ``M = U diag(S) V^T``.

        Returns:
            ``U`` [..., m, r], ``S`` [..., r] (descending), ``V`` [..., n, r].
        """
        return self._svd

    @property
    def U(self) -> torch.Tensor:
        """Left singular vectors [..., m, r]."""
        return self._svd[0]

    @property
    def S(self) -> torch.Tensor:
        """Singular values [..., r], descending."""
        return self._svd[1]

    @property
    def V(self) -> torch.Tensor:
        """Right singular vectors [..., n, r] (columns), so ``M = U diag(S) V^T``."""
        return self._svd[2]

    def norm(self) -> torch.Tensor:
        """Frobenius norm ``sqrt(sum S^2)`` [...]."""
        return self.S.pow(2).sum(-1).sqrt()

    @property
    def eigenvalues(self) -> torch.Tensor:
        """Eigenvalues of ``BA`` [..., r] (complex): the non-zero spectrum of the square M.

        Computed in float64 at least (docs/methods.md §0.5: never eigen-decompose in 16 bit).
        """
        BA = self.BA
        return torch.linalg.eigvals(BA.double() if BA.dtype != torch.float64 else BA)

    def collapse_l(self) -> torch.Tensor:
        """``diag(S) V^T`` [..., r, n]: M with the left factor's orthonormal part dropped."""
        return self.S[..., :, None] * self.V.transpose(-2, -1)

    def collapse_r(self) -> torch.Tensor:
        """``U diag(S)`` [..., m, r]."""
        return self.U * self.S[..., None, :]

    # ------------------------------------------------------------------ blockwise views
    def rows(self, idx: torch.Tensor | list[int]) -> torch.Tensor:
        """Materialise the given rows [len(idx), n] (2-D matrices only)."""
        return self.A[torch.as_tensor(idx, device=self.A.device)] @ self.B

    def columns(self, idx: torch.Tensor | list[int]) -> torch.Tensor:
        """Materialise the given columns [m, len(idx)] (2-D matrices only)."""
        return self.A @ self.B[:, torch.as_tensor(idx, device=self.B.device)]

    def row_blocks(self, block: int = 1024, rows: torch.Tensor | None = None):
        """Yield ``(row_ids, M[row_ids])`` blocks of at most ``block`` rows (2-D only)."""
        ids = (
            torch.arange(self.ldim, device=self.A.device)
            if rows is None
            else torch.as_tensor(rows, device=self.A.device)
        )
        for start in range(0, len(ids), block):
            chunk = ids[start : start + block]
            yield chunk, self.A[chunk] @ self.B  # [block, n]

    def topk_rows(
        self,
        k: int,
        *,
        block: int = 1024,
        rows: torch.Tensor | None = None,
        log_softmax: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k entries of each row, computed in row blocks (docs/methods.md §1.4).

        Args:
            k: Entries per row.
            block: Rows materialised at once.
            rows: Row ids to do (default: all).
            log_softmax: Return log-softmax values of each row instead of raw entries.

        Returns:
            ``values`` [rows, k] and column ``indices`` [rows, k], largest first.
        """
        vals, idxs = [], []
        for _, chunk in self.row_blocks(block, rows):
            if log_softmax:
                chunk = torch.log_softmax(chunk.float(), dim=-1)  # [block, n]
            v, i = chunk.topk(k, dim=-1)  # [block, k]
            vals.append(v)
            idxs.append(i)
        return torch.cat(vals), torch.cat(idxs)

    def topk_columns(
        self, k: int, *, block: int = 1024, columns: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k entries of each column [columns, k] (row ids), blockwise via ``T``."""
        return self.T.topk_rows(k, block=block, rows=columns)

    def row_logsumexp(self, *, block: int = 1024) -> torch.Tensor:
        """``logsumexp`` of every row [m], in row blocks (for log-prob columns)."""
        return torch.cat([chunk.float().logsumexp(-1) for _, chunk in self.row_blocks(block)])
