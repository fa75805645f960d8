"""`coursekit similarity`: a planted pair of near-copies (renamed, reformatted, independent lines reordered) is
found; independent honest solutions of the same exercise are not flagged; the release's starter code counts for
nothing."""

from __future__ import annotations

from coursekit.course.similarity import Answer, compare, tokens, winnow

STARTER = {"naive": "def conv2d_naive(x, w, b, stride=1, padding=0):\n    # YOUR CODE HERE\n"
                    "    raise NotImplementedError()\n"}

ORIGINAL = '''def conv2d_naive(x, w, b, stride=1, padding=0):
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    H_out = (H + 2 * padding - KH) // stride + 1
    W_out = (W + 2 * padding - KW) // stride + 1
    out = np.zeros((N, F, H_out, W_out))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    patch = xp[n, :, i * stride:i * stride + KH, j * stride:j * stride + KW]
                    out[n, f, i, j] = np.sum(patch * w[f]) + b[f]
    return out
'''

# the same code: every name changed, comments added, lines re-wrapped, the two size lines swapped
DISGUISED = '''def conv2d_naive(x, w, b, stride=1, padding=0):
    # my own implementation
    batch, chans, height, width = x.shape
    nf, _, kh, kw = w.shape
    padded = np.pad(x, ((0, 0), (0, 0),
                        (padding, padding), (padding, padding)))
    out_w = (width + 2*padding - kw)//stride + 1    # width first
    out_h = (height + 2*padding - kh)//stride + 1
    result = np.zeros((batch, nf, out_h, out_w))
    for s in range(batch):
        for k in range(nf):
            for r in range(out_h):
                for c in range(out_w):
                    window = padded[s, :, r*stride:r*stride + kh,
                                    c*stride:c*stride + kw]
                    result[s, k, r, c] = np.sum(window * w[k]) + b[k]
    return result
'''

HONEST = [
    '''def conv2d_naive(x, w, b, stride=1, padding=0):
    x = np.pad(x, [(0, 0), (0, 0), (padding, padding), (padding, padding)], mode="constant")
    n_filters, _, fh, fw = w.shape
    oh = 1 + (x.shape[2] - fh) // stride
    ow = 1 + (x.shape[3] - fw) // stride
    y = np.empty((x.shape[0], n_filters, oh, ow))
    for r in range(oh):
        for c in range(ow):
            region = x[:, :, r * stride:r * stride + fh, c * stride:c * stride + fw]
            y[:, :, r, c] = np.tensordot(region, w, axes=([1, 2, 3], [1, 2, 3]))
    return y + b.reshape(1, -1, 1, 1)
''',
    '''def conv2d_naive(x, w, b, stride=1, padding=0):
    """Loops over every output pixel."""
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2))
    out_rows = (x.shape[-2] - w.shape[-2]) // stride + 1
    out_cols = (x.shape[-1] - w.shape[-1]) // stride + 1
    cols = []
    for r in range(out_rows):
        for c in range(out_cols):
            piece = x[..., r * stride:r * stride + w.shape[-2], c * stride:c * stride + w.shape[-1]]
            cols.append(piece.reshape(x.shape[0], -1))
    X = np.stack(cols, axis=-1)
    Y = np.einsum("fk,nkp->nfp", w.reshape(w.shape[0], -1), X) + b[None, :, None]
    return Y.reshape(x.shape[0], w.shape[0], out_rows, out_cols)
''',
    '''def conv2d_naive(x, w, b, stride=1, padding=0):
    batch = x.shape[0]
    filters = w.shape[0]
    k = w.shape[2]
    padded = np.zeros((batch, x.shape[1], x.shape[2] + 2 * padding, x.shape[3] + 2 * padding))
    padded[:, :, padding:padding + x.shape[2], padding:padding + x.shape[3]] = x
    size = (padded.shape[2] - k) // stride + 1
    answer = np.zeros((batch, filters, size, size))
    for image in range(batch):
        for filt in range(filters):
            for row in range(size):
                for col in range(size):
                    top, left = row * stride, col * stride
                    answer[image, filt, row, col] = (padded[image, :, top:top + k, left:left + k] * w[filt]).sum()
            answer[image, filt] += b[filt]
    return answer
''',
]


def answers():
    students = {"copier": DISGUISED, "original": ORIGINAL, **{f"honest{k}": s for k, s in enumerate(HONEST)},
                "blank": STARTER["naive"]}
    return [Answer(name, {"naive": source}) for name, source in students.items()]


def test_normalisation_ignores_names_comments_and_layout():
    one = [t for t, _ in tokens("total = a+b  # sum\n")]
    two = [t for t, _ in tokens("result = (first +\n          second)\n")]
    assert one == ["V", "=", "V", "+", "V", ";"]
    assert two == ["V", "=", "(", "V", "+", "V", ")", ";"]
    assert [t for t, _ in tokens("np.zeros(n, dtype='f')\n")] == ["V", ".", "zeros", "(", "V", ",", "V", "=", "S",
                                                                   ")", ";"]
    assert tokens("%timeit f()\n") == [] and tokens("def broken(:\n") != ()


def test_winnowing_keeps_a_fingerprint_of_every_long_common_run():
    stream = tokens(ORIGINAL)
    prints = winnow(stream)
    assert 0 < len(prints) < len(stream)                    # a sample, not every k-gram
    # the guarantee: a shared run of window + k - 1 tokens shares at least one fingerprint
    run = stream[40:55]
    assert set(winnow(run)) & set(prints)


def test_the_planted_pair_is_found_and_honest_solutions_are_not():
    pairs = compare(answers(), STARTER)
    assert [(p.a, p.b) for p in pairs] == [("copier", "original")]
    assert pairs[0].score >= 0.8
    lines_copier, lines_original = pairs[0].matches["naive"]
    assert 15 in lines_copier and 13 in lines_original      # the loop bodies are shown matched, side by side
    # without removing what most answers share, the copy still stands out: 1.0 against at most 0.3
    scores = {(p.a, p.b): p.score for p in compare(answers(), STARTER, threshold=0.0, common=2)}
    assert scores.pop(("copier", "original")) == 1.0 and max(scores.values()) < 0.35


def test_the_starter_code_is_nobodys(tmp_path):
    blank = [Answer(f"s{k}", {"naive": STARTER["naive"]}) for k in range(5)]
    assert compare(blank, STARTER, threshold=0.0) == []      # identical, but nothing of their own


def test_the_command_reads_the_course_and_finds_the_planted_copy(tmp_path, capsys):
    """`coursekit similarity ASSIGNMENT` on a course directory: the submitted notebooks' answer cells against the
    release's starter code; the disguised copy (carol ~ the student with the hostile id) is the one pair flagged,
    honest answers of one line are too short to judge; a threshold outside [0, 1] is refused with exit status 1."""
    import hand_gradebook as hand
    import tiny_course as tiny

    from coursekit.cli import main as cli

    course = hand.report_course(tmp_path / "course")
    assert cli(["similarity", tiny.ASSIGNMENT, "--root", str(course.root)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"similarity of {tiny.ASSIGNMENT}: 5 submission(s), 1 pair(s) at or above 50%"
    assert len(out) == 2 and "100%  carol ~ javascript:alert(1)" in out[1] and "cells double" in out[1]
    assert cli(["similarity", tiny.ASSIGNMENT, "--root", str(course.root), "--threshold", "1.5"]) == 1
    assert "--threshold 1.5" in capsys.readouterr().err
