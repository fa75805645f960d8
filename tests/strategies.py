"""Hypothesis strategies shared by the tests: random layer settings that always make a valid layer."""

from __future__ import annotations

from hypothesis import assume
from hypothesis import strategies as st

small = st.integers(1, 3)


@st.composite
def conv_settings(draw, transposed=False):
    """Shapes and hyper-parameters for a conv (or transposed conv) whose kernel fits the padded input."""
    n, c, f = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    if transposed:
        h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
        oph = draw(st.integers(0, max(sh, dh) - 1))
        opw = draw(st.integers(0, max(sw, dw) - 1))
        # keep the output non-empty: padding at most what the full output can lose
        full_h = (h - 1) * sh + dh * (kh - 1) + oph + 1
        full_w = (w - 1) * sw + dw * (kw - 1) + opw + 1
        ph, pw = draw(st.integers(0, (full_h - 1) // 2)), draw(st.integers(0, (full_w - 1) // 2))
        return dict(n=n, c=c, f=f, h=h, w=w, kernel=(kh, kw), stride=(sh, sw), padding=(ph, pw),
                    output_padding=(oph, opw), dilation=(dh, dw), bias=draw(st.booleans()))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    h = draw(st.integers(max(1, span_h - 2 * ph), max(1, span_h - 2 * ph) + 8))
    w = draw(st.integers(max(1, span_w - 2 * pw), max(1, span_w - 2 * pw) + 8))
    return dict(n=n, c=c, f=f, h=h, w=w, kernel=(kh, kw), stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw),
                bias=draw(st.booleans()))


@st.composite
def pool_settings(draw, with_dilation=True):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    dh, dw = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if with_dilation else (1, 1)
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    h = draw(st.integers(max(1, span_h - 2 * ph), max(1, span_h - 2 * ph) + 7))
    w = draw(st.integers(max(1, span_w - 2 * pw), max(1, span_w - 2 * pw) + 7))
    settings = dict(n=draw(st.integers(1, 3)), c=draw(st.integers(1, 3)), h=h, w=w, kernel=(kh, kw),
                    stride=stride, padding=(ph, pw), dilation=(dh, dw), ceil_mode=draw(st.booleans()))
    # a window made only of padding is refused by coursekit and crashes torch's backward: not a valid case
    assume(not _has_empty_window(settings))
    return settings


def _has_empty_window(s):
    from coursekit.arithmetic import pool_output_size

    for i, n in enumerate((s["h"], s["w"])):
        k, p, d = s["kernel"][i], s["padding"][i], s["dilation"][i]
        stride = k if s["stride"] is None else s["stride"][i]
        out = pool_output_size(n, k, stride, p, d, s["ceil_mode"])
        for o in range(out):
            if not any(0 <= o * stride - p + d * u < n for u in range(k)):
                return True
    return False
