"""The Triton kernels of ``sslcli.kernels.info_nce`` (see its docstring for the math): the forward's
online log-sum-exp over candidate tiles, the combination of its splits' statistics, and one
row-stationary backward pass that serves every gradient. ``info_nce_launch`` sizes and launches them.

The backward pass computes, for a block of rows x_r against column tiles y_c,

    dL/dx_r = (1/t) sum_c (W_rc + W'_cr) y_c

where W (DIRECT) weighs the rows as queries against the columns as keys, and W' (TRANSPOSED) the
columns as queries against the rows as keys. NT-Xent (x = y, W' = W) and the two directions of a
cross-modal loss get their whole gradient from it; a general InfoNCE runs it once for the queries
(DIRECT) and once with queries and keys swapped for the keys (TRANSPOSED).
"""

from __future__ import annotations

tl = None  # triton.language, bound by LazyKernel on the first launch (see _triton.py)


# ---------------------------------------------------------------------------------------------------
# Helpers, jitted with the kernels. Logits are in log2 units (s * log2(e)) so exponentials are exp2.
# Candidates are the K keys then the Q negatives: candidate c < K reads y, c >= K reads n. Indices are
# int32 (the launcher checks the bound). The tiles multiply the rows as stored; each row's inverse
# norm (computed once per call, ``info_nce_launch.Rows``) scales the logits and, in the backward, W.
# DOT_FP32 (the interpreter) upcasts the tensor-core operands before tl.dot.
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


def _inverse_norms(inverse_ptr, rows, ok, NORMALIZE: tl.constexpr):
    """(BR,) fp32 1 / max(|x_r|, 1e-12) of rows ``rows`` (ones without NORMALIZE), 0 where not ``ok``."""
    if NORMALIZE:
        return tl.load(inverse_ptr + rows, mask=ok, other=0.0)
    return tl.where(ok, 1.0, 0.0)


def _candidates(
    y_ptr, n_ptr, y_inverse_ptr, n_inverse_ptr, cols, K, end, D,
    BLOCK_D: tl.constexpr, BLOCK_T: tl.constexpr, TAIL: tl.constexpr, HAS_NEG: tl.constexpr,
    NORMALIZE: tl.constexpr,
):  # fmt: skip
    """Candidates ``cols`` below ``end`` (keys from y, then negatives from n with HAS_NEG): their
    head and tail chunks and inverse norms (BN,), zero past ``end``."""
    in_y = cols < tl.minimum(K, end)
    c_h, c_t = _load_rows(y_ptr, cols, in_y, D, BLOCK_D, BLOCK_T, TAIL)
    c_inverse = _inverse_norms(y_inverse_ptr, cols, in_y, NORMALIZE)
    if HAS_NEG:
        in_n = (cols >= K) & (cols < end)
        n_h, n_t = _load_rows(n_ptr, cols - K, in_n, D, BLOCK_D, BLOCK_T, TAIL)
        c_h += n_h
        c_t += n_t
        c_inverse += _inverse_norms(n_inverse_ptr, cols - K, in_n, NORMALIZE)
    return c_h, c_t, c_inverse


def _rounded(x, like_ptr, DOT_FP32: tl.constexpr):
    """fp32 ``x`` rounded to nearest (ties to even) in ``like_ptr``'s element type, as the GPU rounds.
    Triton 3.6's interpreter truncates fp32 -> bf16 (twice the error), so under DOT_FP32 bf16 is
    rounded on the bits first, after which the cast is exact."""
    if DOT_FP32 and like_ptr.dtype.element_ty == tl.bfloat16:
        bits = x.to(tl.float32).to(tl.uint32, bitcast=True)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
        x = bits.to(tl.float32, bitcast=True)
    return x.to(like_ptr.dtype.element_ty)


def _operand(x, like_ptr, DOT_FP32: tl.constexpr):
    """``x`` rounded to the inputs' type, the tensor cores' operand (fp32 again under DOT_FP32)."""
    x = _rounded(x, like_ptr, DOT_FP32)
    if DOT_FP32:
        x = x.to(tl.float32)
    return x


def _similarity(a_h, a_t, b_h, b_t, TAIL: tl.constexpr, PRECISION: tl.constexpr):
    """(BA, BB) dot products of the rows of a and b over both chunks of D."""
    s = tl.dot(a_h, tl.trans(b_h), input_precision=PRECISION)
    if TAIL:
        s = tl.dot(a_t, tl.trans(b_t), s, input_precision=PRECISION)
    return s


def _logits(
    a_h, a_t, row_scale, like_ptr, y_ptr, n_ptr, y_inverse_ptr, n_inverse_ptr, cols, K, end, D,
    BLOCK_D: tl.constexpr, BLOCK_T: tl.constexpr, TAIL: tl.constexpr, HAS_NEG: tl.constexpr,
    NORMALIZE: tl.constexpr, DOT_FP32: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    """The (BM, BN) log2 logits of rows a (operands, scaled by ``row_scale``: log2(e) / (t |a|))
    against candidates ``cols``, with the candidates' operands and inverse norms."""
    c_h, c_t, c_inverse = _candidates(
        y_ptr, n_ptr, y_inverse_ptr, n_inverse_ptr, cols, K, end, D,
        BLOCK_D, BLOCK_T, TAIL, HAS_NEG, NORMALIZE,
    )  # fmt: skip
    c_h, c_t = _operand(c_h, like_ptr, DOT_FP32), _operand(c_t, like_ptr, DOT_FP32)
    s = _similarity(a_h, a_t, c_h, c_t, TAIL, PRECISION) * row_scale[:, None] * c_inverse[None, :]
    return s, c_h, c_t, c_inverse


def _row_dots(a_h, a_t, b_h, b_t, TAIL: tl.constexpr):
    """(BR,) fp32 dot products of matching rows of a and b."""
    dots = tl.sum(a_h.to(tl.float32) * b_h.to(tl.float32), 1)
    if TAIL:
        dots += tl.sum(a_t.to(tl.float32) * b_t.to(tl.float32), 1)
    return dots


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


def forward_kernel(
    q_ptr, y_ptr, n_ptr, q_inverse_ptr, y_inverse_ptr, n_inverse_ptr, pos_ptr, excl_ptr, tau_ptr,
    max_ptr, sum_ptr, positive_ptr, M, K, Q, D, SPLIT_LEN, M_BUCKET, C_BUCKET,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_T: tl.constexpr,
    TAIL: tl.constexpr, HAS_NEG: tl.constexpr, BATCH_NEG: tl.constexpr, NORMALIZE: tl.constexpr,
    DOT_FP32: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    """Per query: the positive's logit p, and over this split's other candidates the running max
    (started at p) and sum of exp2(s - max). Anchoring on p keeps the loss exact as P_pos -> 1."""
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)  # (BM,) queries i
    row_ok = rows < M
    q_h, q_t = _load_rows(q_ptr, rows, row_ok, D, BLOCK_D, BLOCK_T, TAIL)  # (BM, BD), (BM, BT)
    pos = tl.load(pos_ptr + rows, mask=row_ok, other=0).to(tl.int32)  # (BM,)
    excl = tl.load(excl_ptr + rows, mask=row_ok, other=-1).to(tl.int32)  # (BM,)
    scale = 1.4426950408889634 / tl.load(tau_ptr)  # log2(e) / t
    row_scale = _inverse_norms(q_inverse_ptr, rows, row_ok, NORMALIZE) * scale  # (BM,)
    k_h, k_t = _load_rows(y_ptr, pos, row_ok, D, BLOCK_D, BLOCK_T, TAIL)  # each query's positive key
    k_inverse = _inverse_norms(y_inverse_ptr, pos, row_ok, NORMALIZE)
    positive = _row_dots(q_h, q_t, k_h, k_t, TAIL) * row_scale * k_inverse  # (BM,) log2 units
    q_h, q_t = _operand(q_h, q_ptr, DOT_FP32), _operand(q_t, q_ptr, DOT_FP32)
    low, high = _index_span(pos, excl, row_ok)
    m_i = positive  # running max (log2 units)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)  # running sum of exp2(s - m_i) over the others
    split = tl.program_id(1)
    end = tl.minimum((split + 1) * SPLIT_LEN, K + Q)  # this program's candidates: [split * SPLIT_LEN, end)
    for start in range(split * SPLIT_LEN, end, BLOCK_N):
        cols = start + tl.arange(0, BLOCK_N)  # (BN,) candidates c
        s, _, _, _ = _logits(
            q_h, q_t, row_scale, q_ptr, y_ptr, n_ptr, y_inverse_ptr, n_inverse_ptr, cols, K, end, D,
            BLOCK_D, BLOCK_T, TAIL, HAS_NEG, NORMALIZE, DOT_FP32, PRECISION,
        )  # fmt: skip
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


def combine_kernel(
    max_ptr, sum_ptr, positive_ptr, lse_ptr, onem_ptr, loss_ptr, M,
    PARTS: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    """Per query, from the PARTS splits' running max and sum: the log2-sum-exp, 1 - P_pos, and the
    loss ln(sum) - s_pos in natural log. Where no logit passes the positive's (max = p), the loss is
    log1p(rest), computed as log(u) rest / (u - 1) with u = 1 + rest (exact to an ulp: Goldberg 1991)."""
    rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)  # (B,) queries
    ok = rows < M
    positive = tl.load(positive_ptr + rows, mask=ok, other=0.0)
    top = positive
    for part in tl.static_range(PARTS):
        top = tl.maximum(top, tl.load(max_ptr + part * M + rows, mask=ok, other=0.0))
    rest = tl.zeros([BLOCK], dtype=tl.float32)  # sum over the other candidates of exp2(s - top)
    for part in tl.static_range(PARTS):
        part_max = tl.load(max_ptr + part * M + rows, mask=ok, other=0.0)
        rest += tl.load(sum_ptr + part * M + rows, mask=ok, other=0.0) * tl.exp2(part_max - top)
    total = tl.exp2(positive - top) + rest
    u = 1.0 + rest
    log1p_rest = tl.where(u == 1.0, rest, tl.log(u) * rest / tl.where(u == 1.0, 1.0, u - 1.0))
    loss = tl.where(top == positive, log1p_rest, tl.log(total) + 0.6931471805599453 * (top - positive))
    tl.store(lse_ptr + rows, top + tl.log2(total), mask=ok)
    tl.store(onem_ptr + rows, rest / total, mask=ok)
    tl.store(loss_ptr + rows, loss, mask=ok)


def backward_kernel(
    x_ptr, y_ptr, n_ptr, x_inverse_ptr, y_inverse_ptr, n_inverse_ptr, tau_ptr, w_scale_ptr,
    pos_ptr, excl_ptr, lse_ptr, onem_ptr, g_ptr,
    cpos_ptr, cexcl_ptr, clse_ptr, conem_ptr, cg_ptr,
    dx_ptr, radial_ptr, M, K, Q, D, SPLIT_LEN, M_BUCKET, C_BUCKET,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_T: tl.constexpr,
    TAIL: tl.constexpr, HAS_NEG: tl.constexpr, BATCH_NEG: tl.constexpr, DIRECT: tl.constexpr,
    TRANSPOSED: tl.constexpr, NORMALIZE: tl.constexpr, NEED_TAU: tl.constexpr,
    DOT_FP32: tl.constexpr, PRECISION: tl.constexpr,
):  # fmt: skip
    """This split's part of dL/dx for a block of rows, the normalisation's backward applied here (it is
    linear, so the splits' parts add up), stored in dx's type. ``pos/excl/lse/onem/g`` describe the
    rows as queries (DIRECT), ``cpos/...`` the columns as queries (TRANSPOSED). W times the columns'
    inverse norms is scaled by ``w_scale`` before rounding (fp16 would flush weights below 2^-24) and
    scaled back in fp32."""
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)  # (BM,) rows r
    row_ok = rows < M
    x_h, x_t = _load_rows(x_ptr, rows, row_ok, D, BLOCK_D, BLOCK_T, TAIL)  # (BM, BD), (BM, BT)
    x_inverse = _inverse_norms(x_inverse_ptr, rows, row_ok, NORMALIZE)  # (BM,)
    row_scale = x_inverse * (1.4426950408889634 / tl.load(tau_ptr))
    w_scale = tl.load(w_scale_ptr)
    if DIRECT:
        pos = tl.load(pos_ptr + rows, mask=row_ok, other=-1).to(tl.int32)  # (BM,)
        excl = tl.load(excl_ptr + rows, mask=row_ok, other=-1).to(tl.int32)
        lse = tl.load(lse_ptr + rows, mask=row_ok, other=float("inf"))  # (BM,) log2-sum-exp
        onem = tl.load(onem_ptr + rows, mask=row_ok, other=0.0)  # (BM,) 1 - P_pos
        g = tl.load(g_ptr + rows, mask=row_ok, other=0.0)  # (BM,) upstream weight of each loss
        low, high = _index_span(pos, excl, row_ok)
    acc_h = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)  # sum_c (W + W'^T)_rc y_c / |y_c|, head of D
    acc_t = tl.zeros([BLOCK_M, BLOCK_T], dtype=tl.float32)  # its tail
    a_h, a_t = _operand(x_h, x_ptr, DOT_FP32), _operand(x_t, x_ptr, DOT_FP32)
    split = tl.program_id(1)
    end = tl.minimum((split + 1) * SPLIT_LEN, K + Q)
    for start in range(split * SPLIT_LEN, end, BLOCK_N):
        cols = start + tl.arange(0, BLOCK_N)  # (BN,) columns c; past ``end`` they load as zero rows
        s, c_h, c_t, c_inverse = _logits(
            a_h, a_t, row_scale, x_ptr, y_ptr, n_ptr, y_inverse_ptr, n_inverse_ptr, cols, K, end, D,
            BLOCK_D, BLOCK_T, TAIL, HAS_NEG, NORMALIZE, DOT_FP32, PRECISION,
        )  # fmt: skip
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
        w = _operand(w * (c_inverse * w_scale)[None, :], x_ptr, DOT_FP32)
        acc_h = tl.dot(w, c_h, acc_h, input_precision=PRECISION)
        if TAIL:
            acc_t = tl.dot(w, c_t, acc_t, input_precision=PRECISION)
    factor = 1.0 / (tl.load(tau_ptr) * w_scale)
    u_h = x_h.to(tl.float32) * x_inverse[:, None]  # (BM, BD) the unit rows
    acc_h = acc_h * factor  # dL/du_r: the gradient at the unit rows
    radial = tl.sum(u_h * acc_h, 1)  # (BM,) u_r . dL/du_r
    if TAIL:
        u_t = x_t.to(tl.float32) * x_inverse[:, None]
        acc_t = acc_t * factor
        radial += tl.sum(u_t * acc_t, 1)
    if NEED_TAU:
        tl.store(radial_ptr + split * M + rows, radial, mask=row_ok)
    if NORMALIZE:  # dL/dx = (dL/du - u (u . dL/du)) / |x|
        acc_h = (acc_h - u_h * radial[:, None]) * x_inverse[:, None]
        if TAIL:
            acc_t = (acc_t - u_t * radial[:, None]) * x_inverse[:, None]
    out = dx_ptr + (split * M + rows[:, None]) * D  # (BM, 1)
    head = tl.arange(0, BLOCK_D)[None, :]
    tl.store(out + head, _rounded(acc_h, dx_ptr, DOT_FP32), mask=row_ok[:, None] & (head < D))
    if TAIL:
        tail = BLOCK_D + tl.arange(0, BLOCK_T)[None, :]
        tl.store(out + tail, _rounded(acc_t, dx_ptr, DOT_FP32), mask=row_ok[:, None] & (tail < D))


HELPERS = (
    _load_rows,
    _inverse_norms,
    _candidates,
    _rounded,
    _operand,
    _similarity,
    _logits,
    _row_dots,
    _index_span,
    _weights,
)
