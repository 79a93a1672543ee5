"""FactoredMatrix (docs/methods.md §3.1, S3.1, S1.3): factored operations equal the dense ones and TL's."""

from __future__ import annotations

import pytest
import torch

from interp_core.analysis import FactoredMatrix


def _fm(m=30, r=6, n=40, lead=(), seed=0) -> FactoredMatrix:
    gen = torch.Generator().manual_seed(seed)
    return FactoredMatrix(
        torch.randn(*lead, m, r, generator=gen, dtype=torch.float64),
        torch.randn(*lead, r, n, generator=gen, dtype=torch.float64),
    )


def test_svd_norm_match_dense() -> None:
    fm = _fm(lead=(2, 3))
    U, S, V = fm.svd()
    dense = fm.AB
    torch.testing.assert_close(U @ torch.diag_embed(S) @ V.mT, dense)
    torch.testing.assert_close(S, torch.linalg.svdvals(dense)[..., :6])
    torch.testing.assert_close(fm.norm(), torch.linalg.matrix_norm(dense))
    torch.testing.assert_close(U.mT @ U, torch.eye(6, dtype=U.dtype).expand(2, 3, 6, 6))


def test_eigenvalues_are_the_nonzero_spectrum() -> None:
    fm = _fm(m=25, n=25)
    big = torch.linalg.eigvals(fm.AB)
    big = big[big.abs() > 1e-8]
    small = fm.eigenvalues
    key = lambda z: sorted(z.tolist(), key=lambda c: (round(c.real, 6), round(c.imag, 6)))
    assert len(big) == len(small) == 6
    for a, b in zip(key(big), key(small)):
        assert abs(a - b) < 1e-6


def test_transpose_matmul_indexing() -> None:
    fm, other = _fm(), _fm(m=40, n=20, seed=1)
    torch.testing.assert_close(fm.T.AB, fm.AB.T)
    torch.testing.assert_close((fm @ other).AB, fm.AB @ other.AB)
    torch.testing.assert_close((fm @ other.AB).AB, fm.AB @ other.AB)
    x = torch.randn(7, 30, dtype=torch.float64)
    torch.testing.assert_close((x @ fm).AB, x @ fm.AB)
    torch.testing.assert_close(fm[2:5, 3].AB, fm.AB[2:5, 3:4])
    torch.testing.assert_close(fm.rows([1, 4]), fm.AB[[1, 4]])
    torch.testing.assert_close(fm.columns([0, 9]), fm.AB[:, [0, 9]])


def test_blockwise_topk_equals_dense() -> None:  # S1.3
    fm = _fm(m=57, n=45)
    vals, ids = fm.topk_rows(4, block=8)
    dv, di = fm.AB.topk(4, dim=-1)
    assert torch.equal(ids, di)
    torch.testing.assert_close(vals, dv)
    vals, ids = fm.topk_columns(3, block=5)
    dv, di = fm.AB.topk(3, dim=0)
    assert torch.equal(ids, di.T)
    lse = fm.row_logsumexp(block=10)
    torch.testing.assert_close(lse, fm.AB.float().logsumexp(-1).to(lse.dtype))


def test_matches_transformer_lens_factored_matrix() -> None:
    tl = pytest.importorskip("transformer_lens")
    fm = _fm(m=20, n=20, lead=(3,), seed=4)
    ref = tl.FactoredMatrix(fm.A, fm.B)
    torch.testing.assert_close(fm.norm(), ref.norm())
    torch.testing.assert_close(fm.S, ref.S)
    torch.testing.assert_close(fm.eigenvalues.sum(-1), ref.eigenvalues.sum(-1).to(torch.complex128))
    torch.testing.assert_close(fm.BA, ref.BA)
