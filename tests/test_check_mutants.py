"""Every check of Assignments 1 and 2 can see the mistakes it exists to catch, on every secret seed.

For each check, the realistic mistakes it grades are written as mutants of the instructor's solution (an edit of one
solution cell, as a student would make it). Each mutant must lose points in its check, with the message pointing at
the part it broke, on each of 30 seeds: a case generator that leaves a mistake invisible on some draws (all
variances large, every kernel square, every image size a multiple of 32 ...) fails here. The whole notebook is drawn
and judged as the grader does (tests/judge_harness.py); the mutant answers the cells its mistake reaches.

The mutants are written here, independently of the judges' own lists of mistakes they recognise
(course/judges/a2_batchnorm.py FORWARD_MISTAKES ...), which serve attribution, not detection.
"""

from __future__ import annotations

import functools

import pytest

pytest.importorskip("nbformat")

from judge_harness import Drawn, student  # noqa: E402

SEEDS = range(30)
A1, A2 = "a1_conv_arithmetic", "a2_batchnorm"

# cell -> the cells a mutant of it must also answer (their answers are the evidence its judge reads)
DEPENDS = {"a2-eval": ["a2-running-stats"], "a2-spatial-forward": ["a2-forward"],
           "a2-spatial-backward": ["a2-graph", "a2-closed"], "a2-experiment": ["a2-forward", "a2-closed"]}

CONV_SIZE = "return (n + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1"
POOL_SIZE = "return (n + 2 * padding - kernel_size) // stride + 1"
TRANSPOSE = "return (n - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1"
KERNEL_PAIR = "kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size"
NAIVE_PAD = ("f, _, kh, kw = w.shape\n    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))\n"
             "    oh = (h + 2 * padding - kh) // stride + 1")
NAIVE_SUM = "np.tensordot(field, w, axes=([1, 2, 3], [1, 2, 3])) + b"
IM2COL_PAD = "n, c, h, width = x.shape\n    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))"
IM2COL_SLICE = "xp[:, :, u: u + stride * oh: stride, v: v + stride * ow: stride]"
IM2COL_RETURN = "return cols.reshape(c * kh * kw, n * oh * ow)"
BN_RUNNING = ("running_mean *= 1 - momentum\n        running_mean += momentum * mu\n"
              "        running_var *= 1 - momentum\n        running_var += momentum * var * n / (n - 1)")
SPATIAL_IN = "rows = x.transpose(0, 2, 3, 1).reshape(-1, c)"
SPATIAL_OUT = "return out.reshape(n, h, w, c).transpose(0, 3, 1, 2), (cache, x.shape)"
SPATIAL_BACK_IN = "batchnorm_backward_closed(dout.transpose(0, 2, 3, 1).reshape(-1, c), inner)"
SPATIAL_BACK_OUT = "return dx.reshape(n, h, w, c).transpose(0, 3, 1, 2), dgamma, dbeta"
HIDDEN_WEIGHTS = "linear.weight.data = rng.normal(0, 1 / np.sqrt(width), (width, width))"

# (check, the part its message must point at, the mistake, edits of the solution: (cell, old, new), ...)
MUTANTS = [
    # ---------------------------------------------------------------------------------------- A1, Part 1
    ("a1-conv-size", "conv_output_size", "the formula without the -1",
     [("a1-sizes-solution", CONV_SIZE, "return (n + 2 * padding - dilation * (kernel_size - 1)) // stride + 1")]),
    ("a1-conv-size", "conv_output_size", "no +1 (positions counted from 0)",
     [("a1-sizes-solution", CONV_SIZE, "return (n + 2 * padding - dilation * (kernel_size - 1) - 1) // stride")]),
    ("a1-conv-size", "conv_output_size", "dilation ignored",
     [("a1-sizes-solution", CONV_SIZE, "return (n + 2 * padding - (kernel_size - 1) - 1) // stride + 1")]),
    ("a1-conv-size", "conv_output_size", "a dilated kernel spans d*k pixels, not d*(k-1)+1",
     [("a1-sizes-solution", CONV_SIZE, "return (n + 2 * padding - dilation * kernel_size) // stride + 1")]),
    ("a1-conv-size", "conv_output_size", "padding on one side only",
     [("a1-sizes-solution", CONV_SIZE, "return (n + padding - dilation * (kernel_size - 1) - 1) // stride + 1")]),
    ("a1-conv-size", "conv_output_size", "ceil instead of floor",
     [("a1-sizes-solution", CONV_SIZE,
       "return -(-(n + 2 * padding - dilation * (kernel_size - 1) - 1) // stride) + 1")]),
    ("a1-conv-size", "conv_output_size", "true division (a float size)",
     [("a1-sizes-solution", CONV_SIZE, "return (n + 2 * padding - dilation * (kernel_size - 1) - 1) / stride + 1")]),
    ("a1-conv-size", "conv_output_size", "stride ignored",
     [("a1-sizes-solution", CONV_SIZE, "return n + 2 * padding - dilation * (kernel_size - 1)")]),
    ("a1-pool-transpose-size", "pool_output_size", "stride 1 when stride is None",
     [("a1-sizes-solution", "stride = kernel_size if stride is None else stride", "stride = stride or 1")]),
    ("a1-pool-transpose-size", "pool_output_size", "padding ignored",
     [("a1-sizes-solution", POOL_SIZE, "return (n - kernel_size) // stride + 1")]),
    ("a1-pool-transpose-size", "pool_output_size", "ceil mode",
     [("a1-sizes-solution", POOL_SIZE, "return -(-(n + 2 * padding - kernel_size) // stride) + 1")]),
    ("a1-pool-transpose-size", "pool_output_size", "padding on one side only",
     [("a1-sizes-solution", POOL_SIZE, "return (n + padding - kernel_size) // stride + 1")]),
    ("a1-pool-transpose-size", "conv_transpose_output_size", "output_padding forgotten",
     [("a1-sizes-solution", TRANSPOSE, "return (n - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + 1")]),
    ("a1-pool-transpose-size", "conv_transpose_output_size", "dilation ignored",
     [("a1-sizes-solution", TRANSPOSE,
       "return (n - 1) * stride - 2 * padding + (kernel_size - 1) + output_padding + 1")]),
    ("a1-pool-transpose-size", "conv_transpose_output_size", "padding subtracted once",
     [("a1-sizes-solution", TRANSPOSE,
       "return (n - 1) * stride - padding + dilation * (kernel_size - 1) + output_padding + 1")]),
    ("a1-pool-transpose-size", "conv_transpose_output_size", "n * stride instead of (n - 1) * stride",
     [("a1-sizes-solution", TRANSPOSE,
       "return n * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1")]),
    ("a1-pool-transpose-size", "conv_transpose_output_size", "the convolution's formula",
     [("a1-sizes-solution", TRANSPOSE, "return conv_output_size(n, kernel_size, stride, padding, dilation)")]),
    ("a1-pool-transpose-size", "conv_transpose_output_size", "no +1",
     [("a1-sizes-solution", TRANSPOSE,
       "return (n - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding")]),
    # ---------------------------------------------------------------------------------------- A1, Part 2
    ("a1-conv-params", "conv_params", "forgot the bias", [("a1-params-solution", " + (c_out if bias else 0)", "")]),
    ("a1-conv-params", "conv_params", "one bias per input channel",
     [("a1-params-solution", "(c_out if bias else 0)", "(c_in if bias else 0)")]),
    ("a1-conv-params", "conv_params", "bias counted even with bias=False",
     [("a1-params-solution", "(c_out if bias else 0)", "c_out")]),
    ("a1-conv-params", "conv_params", "a square kernel assumed",
     [("a1-params-solution", KERNEL_PAIR,
       "kh = kw = kernel_size if isinstance(kernel_size, int) else kernel_size[0]")]),
    ("a1-conv-params", "conv_params", "input channels forgotten",
     [("a1-params-solution", "return c_out * c_in * kh * kw + (c_out if bias else 0)",
       "return c_out * kh * kw + (c_out if bias else 0)")]),
    ("a1-feature-map-bytes", "feature_map_bytes", "forgot the batch",
     [("a1-params-solution", "batch_size * sum(channels)", "sum(channels)")]),
    ("a1-feature-map-bytes", "feature_map_bytes", "values counted, not bytes",
     [("a1-params-solution", "height * width * bytes_per_value", "height * width")]),
    ("a1-feature-map-bytes", "feature_map_bytes", "the last map only",
     [("a1-params-solution", "batch_size * sum(channels)", "batch_size * channels[-1]")]),
    ("a1-feature-map-bytes", "feature_map_bytes", "the largest map only",
     [("a1-params-solution", "batch_size * sum(channels)", "batch_size * max(channels)")]),
    ("a1-feature-map-bytes", "feature_map_bytes", "4 bytes per value whatever bytes_per_value says",
     [("a1-params-solution", "height * width * bytes_per_value", "height * width * 4")]),
    ("a1-feature-map-bytes", "feature_map_bytes", "bits, not bytes",
     [("a1-params-solution", "height * width * bytes_per_value", "height * width * bytes_per_value * 8")]),
    ("a1-conv-macs", "conv_macs", "FLOPs counted (2 per MAC)",
     [("a1-params-solution", "return c_out * oh * ow * c_in * kh * kw",
       "return 2 * c_out * oh * ow * c_in * kh * kw")]),
    ("a1-conv-macs", "conv_macs", "input channels forgotten",
     [("a1-params-solution", "return c_out * oh * ow * c_in * kh * kw", "return c_out * oh * ow * kh * kw")]),
    ("a1-conv-macs", "conv_macs", "a square output assumed",
     [("a1-params-solution", "oh, ow = output_size", "oh = ow = output_size[0]")]),
    ("a1-conv-macs", "conv_macs", "a square kernel assumed",
     [("a1-params-solution", KERNEL_PAIR,
       "kh = kw = kernel_size if isinstance(kernel_size, int) else kernel_size[0]")]),
    ("a1-conv-macs", "conv_macs", "the bias additions counted as MACs",
     [("a1-params-solution", "return c_out * oh * ow * c_in * kh * kw",
       "return c_out * oh * ow * c_in * kh * kw + c_out * oh * ow")]),
    ("a1-slide-512", "weights_512", "biases counted",
     [("a1-params-solution", "conv_params(1, 64, 3, bias=False) + conv_params(64, 128, 3, bias=False)",
       "conv_params(1, 64, 3) + conv_params(64, 128, 3)")]),
    ("a1-slide-512", "weights_512", "the second layer only",
     [("a1-params-solution", "conv_params(1, 64, 3, bias=False) + conv_params(64, 128, 3, bias=False)",
       "conv_params(64, 128, 3, bias=False)")]),
    ("a1-slide-512", "memory_512_mib", "the outputs only", [("a1-params-solution", "[1, 64, 128]", "[64, 128]")]),
    ("a1-slide-512", "memory_512_mib", "one image, not four",
     [("a1-params-solution", "feature_map_bytes(4, ", "feature_map_bytes(1, ")]),
    ("a1-slide-512", "memory_512_mib", "MB (1e6 bytes), not MiB", [("a1-params-solution", "/ 2**20", "/ 1e6")]),
    ("a1-slide-512", "memory_512_mib", "float64",
     [("a1-params-solution", "512, 512) / 2**20", "512, 512, 8) / 2**20")]),
    # ---------------------------------------------------------------------------------------- A1, Part 3
    ("a1-vgg16", "vgg16_table", "the image size fixed at 224",
     [("a1-vgg-solution", "rows, c, size = [], 3, image_size", "rows, c, size = [], 3, 224")]),
    ("a1-vgg16", "vgg16_table", "pooling rounds up", [("a1-vgg-solution", "size //= 2", "size = (size + 1) // 2")]),
    ("a1-vgg16", "vgg16_table", "3x3 left out of the conv weights", [("a1-vgg-solution", "c * v * 9", "c * v")]),
    ("a1-vgg16", "vgg16_table", "biases in the table's weights", [("a1-vgg-solution", "c * v * 9", "c * v * 9 + v")]),
    ("a1-vgg16", "vgg16_table", "the FC input fixed at 512 x 7 x 7",
     [("a1-vgg-solution", "features = c * size * size", "features = c * 7 * 7")]),
    ("a1-vgg16", "vgg16_table", "a pool's shape before pooling",
     [("a1-vgg-solution", 'size //= 2\n            rows.append(("pool", (c, size, size), 0))',
       'rows.append(("pool", (c, size, size), 0))\n            size //= 2')]),
    ("a1-vgg16", "vgg16_table", "pools left out of the table",
     [("a1-vgg-solution", 'rows.append(("pool", (c, size, size), 0))', "pass")]),
    ("a1-vgg16", "vgg16_total", "total without biases",
     [("a1-vgg-solution", ' + sum(shape[0] for name, shape, _ in vgg16_table() if name != "pool")', "")]),
    ("a1-vgg16", "vgg16_total", "total without the FC biases",
     [("a1-vgg-solution", 'if name != "pool")', 'if name == "conv")')]),
    ("a1-vgg16", "vgg16_total", "pools counted as having biases",
     [("a1-vgg-solution", ' if name != "pool")', ")")]),
    # ---------------------------------------------------------------------------------------- A1, Part 4
    ("a1-receptive-field", "receptive_field", "strides ignored",
     [("a1-rf-solution", "        jump *= s\n", "")]),
    ("a1-receptive-field", "receptive_field", "a layer's own stride applied to its kernel",
     [("a1-rf-solution", "        field += d * (k - 1) * jump\n        jump *= s\n",
       "        jump *= s\n        field += d * (k - 1) * jump\n")]),
    ("a1-receptive-field", "receptive_field", "dilation ignored",
     [("a1-rf-solution", "field += d * (k - 1) * jump", "field += (k - 1) * jump")]),
    ("a1-receptive-field", "receptive_field", "the whole kernel size added",
     [("a1-rf-solution", "field += d * (k - 1) * jump", "field += d * k * jump")]),
    ("a1-receptive-field", "dilated_receptive_fields", "depths 0 to depth - 1",
     [("a1-rf-solution", "for n in range(1, depth + 1)", "for n in range(depth)")]),
    ("a1-receptive-field", "dilated_receptive_fields", "dilations 1, 2, 3, ... (linear)",
     [("a1-rf-solution", "(3, 1, 2 ** i)", "(3, 1, i + 1)")]),
    ("a1-receptive-field", "dilated_receptive_fields", "only the last field",
     [("a1-rf-solution", "return [receptive_field([(3, 1, 2 ** i) for i in range(n)]) for n in range(1, depth + 1)]",
       "return receptive_field([(3, 1, 2 ** i) for i in range(depth)])")]),
    # ---------------------------------------------------------------------------------------- A1, Part 5
    ("a1-conv-naive", "conv2d_naive", "forgot the bias",
     [("a1-conv-solution", NAIVE_SUM, "np.tensordot(field, w, axes=([1, 2, 3], [1, 2, 3]))")]),
    ("a1-conv-naive", "conv2d_naive", "padding on one side only",
     [("a1-conv-solution", NAIVE_PAD, NAIVE_PAD.replace("(padding, padding), (padding, padding)",
                                                      "(padding, 0), (padding, 0)").replace(
         "oh = (h + 2 * padding - kh)", "oh = (h + padding - kh)")
       + "\n    width -= padding")]),
    ("a1-conv-naive", "conv2d_naive", "stride ignored inside the loops",
     [("a1-conv-solution", "field = xp[:, :, i * stride: i * stride + kh, j * stride: j * stride + kw]",
       "field = xp[:, :, i: i + kh, j: j + kw]")]),
    ("a1-conv-naive", "conv2d_naive", "the kernel flipped (a true convolution)",
     [("a1-conv-solution", NAIVE_SUM, "np.tensordot(field, w[:, :, ::-1, ::-1], axes=([1, 2, 3], [1, 2, 3])) + b")]),
    ("a1-conv-naive", "conv2d_naive", "the kernel's axes transposed",
     [("a1-conv-solution", "f, _, kh, kw = w.shape\n    xp = np.pad",
       "w = w.transpose(0, 1, 3, 2)\n    f, _, kh, kw = w.shape\n    xp = np.pad")]),
    ("a1-conv-naive", "conv2d_naive", "the last output row and column dropped",
     [("a1-conv-solution", NAIVE_PAD, NAIVE_PAD.replace("// stride + 1", "// stride"))]),
    ("a1-conv-naive", "conv2d_naive", "only the first channel summed",
     [("a1-conv-solution", NAIVE_SUM, "np.tensordot(field[:, :1], w[:, :1], axes=([1, 2, 3], [1, 2, 3])) + b")]),
    ("a1-conv-naive", "conv2d_naive", "a square kernel assumed",
     [("a1-conv-solution", "n, c, h, width = x.shape\n    f, _, kh, kw = w.shape",
       "n, c, h, width = x.shape\n    f, _, kh, _ = w.shape\n    kw = kh")]),
    ("a1-conv-matmul", "im2col", "columns ordered (i, j, n)",
     [("a1-conv-solution", IM2COL_RETURN,
       "return cols.transpose(0, 1, 2, 4, 5, 3).reshape(c * kh * kw, n * oh * ow)")]),
    ("a1-conv-matmul", "im2col", "rows ordered (u, v, c)",
     [("a1-conv-solution", IM2COL_RETURN,
       "return cols.transpose(1, 2, 0, 3, 4, 5).reshape(c * kh * kw, n * oh * ow)")]),
    ("a1-conv-matmul", "im2col", "stride ignored",
     [("a1-conv-solution", IM2COL_SLICE, "xp[:, :, u: u + oh, v: v + ow]")]),
    ("a1-conv-matmul", "im2col", "padding on one side only",
     [("a1-conv-solution", IM2COL_PAD, IM2COL_PAD.replace("(padding, padding), (padding, padding)",
                                                         "(2 * padding, 0), (2 * padding, 0)"))]),
    ("a1-conv-matmul", "im2col", "the kernel's height used for its width",
     [("a1-conv-solution", "    for u in range(kh):\n        for v in range(kw):",
       "    kw = kh\n    cols = np.empty((c, kh, kw, n, oh, ow))\n"
       "    for u in range(kh):\n        for v in range(kw):")]),
    ("a1-conv-matmul", "conv2d_matmul", "the result reshaped without the transpose",
     [("a1-conv-solution", "return out.reshape(f, n, oh, ow).transpose(1, 0, 2, 3)",
       "return out.reshape(n, f, oh, ow)")]),
    ("a1-conv-matmul", "conv2d_matmul", "forgot the bias",
     [("a1-conv-solution", " + b[:, None]", "")]),
    ("a1-conv-matmul", "conv2d_matmul", "the filters' kernels transposed",
     [("a1-conv-solution", "w.reshape(f, -1) @ im2col", "w.transpose(0, 1, 3, 2).reshape(f, -1) @ im2col")]),
    # ---------------------------------------------------------------------------------------- A2, Part 1
    ("a2-forward", "training-mode output", "no eps",
     [("a2-forward-solution", "1.0 / np.sqrt(var + eps)", "1.0 / np.sqrt(var)")]),
    ("a2-forward", "training-mode output", "eps outside the square root",
     [("a2-forward-solution", "1.0 / np.sqrt(var + eps)", "1.0 / (np.sqrt(var) + eps)")]),
    ("a2-forward", "training-mode output", "the standard deviation in place of the variance",
     [("a2-forward-solution", "1.0 / np.sqrt(var + eps)", "1.0 / np.sqrt(np.sqrt(var) + eps)")]),
    ("a2-forward", "training-mode output", "the unbiased variance in the normalisation",
     [("a2-forward-solution", "var = x.var(axis=0)", "var = x.var(axis=0, ddof=1)")]),
    ("a2-forward", "training-mode output", "gamma left out",
     [("a2-forward-solution", "out = gamma * x_hat + beta", "out = x_hat + beta")]),
    ("a2-forward", "training-mode output", "beta left out",
     [("a2-forward-solution", "out = gamma * x_hat + beta", "out = gamma * x_hat")]),
    ("a2-forward", "training-mode output", "gamma and beta swapped",
     [("a2-forward-solution", "out = gamma * x_hat + beta", "out = beta * x_hat + gamma")]),
    ("a2-forward", "training-mode output", "statistics over the features (axis 1)",
     [("a2-forward-solution", "mu = x.mean(axis=0)\n        var = x.var(axis=0)",
       "mu = x.mean(axis=1, keepdims=True)\n        var = x.var(axis=1, keepdims=True)"),
      ("a2-forward-solution", BN_RUNNING, "pass")]),
    ("a2-forward", "training-mode output", "not centred",
     [("a2-forward-solution", "x_hat = (x - mu) * inv_std", "x_hat = x * inv_std")]),
    ("a2-forward", "training-mode output", "the running estimates used in training mode",
     [("a2-forward-solution", "    inv_std = 1.0 / np.sqrt(var + eps)",
       "    mu, var = running_mean, running_var\n    inv_std = 1.0 / np.sqrt(var + eps)")]),
    ("a2-running-stats", "running_var", "the biased variance in the running estimate",
     [("a2-forward-solution", "momentum * var * n / (n - 1)", "momentum * var")]),
    ("a2-running-stats", "running_mean", "momentum on the wrong side (Keras' convention)",
     [("a2-forward-solution", BN_RUNNING, BN_RUNNING.replace("*= 1 - momentum", "*= momentum").replace(
         "+= momentum *", "+= (1 - momentum) *"))]),
    ("a2-running-stats", "running_mean", "not updated in place (the names rebound)",
     [("a2-forward-solution", BN_RUNNING, "running_mean = (1 - momentum) * running_mean + momentum * mu\n"
       "        running_var = (1 - momentum) * running_var + momentum * var * n / (n - 1)")]),
    ("a2-running-stats", "running_var", "the standard deviation in the running variance",
     [("a2-forward-solution", "momentum * var * n / (n - 1)", "momentum * np.sqrt(var * n / (n - 1))")]),
    ("a2-running-stats", "running_var", "the running variance never updated",
     [("a2-forward-solution",
       "\n        running_var *= 1 - momentum\n        running_var += momentum * var * n / (n - 1)", "")]),
    ("a2-running-stats", "running_mean", "momentum applied twice to the mean",
     [("a2-forward-solution", "running_mean += momentum * mu", "running_mean += momentum * momentum * mu")]),
    ("a2-eval", "eval-mode output", "batch statistics in eval mode",
     [("a2-forward-solution", "        mu, var = running_mean, running_var",
       "        mu, var = x.mean(axis=0), (x.var(axis=0) if len(x) > 1 else np.ones(x.shape[1]))")]),
    ("a2-eval", "eval-mode output", "no eps",
     [("a2-forward-solution", "1.0 / np.sqrt(var + eps)", "1.0 / np.sqrt(var)")]),
    ("a2-eval", "eval-mode output", "eps outside the square root",
     [("a2-forward-solution", "1.0 / np.sqrt(var + eps)", "1.0 / (np.sqrt(var) + eps)")]),
    ("a2-eval", "eval-mode output", "the running variance taken for a standard deviation",
     [("a2-forward-solution", "        mu, var = running_mean, running_var",
       "        mu, var = running_mean, running_var ** 2")]),
    ("a2-eval", "eval-mode output", "gamma left out",
     [("a2-forward-solution", "out = gamma * x_hat + beta", "out = x_hat + beta")]),
    ("a2-eval", "running statistics left unchanged", "the running estimates updated in eval mode too",
     [("a2-forward-solution", "        mu, var = running_mean, running_var",
       "        running_mean *= 1 - momentum\n        running_mean += momentum * x.mean(axis=0)\n"
       "        mu, var = running_mean, running_var")]),
    # ---------------------------------------------------------------------------------------- A2, Parts 2-3
    ("a2-graph", "dx", "no mean term (dmu left out)",
     [("a2-graph-solution", "return dxc + dmu / n, dgamma, dbeta", "return dxc, dgamma, dbeta")]),
    ("a2-graph", "dx", "the variance's path left out",
     [("a2-graph-solution", "dxc = dx_hat * inv_std + dvar * 2 * xc / n", "dxc = dx_hat * inv_std")]),
    ("a2-graph", "dx", "d(inv_std)/d(var) with the wrong power",
     [("a2-graph-solution", "-0.5 * inv_std ** 3", "-0.5 * inv_std ** 2")]),
    ("a2-graph", "dx", "the training graph in eval mode",
     [("a2-graph-solution", '    if not cache["training"]:\n        return dx_hat * inv_std, dgamma, dbeta\n', "")]),
    ("a2-graph", "dx", "gamma left out of dx", [("a2-graph-solution", "dx_hat = dout * gamma", "dx_hat = dout")]),
    ("a2-graph", "dgamma", "dgamma from x instead of x_hat",
     [("a2-graph-solution", "dgamma = (dout * x_hat).sum(axis=0)", 'dgamma = (dout * cache["x"]).sum(axis=0)')]),
    ("a2-graph", "dbeta", "dbeta as a mean",
     [("a2-graph-solution", "dbeta = dout.sum(axis=0)", "dbeta = dout.mean(axis=0)")]),
    ("a2-graph", "dbeta", "dbeta summed over the features",
     [("a2-graph-solution", "dbeta = dout.sum(axis=0)", "dbeta = dout.sum(axis=1)")]),
    ("a2-closed", "dx", "no mean term",
     [("a2-closed-solution", "(n * dout - dbeta - x_hat * dgamma)", "(n * dout - x_hat * dgamma)")]),
    ("a2-closed", "dx", "no x_hat term",
     [("a2-closed-solution", "(n * dout - dbeta - x_hat * dgamma)", "(n * dout - dbeta)")]),
    ("a2-closed", "dx", "gamma left out of dx",
     [("a2-closed-solution", "dx = gamma * inv_std / n", "dx = inv_std / n")]),
    ("a2-closed", "dx", "N - 1 for N",
     [("a2-closed-solution", "dx = gamma * inv_std / n", "dx = gamma * inv_std / (n - 1)")]),
    ("a2-closed", "dx", "the statistics treated as constants in training mode",
     [("a2-closed-solution", 'if not cache["training"]:', "if True:")]),
    ("a2-closed", "dx", "the training formula in eval mode",
     [("a2-closed-solution",
       '    if not cache["training"]:\n        return dout * gamma * inv_std, dgamma, dbeta\n', "")]),
    ("a2-closed", "dgamma", "dgamma and dbeta swapped",
     [("a2-closed-solution", "    return dx, dgamma, dbeta\n", "    return dx, dbeta, dgamma\n")]),
    ("a2-closed", "dbeta", "dbeta as a mean",
     [("a2-closed-solution", "dbeta = dout.sum(axis=0)", "dbeta = dout.mean(axis=0)\n    total = dout.sum(axis=0)"),
      ("a2-closed-solution", "(n * dout - dbeta - x_hat * dgamma)", "(n * dout - total - x_hat * dgamma)")]),
    # ---------------------------------------------------------------------------------------- A2, Part 4
    ("a2-numgrad", "gradient", "a forward difference",
     [("a2-numgrad-solution", "x[idx] = old - h\n        minus = f(x)", "x[idx] = old\n        minus = f(x)"),
      ("a2-numgrad-solution", "/ (2 * h)", "/ h")]),
    ("a2-numgrad", "gradient", "divided by h, not 2h", [("a2-numgrad-solution", "/ (2 * h)", "/ h")]),
    ("a2-numgrad", "gradient", "each difference weighted by its own dout only",
     [("a2-numgrad-solution", "np.sum((plus - minus) * dout)", "(plus - minus)[idx] * dout[idx]")]),
    ("a2-numgrad", "gradient", "dout ignored",
     [("a2-numgrad-solution", "np.sum((plus - minus) * dout)", "np.sum(plus - minus)")]),
    ("a2-numgrad", "gradient", "sign flipped", [("a2-numgrad-solution", "(plus - minus)", "(minus - plus)")]),
    ("a2-numgrad", "x left unchanged", "x not restored",
     [("a2-numgrad-solution", "        minus = f(x)\n        x[idx] = old\n", "        minus = f(x)\n")]),
    # ---------------------------------------------------------------------------------------- A2, Part 5
    ("a2-spatial-forward", "batchnorm2d_forward", "reshaped without the transpose",
     [("a2-spatial-solution", SPATIAL_IN, "rows = x.reshape(-1, c)"),
      ("a2-spatial-solution", SPATIAL_OUT, "return out.reshape(n, c, h, w), (cache, x.shape)")]),
    ("a2-spatial-forward", "batchnorm2d_forward", "transposed back the wrong way",
     [("a2-spatial-solution", SPATIAL_OUT, "return out.reshape(n, w, h, c).transpose(0, 3, 2, 1), (cache, x.shape)")]),
    ("a2-spatial-forward", "batchnorm2d_forward", "statistics per pixel (over N only)",
     [("a2-spatial-solution", SPATIAL_IN + "\n    out, cache = batchnorm_forward(rows, gamma, beta, running_mean, "
       "running_var, training, momentum, eps)\n    " + SPATIAL_OUT,
       "flat = x.reshape(n, -1)\n    out, cache = batchnorm_forward(flat, np.repeat(gamma, h * w), np.repeat(beta, "
       "h * w), np.zeros(c * h * w), np.ones(c * h * w), training, momentum, eps)\n"
       "    return out.reshape(n, c, h, w), (cache, x.shape)")]),
    ("a2-spatial-forward", "batchnorm2d_forward", "statistics per sample (over H and W: instance norm)",
     [("a2-spatial-solution", SPATIAL_IN + "\n    out, cache = batchnorm_forward(rows, gamma, beta, running_mean, "
       "running_var, training, momentum, eps)\n    " + SPATIAL_OUT,
       "mu, var = x.mean(axis=(2, 3), keepdims=True), x.var(axis=(2, 3), keepdims=True)\n"
       "    out = gamma[:, None, None] * (x - mu) / np.sqrt(var + eps) + beta[:, None, None]\n"
       "    return out, (None, x.shape)")]),
    ("a2-spatial-backward", "dx", "reshaped without the transpose",
     [("a2-spatial-solution", SPATIAL_BACK_IN, "batchnorm_backward_closed(dout.reshape(-1, c), inner)"),
      ("a2-spatial-solution", SPATIAL_BACK_OUT, "return dx.reshape(n, c, h, w), dgamma, dbeta")]),
    ("a2-spatial-backward", "dx", "dx transposed back the wrong way",
     [("a2-spatial-solution", SPATIAL_BACK_OUT, "return dx.reshape(n, w, h, c).transpose(0, 3, 2, 1), dgamma, dbeta")]),
    ("a2-spatial-backward", "dx", "dout reshaped without the transpose (x's rows were transposed)",
     [("a2-spatial-solution", SPATIAL_BACK_IN, "batchnorm_backward_closed(dout.reshape(-1, c), inner)")]),
    ("a2-spatial-backward", "dgamma", "dgamma averaged over the pixels",
     [("a2-spatial-solution", SPATIAL_BACK_OUT,
       "return dx.reshape(n, h, w, c).transpose(0, 3, 1, 2), dgamma / (n * h * w), dbeta")]),
    # ---------------------------------------------------------------------------------------- A2, Part 6
    ("a2-experiment", "the recipe without batch norm", "the hidden weights drawn from N(0, 1)",
     [("a2-experiment-solution", HIDDEN_WEIGHTS, "linear.weight.data = rng.normal(0, 1, (width, width))")]),
    ("a2-experiment", "the recipe without batch norm", "the weights transposed",
     [("a2-experiment-solution", HIDDEN_WEIGHTS, HIDDEN_WEIGHTS + ".T")]),
    ("a2-experiment", "the recipe without batch norm", "the batch drawn before the weights",
     [("a2-experiment-solution", "    layers, hidden = [], []\n",
       "    layers, hidden = [], []\n    x, y = rng.standard_normal((128, width)), rng.integers(0, 10, 128)\n"),
      ("a2-experiment-solution",
        "    x, y = rng.standard_normal((128, width)), rng.integers(0, 10, 128)\n    _, dscores",
       "    _, dscores")]),
    ("a2-experiment", "the recipe without batch norm", "ReLU instead of sigmoid",
     [("a2-experiment-solution", "[nn.Sigmoid()]", "[nn.ReLU()]")]),
    ("a2-experiment", "the recipe without batch norm", "the last layer first",
     [("a2-experiment-solution", "for layer in hidden]", "for layer in reversed(hidden)]")]),
    ("a2-experiment", "the recipe without batch norm", "the biases' gradients",
     [("a2-experiment-solution", "layer.weight.grad", "layer.bias.grad")]),
    ("a2-experiment", "the recipe without batch norm", "the seed ignored",
     [("a2-experiment-solution", "rng = np.random.default_rng(seed)", "rng = np.random.default_rng(0)")]),
    ("a2-experiment", "with batch norm", "batch norm left out",
     [("a2-experiment-solution", "([BatchNorm1d(width)] if use_batchnorm else [])", "[]")]),
    ("a2-experiment", "with batch norm", "batch norm after the sigmoid",
     [("a2-experiment-solution", "[linear] + ([BatchNorm1d(width)] if use_batchnorm else []) + [nn.Sigmoid()]",
       "[linear, nn.Sigmoid()] + ([BatchNorm1d(width)] if use_batchnorm else [])")]),
]


@functools.cache
def _drawn(assignment: str, seed: int) -> Drawn:
    return Drawn(assignment, seed)


def _points_at(message: str, part: str) -> bool:
    """The message blames the part: its own line is not 'correct' (a check of several parts), or it names it."""
    lines = [line for line in message.splitlines() if line.startswith(part + ":")]
    if lines:
        return not any(line.endswith(": correct") for line in lines)
    return part in message


# a mutant's own arithmetic may divide by zero (statistics per pixel over N=1): its warning is the mistake at work
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:divide by zero encountered:RuntimeWarning")
@pytest.mark.parametrize("check,part,mistake,edits", MUTANTS, ids=[f"{m[0]}: {m[2]}" for m in MUTANTS])
def test_every_mutant_is_caught_on_every_seed(check, part, mistake, edits):
    assignment = A1 if check.startswith("a1") else A2
    answer = student(assignment, edits)
    missed = {}
    for seed in SEEDS:
        drawn = _drawn(assignment, seed)
        cells = drawn.answer(answer, [check] + DEPENDS.get(check, []))
        verdict = drawn.judge(cells, [check])[check]
        if verdict.score >= 1 or not _points_at(verdict.message, part):
            missed[seed] = verdict.message[:300]
    assert not missed, f"{check}: '{mistake}' slipped through on seeds {sorted(missed)}: {missed}"


def test_the_list_covers_every_check():
    from judge_harness import graded_cells

    covered = {m[0] for m in MUTANTS}
    assert covered == set(graded_cells(A1)) | set(graded_cells(A2))
