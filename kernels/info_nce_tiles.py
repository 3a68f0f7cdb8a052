"""The Triton kernels of ``sslcli.kernels.info_nce`` (see its docstring for the math): the forward's
online log-sum-exp over key tiles, the row-stationary pass for dL/dq, the column-stationary pass for
dL/dk, and the tile shapes autotune may pick on CUDA.
"""

from __future__ import annotations

from sslcli.kernels._triton import LazyKernel, config

tl = None  # triton.language, bound by LazyKernel on the first launch (see _triton.py)


# ---------------------------------------------------------------------------------------------------
# Triton kernels. Logits are kept in log2 units (s * log2(e)) so the exponentials are exp2. Candidate
# keys are the K keys then the Q negatives, candidate c < K reading k, c >= K reading n.
# DOT_FP32 upcasts tiles before tl.dot: the interpreter's low-precision dot is not trustworthy.
# ---------------------------------------------------------------------------------------------------


def _forward_kernel(
    q_ptr, k_ptr, n_ptr, pos_ptr, excl_ptr, tau_ptr, max_ptr, sum_ptr, positive_ptr, M, K, Q, D, SPLIT_LEN,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_T: tl.constexpr,
    TAIL: tl.constexpr, BATCH_NEG: tl.constexpr, DOT_FP32: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)  # (BM,) queries i
    row_ok = rows < M
    dims = tl.arange(0, BLOCK_D)  # (BD,) the head chunk of D
    dim_ok = dims[None, :] < D
    q_i = tl.load(q_ptr + rows[:, None] * D + dims[None, :], mask=row_ok[:, None] & dim_ok, other=0.0)
    if DOT_FP32:
        q_i = q_i.to(tl.float32)
    if TAIL:
        tail = BLOCK_D + tl.arange(0, BLOCK_T)  # (BT,) the tail chunk of D
        tail_ok = tail[None, :] < D
        q_t = tl.load(q_ptr + rows[:, None] * D + tail[None, :], mask=row_ok[:, None] & tail_ok, other=0.0)
        if DOT_FP32:
            q_t = q_t.to(tl.float32)
    excl = tl.load(excl_ptr + rows, mask=row_ok, other=-1)  # (BM,)
    pos = tl.load(pos_ptr + rows, mask=row_ok, other=0)  # (BM,)
    scale = 1.4426950408889634 / tl.load(tau_ptr)  # log2(e) / t
    m_i = tl.full([BLOCK_M], -1.0e30, dtype=tl.float32)  # running max (log2 units)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)  # running sum of exp2(s - m_i)
    split = tl.program_id(1)
    end = tl.minimum((split + 1) * SPLIT_LEN, K + Q)  # this program's candidates: [split * SPLIT_LEN, end)
    for start in range(split * SPLIT_LEN, end, BLOCK_N):
        cols = start + tl.arange(0, BLOCK_N)  # (BN,) candidates c
        in_k, in_n = cols < tl.minimum(K, end), (cols >= K) & (cols < end)
        k_rows, n_rows = (cols * D)[:, None], ((cols - K) * D)[:, None]
        c_j = tl.load(k_ptr + k_rows + dims[None, :], mask=in_k[:, None] & dim_ok, other=0.0)
        c_j += tl.load(n_ptr + n_rows + dims[None, :], mask=in_n[:, None] & dim_ok, other=0.0)
        if DOT_FP32:
            c_j = c_j.to(tl.float32)
        s = tl.dot(q_i, tl.trans(c_j), input_precision=PRECISION)  # (BM, BN)
        if TAIL:
            c_t = tl.load(k_ptr + k_rows + tail[None, :], mask=in_k[:, None] & tail_ok, other=0.0)
            c_t += tl.load(n_ptr + n_rows + tail[None, :], mask=in_n[:, None] & tail_ok, other=0.0)
            if DOT_FP32:
                c_t = c_t.to(tl.float32)
            s = tl.dot(q_t, tl.trans(c_t), s, input_precision=PRECISION)
        s = s * scale
        key_kept = in_k[None, :] & (BATCH_NEG | (cols[None, :] == pos[:, None]))  # (BM, BN)
        kept = (key_kept | in_n[None, :]) & (cols[None, :] != excl[:, None])
        s = tl.where(kept, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        l_i = l_i * tl.exp2(m_i - m_new) + tl.sum(tl.exp2(s - m_new[:, None]), 1)
        m_i = m_new
    tl.store(max_ptr + split * M + rows, m_i, mask=row_ok)
    tl.store(sum_ptr + split * M + rows, l_i, mask=row_ok)
    k_p = tl.load(k_ptr + pos[:, None] * D + dims[None, :], mask=row_ok[:, None] & dim_ok, other=0.0)
    positive = tl.sum(q_i.to(tl.float32) * k_p.to(tl.float32), 1)  # (BM,)
    if TAIL:
        k_pt = tl.load(k_ptr + pos[:, None] * D + tail[None, :], mask=row_ok[:, None] & tail_ok, other=0.0)
        positive += tl.sum(q_t.to(tl.float32) * k_pt.to(tl.float32), 1)
    tl.store(positive_ptr + rows, positive * scale, mask=row_ok & (split == 0))


def _backward_queries_kernel(
    q_ptr, k_ptr, n_ptr, pos_ptr, excl_ptr, tau_ptr, lse_ptr, g_ptr, g_scale_ptr, partial_ptr,
    M, K, Q, D, SPLIT_LEN,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_T: tl.constexpr,
    TAIL: tl.constexpr, BATCH_NEG: tl.constexpr, DOT_FP32: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)  # (BM,) queries i
    row_ok = rows < M
    dims = tl.arange(0, BLOCK_D)  # (BD,) the head chunk of D
    dim_ok = dims[None, :] < D
    q_i = tl.load(q_ptr + rows[:, None] * D + dims[None, :], mask=row_ok[:, None] & dim_ok, other=0.0)
    if DOT_FP32:
        q_i = q_i.to(tl.float32)
    if TAIL:
        tail = BLOCK_D + tl.arange(0, BLOCK_T)  # (BT,) the tail chunk of D
        tail_ok = tail[None, :] < D
        q_t = tl.load(q_ptr + rows[:, None] * D + tail[None, :], mask=row_ok[:, None] & tail_ok, other=0.0)
        if DOT_FP32:
            q_t = q_t.to(tl.float32)
        acc_t = tl.zeros([BLOCK_M, BLOCK_T], dtype=tl.float32)  # the tail of sum_j W_ij c_j
    excl = tl.load(excl_ptr + rows, mask=row_ok, other=-1)  # (BM,)
    pos = tl.load(pos_ptr + rows, mask=row_ok, other=-1)  # (BM,)
    lse_i = tl.load(lse_ptr + rows, mask=row_ok, other=0.0)  # (BM,)
    g_i = tl.load(g_ptr + rows, mask=row_ok, other=0.0)  # (BM,) g / max |g|
    inv_tau = 1.0 / tl.load(tau_ptr)
    scale = 1.4426950408889634 * inv_tau
    acc = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)  # sum_j W_ij c_j over this split's candidates
    split = tl.program_id(1)
    end = tl.minimum((split + 1) * SPLIT_LEN, K + Q)
    for start in range(split * SPLIT_LEN, end, BLOCK_N):
        cols = start + tl.arange(0, BLOCK_N)  # (BN,) candidates
        in_k, in_n = cols < tl.minimum(K, end), (cols >= K) & (cols < end)
        k_rows, n_rows = (cols * D)[:, None], ((cols - K) * D)[:, None]
        c_j = tl.load(k_ptr + k_rows + dims[None, :], mask=in_k[:, None] & dim_ok, other=0.0)
        c_j += tl.load(n_ptr + n_rows + dims[None, :], mask=in_n[:, None] & dim_ok, other=0.0)
        if DOT_FP32:
            c_j = c_j.to(tl.float32)
        s = tl.dot(q_i, tl.trans(c_j), input_precision=PRECISION)  # (BM, BN)
        if TAIL:
            c_t = tl.load(k_ptr + k_rows + tail[None, :], mask=in_k[:, None] & tail_ok, other=0.0)
            c_t += tl.load(n_ptr + n_rows + tail[None, :], mask=in_n[:, None] & tail_ok, other=0.0)
            if DOT_FP32:
                c_t = c_t.to(tl.float32)
            s = tl.dot(q_t, tl.trans(c_t), s, input_precision=PRECISION)
        s = s * scale
        key_kept = in_k[None, :] & (BATCH_NEG | (cols[None, :] == pos[:, None]))  # (BM, BN)
        kept = (key_kept | in_n[None, :]) & (cols[None, :] != excl[:, None])
        p = tl.where(kept, tl.exp2(s - lse_i[:, None]), 0.0)  # (BM, BN) P_ij
        w = g_i[:, None] * (p - tl.where(cols[None, :] == pos[:, None], 1.0, 0.0))  # W_ij, fp32
        w = w.to(q_ptr.dtype.element_ty).to(c_j.dtype)  # rounded like the GPU's tensor-core operand
        acc = tl.dot(w, c_j, acc, input_precision=PRECISION)
        if TAIL:
            acc_t = tl.dot(w, c_t, acc_t, input_precision=PRECISION)
    g_scale = tl.load(g_scale_ptr) * inv_tau  # this split's part of dL/dq_i = acc * g_scale
    out = partial_ptr + (split * M + rows[:, None]) * D
    tl.store(out + dims[None, :], acc * g_scale, mask=row_ok[:, None] & dim_ok)
    if TAIL:
        tl.store(out + tail[None, :], acc_t * g_scale, mask=row_ok[:, None] & tail_ok)


def _backward_keys_kernel(
    q_ptr, k_ptr, pos_ptr, excl_ptr, tau_ptr, lse_ptr, g_ptr, g_scale_ptr, partial_ptr, M, K, D, SPLIT_LEN,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_T: tl.constexpr,
    TAIL: tl.constexpr, BATCH_NEG: tl.constexpr, DOT_FP32: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    keys = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)  # (BM,) keys j
    key_ok = keys < K
    dims = tl.arange(0, BLOCK_D)  # (BD,) the head chunk of D
    dim_ok = dims[None, :] < D
    k_j = tl.load(k_ptr + keys[:, None] * D + dims[None, :], mask=key_ok[:, None] & dim_ok, other=0.0)
    if DOT_FP32:
        k_j = k_j.to(tl.float32)
    if TAIL:
        tail = BLOCK_D + tl.arange(0, BLOCK_T)  # (BT,) the tail chunk of D
        tail_ok = tail[None, :] < D
        k_t = tl.load(k_ptr + keys[:, None] * D + tail[None, :], mask=key_ok[:, None] & tail_ok, other=0.0)
        if DOT_FP32:
            k_t = k_t.to(tl.float32)
        acc_t = tl.zeros([BLOCK_M, BLOCK_T], dtype=tl.float32)  # the tail of sum_i W_ij q_i
    inv_tau = 1.0 / tl.load(tau_ptr)
    scale = 1.4426950408889634 * inv_tau
    acc = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)  # sum_i W_ij q_i over this split's queries
    split = tl.program_id(1)
    end = tl.minimum((split + 1) * SPLIT_LEN, M)
    for start in range(split * SPLIT_LEN, end, BLOCK_N):
        rows = start + tl.arange(0, BLOCK_N)  # (BN,) queries i
        row_ok = rows < end
        q_i = tl.load(q_ptr + rows[:, None] * D + dims[None, :], mask=row_ok[:, None] & dim_ok, other=0.0)
        if DOT_FP32:
            q_i = q_i.to(tl.float32)
        s = tl.dot(k_j, tl.trans(q_i), input_precision=PRECISION)  # (BM, BN) s_ij transposed
        if TAIL:
            q_t = tl.load(
                q_ptr + rows[:, None] * D + tail[None, :], mask=row_ok[:, None] & tail_ok, other=0.0
            )
            if DOT_FP32:
                q_t = q_t.to(tl.float32)
            s = tl.dot(k_t, tl.trans(q_t), s, input_precision=PRECISION)
        s = s * scale
        lse_i = tl.load(lse_ptr + rows, mask=row_ok, other=0.0)  # (BN,)
        g_i = tl.load(g_ptr + rows, mask=row_ok, other=0.0)  # (BN,)
        pos = tl.load(pos_ptr + rows, mask=row_ok, other=-1)  # (BN,)
        excl = tl.load(excl_ptr + rows, mask=row_ok, other=-1)  # (BN,)
        kept = row_ok[None, :] & (keys[:, None] != excl[None, :])  # (BM, BN)
        kept = kept & (BATCH_NEG | (keys[:, None] == pos[None, :]))
        p = tl.where(kept, tl.exp2(s - lse_i[None, :]), 0.0)  # (BM, BN) P_ij for key j, query i
        w = g_i[None, :] * (p - tl.where(keys[:, None] == pos[None, :], 1.0, 0.0))  # W_ij transposed
        w = w.to(q_ptr.dtype.element_ty).to(q_i.dtype)
        acc = tl.dot(w, q_i, acc, input_precision=PRECISION)
        if TAIL:
            acc_t = tl.dot(w, q_t, acc_t, input_precision=PRECISION)
    g_scale = tl.load(g_scale_ptr) * inv_tau  # this split's part of dL/dk_j = acc * g_scale
    out = partial_ptr + (split * K + keys[:, None]) * D
    tl.store(out + dims[None, :], acc * g_scale, mask=key_ok[:, None] & dim_ok)
    if TAIL:
        tl.store(out + tail[None, :], acc_t * g_scale, mask=key_ok[:, None] & tail_ok)


def tile_configs(block_d: int, element_size: int) -> list:
    """CUDA autotune space (BLOCK_M, BLOCK_N, warps, stages) for the similarity tiles.

    fp32 tiles take twice the shared memory: they get two pipeline stages and smaller tiles, each of
    which fits an H100 SM (``tests/kernels/test_cuda_compile.py`` compiles every one for sm_90)."""
    if element_size >= 4:
        if block_d <= 128:
            shapes = [(64, 64, 4, 2), (64, 32, 4, 2), (32, 64, 4, 2), (128, 32, 8, 2)]
        else:
            shapes = [(32, 32, 4, 2), (64, 32, 4, 1)]
    elif block_d <= 128:
        shapes = [(128, 64, 4, 3), (128, 64, 8, 3), (64, 64, 4, 3), (64, 128, 4, 3), (128, 32, 4, 4)]
    elif block_d <= 256:
        shapes = [(64, 64, 4, 2), (64, 32, 4, 3), (128, 32, 8, 3)]
    else:
        shapes = [(32, 32, 4, 1), (64, 32, 8, 1)]
    return [config(w, s, BLOCK_M=bm, BLOCK_N=bn) for bm, bn, w, s in shapes]


TILES = {"BLOCK_M": 64, "BLOCK_N": 64}  # the interpreter: few, large programs run fastest
FORWARD = LazyKernel(_forward_kernel, TILES, tile_configs, key=["M", "K", "Q", "D", "SPLIT_LEN"])
BACKWARD_Q = LazyKernel(_backward_queries_kernel, TILES, tile_configs, key=["M", "K", "Q", "D", "SPLIT_LEN"])
BACKWARD_K = LazyKernel(_backward_keys_kernel, TILES, tile_configs, key=["M", "K", "D", "SPLIT_LEN"])
