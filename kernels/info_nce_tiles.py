"""The Triton kernels of ``sslcli.kernels.info_nce`` (see its docstring for the math) and the tile shapes
autotune may pick on CUDA: the forward's online log-sum-exp over candidate tiles, and one
row-stationary backward pass that serves every gradient.

The backward pass computes, for a block of rows x_r against column tiles y_c,

    dL/dx_r = (1/t) sum_c (W_rc + W'_cr) y_c

where W (DIRECT) weighs the rows as queries against the columns as keys, and W' (TRANSPOSED) the
columns as queries against the rows as keys. NT-Xent (x = y, W' = W) and the two directions of a
cross-modal loss get their whole gradient from it; a general InfoNCE runs it once for the queries
(DIRECT) and once with queries and keys swapped for the keys (TRANSPOSED).
"""

from __future__ import annotations

from sslcli.kernels._triton import LazyKernel, config

tl = None  # triton.language, bound by LazyKernel on the first launch (see _triton.py)


# ---------------------------------------------------------------------------------------------------
# Helpers, jitted with the kernels. Logits are in log2 units (s * log2(e)) so exponentials are exp2.
# Candidates are the K keys then the Q negatives: candidate c < K reads y, c >= K reads n. Indices are
# int32 (the launcher checks the bound). Rows are normalised in fp32 inside, then rounded to the
# inputs' type for the tensor cores; DOT_FP32 (the interpreter) upcasts them again before tl.dot.
# ---------------------------------------------------------------------------------------------------


def _load_rows(ptr, rows, ok, D, BLOCK_D: tl.constexpr, BLOCK_T: tl.constexpr, TAIL: tl.constexpr):
    """Rows ``rows`` of a (R, D) matrix as a head (BR, BLOCK_D) and a tail (BR, BLOCK_T) chunk of
    columns, zero where ``ok`` is False or past D. Without TAIL the tail is the head again."""
    starts = ptr + rows[:, None] * D  # (BR, 1)
    head = tl.arange(0, BLOCK_D)[None, :]
    x_h = tl.load(starts + head, mask=ok[:, None] & (head < D), other=0.0)
    x_t = x_h
    if TAIL:
        tail = BLOCK_D + tl.arange(0, BLOCK_T)[None, :]
        x_t = tl.load(starts + tail, mask=ok[:, None] & (tail < D), other=0.0)
    return x_h, x_t


def _candidate_rows(
    y_ptr, n_ptr, cols, K, end, D,
    BLOCK_D: tl.constexpr, BLOCK_T: tl.constexpr, TAIL: tl.constexpr, HAS_NEG: tl.constexpr,
):  # fmt: skip
    """Candidates ``cols`` below ``end``: keys from y, then negatives from n (only with HAS_NEG)."""
    c_h, c_t = _load_rows(y_ptr, cols, cols < tl.minimum(K, end), D, BLOCK_D, BLOCK_T, TAIL)
    if HAS_NEG:
        n_h, n_t = _load_rows(n_ptr, cols - K, (cols >= K) & (cols < end), D, BLOCK_D, BLOCK_T, TAIL)
        c_h += n_h
        c_t += n_t
    return c_h, c_t


def _inverse_norms(x_h, x_t, TAIL: tl.constexpr, NORMALIZE: tl.constexpr):
    """(BR,) fp32 1 / max(|x|, 1e-12), F.normalize's scale, when NORMALIZE; else ones."""
    x_h = x_h.to(tl.float32)
    squares = tl.sum(x_h * x_h, 1)
    if TAIL:
        x_t = x_t.to(tl.float32)
        squares += tl.sum(x_t * x_t, 1)
    inverse = squares * 0.0 + 1.0
    if NORMALIZE:
        inverse = 1.0 / tl.maximum(tl.sqrt(squares), 1e-12)
    return inverse


def _unit_rows(x_h, x_t, TAIL: tl.constexpr, NORMALIZE: tl.constexpr):
    """The rows in fp32, divided by their norm when NORMALIZE."""
    inverse = _inverse_norms(x_h, x_t, TAIL, NORMALIZE)[:, None]
    return x_h.to(tl.float32) * inverse, x_t.to(tl.float32) * inverse


def _operand(x, like_ptr, DOT_FP32: tl.constexpr):
    """``x`` rounded to the inputs' type, the tensor cores' operand (fp32 again under DOT_FP32)."""
    x = x.to(like_ptr.dtype.element_ty)
    if DOT_FP32:
        x = x.to(tl.float32)
    return x


def _similarity(a_h, a_t, b_h, b_t, TAIL: tl.constexpr, PRECISION: tl.constexpr):
    """(BA, BB) dot products of the rows of a and b over both chunks of D."""
    s = tl.dot(a_h, tl.trans(b_h), input_precision=PRECISION)
    if TAIL:
        s = tl.dot(a_t, tl.trans(b_t), s, input_precision=PRECISION)
    return s


def _index_span(pos, excl, ok):
    """Smallest and largest column a block of queries marks (positives and exclusions): tiles outside
    [low, high] need no masking."""
    low = tl.minimum(
        tl.min(tl.where(ok, pos, 2147483647), 0), tl.min(tl.where(ok & (excl >= 0), excl, 2147483647), 0)
    )
    high = tl.maximum(tl.max(tl.where(ok, pos, -1), 0), tl.max(tl.where(ok, excl, -1), 0))
    return low, high


def _weights(s, key, pos, excl, lse, g, onem, K, special, BATCH_NEG: tl.constexpr):
    """W = g (P - [key = pos]) on a tile of log2 logits s, every argument broadcast to s's shape
    (queries along one axis, keys along the other). The positive's entry is -g (1 - P_pos) from the
    forward's statistics, exact as P_pos -> 1. Masks only where ``special``."""
    w = g * tl.exp2(s - lse)
    if special:
        kept = (key != excl) & (BATCH_NEG | (key == pos) | (key >= K))
        w = tl.where(key == pos, -g * onem, tl.where(kept, w, 0.0))
    return w


# ---------------------------------------------------------------------------------------------------
# Kernels
# ---------------------------------------------------------------------------------------------------


def _forward_kernel(
    q_ptr, y_ptr, n_ptr, pos_ptr, excl_ptr, tau_ptr, max_ptr, sum_ptr, positive_ptr,
    M, K, Q, D, SPLIT_LEN, M_BUCKET, C_BUCKET,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_T: tl.constexpr,
    TAIL: tl.constexpr, HAS_NEG: tl.constexpr, BATCH_NEG: tl.constexpr, NORMALIZE: tl.constexpr,
    DOT_FP32: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    """Per query: the positive's logit p, and over this split's other candidates the running max
    (started at p) and sum of exp2(s - max). Anchoring on p keeps the loss exact as P_pos -> 1."""
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)  # (BM,) queries i
    row_ok = rows < M
    q_h, q_t = _load_rows(q_ptr, rows, row_ok, D, BLOCK_D, BLOCK_T, TAIL)
    q_h, q_t = _unit_rows(q_h, q_t, TAIL, NORMALIZE)  # (BM, BD), (BM, BT) fp32
    pos = tl.load(pos_ptr + rows, mask=row_ok, other=0).to(tl.int32)  # (BM,)
    excl = tl.load(excl_ptr + rows, mask=row_ok, other=-1).to(tl.int32)  # (BM,)
    scale = 1.4426950408889634 / tl.load(tau_ptr)  # log2(e) / t
    k_h, k_t = _load_rows(y_ptr, pos, row_ok, D, BLOCK_D, BLOCK_T, TAIL)
    k_h, k_t = _unit_rows(k_h, k_t, TAIL, NORMALIZE)
    positive = tl.sum(q_h * k_h, 1)  # (BM,) in fp32 from the fp32 unit rows
    if TAIL:
        positive += tl.sum(q_t * k_t, 1)
    positive = positive * scale
    q_h, q_t = _operand(q_h, q_ptr, DOT_FP32), _operand(q_t, q_ptr, DOT_FP32)
    low, high = _index_span(pos, excl, row_ok)
    m_i = positive  # running max (log2 units)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)  # running sum of exp2(s - m_i) over the others
    split = tl.program_id(1)
    end = tl.minimum((split + 1) * SPLIT_LEN, K + Q)  # this program's candidates: [split * SPLIT_LEN, end)
    for start in range(split * SPLIT_LEN, end, BLOCK_N):
        cols = start + tl.arange(0, BLOCK_N)  # (BN,) candidates c
        c_h, c_t = _candidate_rows(y_ptr, n_ptr, cols, K, end, D, BLOCK_D, BLOCK_T, TAIL, HAS_NEG)
        c_h, c_t = _unit_rows(c_h, c_t, TAIL, NORMALIZE)
        c_h, c_t = _operand(c_h, q_ptr, DOT_FP32), _operand(c_t, q_ptr, DOT_FP32)
        s = _similarity(q_h, q_t, c_h, c_t, TAIL, PRECISION) * scale  # (BM, BN)
        special = ((start <= high) & (start + BLOCK_N > low)) | (start + BLOCK_N > end)
        if not BATCH_NEG:
            special = special | (start < K)
        if special:
            key, p_c, x_c = cols[None, :], pos[:, None], excl[:, None]
            kept = (key != x_c) & (key != p_c) & (key < end) & (BATCH_NEG | (key >= K))
            s = tl.where(kept, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        l_i = l_i * tl.exp2(m_i - m_new) + tl.sum(tl.exp2(s - m_new[:, None]), 1)
        m_i = m_new
    tl.store(max_ptr + split * M + rows, m_i, mask=row_ok)
    tl.store(sum_ptr + split * M + rows, l_i, mask=row_ok)
    tl.store(positive_ptr + rows, positive, mask=row_ok & (split == 0))


def _backward_kernel(
    x_ptr, y_ptr, n_ptr, tau_ptr, g_scale_ptr,
    pos_ptr, excl_ptr, lse_ptr, onem_ptr, g_ptr,
    cpos_ptr, cexcl_ptr, clse_ptr, conem_ptr, cg_ptr,
    dx_ptr, radial_ptr, M, K, Q, D, SPLIT_LEN, M_BUCKET, C_BUCKET,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_T: tl.constexpr,
    TAIL: tl.constexpr, HAS_NEG: tl.constexpr, BATCH_NEG: tl.constexpr, DIRECT: tl.constexpr,
    TRANSPOSED: tl.constexpr, NORMALIZE: tl.constexpr, NEED_TAU: tl.constexpr, W_SCALE: tl.constexpr,
    DOT_FP32: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    """This split's part of dL/dx for a block of rows (before the normalisation, its backward is
    applied here; it is linear, so the splits' parts add up). ``pos/excl/lse/onem/g`` describe the rows
    as queries (DIRECT), ``cpos/...`` the columns as queries (TRANSPOSED). W is scaled by W_SCALE
    before rounding (fp16 would flush weights below 2^-24) and the sum is scaled back in fp32."""
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)  # (BM,) rows r
    row_ok = rows < M
    x_h, x_t = _load_rows(x_ptr, rows, row_ok, D, BLOCK_D, BLOCK_T, TAIL)
    inverse = _inverse_norms(x_h, x_t, TAIL, NORMALIZE)  # (BM,) 1 / |x|
    u_h, u_t = _unit_rows(x_h, x_t, TAIL, NORMALIZE)  # (BM, BD), (BM, BT) fp32 unit rows
    x_h, x_t = _operand(u_h, x_ptr, DOT_FP32), _operand(u_t, x_ptr, DOT_FP32)
    scale = 1.4426950408889634 / tl.load(tau_ptr)
    if DIRECT:
        pos = tl.load(pos_ptr + rows, mask=row_ok, other=-1).to(tl.int32)  # (BM,)
        excl = tl.load(excl_ptr + rows, mask=row_ok, other=-1).to(tl.int32)
        lse = tl.load(lse_ptr + rows, mask=row_ok, other=float("inf"))  # (BM,) log2-sum-exp
        onem = tl.load(onem_ptr + rows, mask=row_ok, other=0.0)  # (BM,) 1 - P_pos
        g = tl.load(g_ptr + rows, mask=row_ok, other=0.0)  # (BM,) upstream weight / its max
        low, high = _index_span(pos, excl, row_ok)
    acc_h = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)  # sum_c (W + W'^T)_rc y_c, head of D
    acc_t = tl.zeros([BLOCK_M, BLOCK_T], dtype=tl.float32)  # its tail
    split = tl.program_id(1)
    end = tl.minimum((split + 1) * SPLIT_LEN, K + Q)
    for start in range(split * SPLIT_LEN, end, BLOCK_N):
        cols = start + tl.arange(0, BLOCK_N)  # (BN,) columns c; past ``end`` they load as zero rows
        c_h, c_t = _candidate_rows(y_ptr, n_ptr, cols, K, end, D, BLOCK_D, BLOCK_T, TAIL, HAS_NEG)
        c_h, c_t = _unit_rows(c_h, c_t, TAIL, NORMALIZE)
        c_h, c_t = _operand(c_h, x_ptr, DOT_FP32), _operand(c_t, x_ptr, DOT_FP32)
        s = _similarity(x_h, x_t, c_h, c_t, TAIL, PRECISION) * scale  # (BM, BN)
        w = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
        if DIRECT:
            special = (start <= high) & (start + BLOCK_N > low)
            if not BATCH_NEG:
                special = special | (start < K)
            w += _weights(
                s, cols[None, :], pos[:, None], excl[:, None], lse[:, None], g[:, None], onem[:, None],
                K, special, BATCH_NEG,
            )  # fmt: skip
        if TRANSPOSED:
            col_ok = cols < end
            c_pos = tl.load(cpos_ptr + cols, mask=col_ok, other=-1).to(tl.int32)  # (BN,)
            c_excl = tl.load(cexcl_ptr + cols, mask=col_ok, other=-1).to(tl.int32)
            c_lse = tl.load(clse_ptr + cols, mask=col_ok, other=float("inf"))
            c_onem = tl.load(conem_ptr + cols, mask=col_ok, other=0.0)
            c_g = tl.load(cg_ptr + cols, mask=col_ok, other=0.0)
            first = tl.program_id(0) * BLOCK_M
            in_block = (c_pos >= first) & (c_pos < first + BLOCK_M)  # (BN,) marks one of these rows
            in_block = in_block | ((c_excl >= first) & (c_excl < first + BLOCK_M))
            special_t = tl.max(in_block.to(tl.int32), 0) > 0
            if not BATCH_NEG:
                special_t = special_t | (start >= 0)
            w += _weights(
                s, rows[:, None], c_pos[None, :], c_excl[None, :], c_lse[None, :], c_g[None, :],
                c_onem[None, :], M, special_t, BATCH_NEG,
            )  # fmt: skip
        w = _operand(w * W_SCALE, x_ptr, DOT_FP32)
        acc_h = tl.dot(w, c_h, acc_h, input_precision=PRECISION)
        if TAIL:
            acc_t = tl.dot(w, c_t, acc_t, input_precision=PRECISION)
    factor = tl.load(g_scale_ptr) / (tl.load(tau_ptr) * W_SCALE)
    acc_h = acc_h * factor  # dL/du_r: the gradient at the unit rows
    radial = tl.sum(u_h * acc_h, 1)  # (BM,) u_r . dL/du_r
    if TAIL:
        acc_t = acc_t * factor
        radial += tl.sum(u_t * acc_t, 1)
    if NEED_TAU:
        tl.store(radial_ptr + split * M + rows, radial, mask=row_ok)
    if NORMALIZE:  # dL/dx = (dL/du - u (u . dL/du)) / |x|
        acc_h = (acc_h - u_h * radial[:, None]) * inverse[:, None]
        if TAIL:
            acc_t = (acc_t - u_t * radial[:, None]) * inverse[:, None]
    dims = tl.arange(0, BLOCK_D)
    out = dx_ptr + (split * M + rows[:, None]) * D
    tl.store(out + dims[None, :], acc_h, mask=row_ok[:, None] & (dims[None, :] < D))
    if TAIL:
        tail = BLOCK_D + tl.arange(0, BLOCK_T)
        tl.store(out + tail[None, :], acc_t, mask=row_ok[:, None] & (tail[None, :] < D))


WIDEST = 1024  # widest padded D with a tile that fits; wider runs the reference


def tile_shapes(width: int, element_size: int) -> list[tuple[int, int, int, int]]:
    """CUDA autotune space (BLOCK_M, BLOCK_N, warps, stages) for similarity tiles ``width`` columns wide
    (D's head plus tail chunk) of ``element_size``-byte inputs. A tile stages about (BLOCK_M + BLOCK_N)
    x width elements per pipeline stage in shared memory, twice that for fp32's tf32x3 dots; every
    shape offered fits an H100 SM's 227 KiB (``tests/kernels/test_cuda_compile.py`` compiles each one
    for sm_90 at D = 128, 256, 512, 768, 1024). Empty past WIDEST: nothing fits there."""
    if width > WIDEST:
        return []
    if element_size >= 4:  # at 1024 the dots run in IEEE fp32 (``fp32_precision``): half the staging
        if width <= 128:
            return [(64, 64, 4, 2), (64, 32, 4, 2), (32, 64, 4, 2), (128, 32, 8, 2)]
        if width <= 256:
            return [(32, 32, 4, 2), (64, 32, 4, 1)]
        if width <= 512:
            return [(16, 32, 4, 1), (32, 16, 4, 1)]
        return [(16, 16, 4, 1), (16, 16, 2, 1)] if width <= 768 else [(16, 16, 4, 1)]
    if width <= 128:
        return [(128, 64, 4, 3), (128, 64, 8, 3), (64, 64, 4, 3), (64, 128, 4, 3), (128, 32, 4, 4)]
    if width <= 256:
        return [(64, 64, 4, 2), (64, 32, 4, 3), (128, 32, 8, 3)]
    return [(32, 32, 4, 1), (64, 32, 8, 1)] if width <= 768 else [(32, 32, 4, 1), (16, 32, 4, 1)]


def fp32_precision(precision: str, width: int) -> str:
    """fp32 tiles' ``tl.dot`` precision: tf32x3 stages twice the shared memory of IEEE fp32, so the
    widest tiles (past 768 columns) take IEEE, as exact and on the CUDA cores."""
    return "ieee" if precision == "tf32x3" and width > 768 else precision


def tile_configs(width: int, element_size: int) -> list:
    """``tile_shapes`` as Triton configs."""
    return [config(w, s, BLOCK_M=bm, BLOCK_N=bn) for bm, bn, w, s in tile_shapes(width, element_size)]


HELPERS = (
    _load_rows,
    _candidate_rows,
    _inverse_norms,
    _unit_rows,
    _operand,
    _similarity,
    _index_span,
    _weights,
)
TILES = {"BLOCK_M": 64, "BLOCK_N": 64}  # the interpreter: few, large programs run fastest
KEY = ["M_BUCKET", "C_BUCKET", "D"]  # sizes bucketed by powers of two: a new batch size reuses the tuning
FORWARD = LazyKernel(_forward_kernel, TILES, tile_configs, key=KEY, helpers=HELPERS)
BACKWARD = LazyKernel(_backward_kernel, TILES, tile_configs, key=KEY, helpers=HELPERS)
