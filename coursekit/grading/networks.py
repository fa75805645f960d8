"""Networks graded by what they compute: the student's model run with the grader's weights, inside the kernel.

The grader cannot look inside a student's network, so it sends weights for every layer of the specified network;
``run_with_weights`` loads them into the student's layers (matched in the order the forward pass calls them) and
returns, as plain data, what each layer received and produced. The grader recomputes every step with its own
network (``course/judges/a3_unet.py``); nothing here decides anything.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LAYER_TENSORS", "layers_in_call_order", "load_layers", "run_with_weights"]

# the tensors of each layer kind the grader sends, in this order
LAYER_TENSORS = {"Conv2d": ("weight", "bias"), "ConvTranspose2d": ("weight", "bias"),
                 "BatchNorm2d": ("weight", "bias", "running_mean", "running_var")}


def _has_own_parameters(module) -> bool:
    return next(module.parameters(recurse=False), None) is not None


def layers_in_call_order(model, x) -> list:
    """The modules holding parameters, in the order model(x) first calls them."""
    import torch

    order, handles = [], []

    def first_call(module, args):
        if not any(module is seen for seen in order):
            order.append(module)

    for module in model.modules():
        if _has_own_parameters(module):
            handles.append(module.register_forward_pre_hook(first_call))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return order


def _mismatch(modules, layers) -> str | None:
    """Why these modules cannot take the grader's layers, one for one, or None."""
    import torch

    if len(modules) != len(layers):
        return f"{len(modules)} layers with parameters, expected {len(layers)}"
    for k, (module, layer) in enumerate(zip(modules, layers)):
        kind = getattr(torch.nn, layer["type"])
        if not isinstance(module, kind):
            return f"layer {k} is a {type(module).__name__}, expected a {layer['type']}"
        for name in LAYER_TENSORS[layer["type"]]:
            tensor, want = getattr(module, name, None), layer.get(name)
            if want is None:
                continue  # a bias the specification does not have is set to zero below
            if tensor is None or tuple(tensor.shape) != tuple(np.shape(want)):
                got = None if tensor is None else tuple(tensor.shape)
                return f"layer {k} ({layer['type']}) has {name} of shape {got}, expected {tuple(np.shape(want))}"
        own = {name for name, _ in module.named_parameters(recurse=False)}
        extra = own - set(LAYER_TENSORS[layer["type"]])
        if extra:
            return f"layer {k} ({layer['type']}) has parameters the layer does not have: {sorted(extra)}"
    return None


def _never_called(model, called) -> list[str]:
    """The names of the model's layers with parameters that its forward pass never called."""
    return [name or type(module).__name__ for name, module in model.named_modules()
            if _has_own_parameters(module) and not any(module is seen for seen in called)]


def load_layers(modules, layers) -> None:
    """Copy the grader's layers into modules that fit them (see _mismatch); a tensor the layer does not have (a
    bias the specification lacks) becomes zero."""
    import torch

    with torch.no_grad():
        for module, layer in zip(modules, layers):
            for name in LAYER_TENSORS[layer["type"]]:
                tensor, want = getattr(module, name, None), layer.get(name)
                if tensor is not None:
                    tensor.copy_(torch.zeros_like(tensor) if want is None else torch.as_tensor(want))


def run_with_weights(model, x, layers: list, train: bool = False, grad_output=None) -> dict:
    """Run model on x with the grader's weights and return what each layer received and gave, as plain data.

    The grader cannot look inside the student's network, so it sends the weights of every layer with parameters
    (``layers``: dicts with "type" (Conv2d, ConvTranspose2d, BatchNorm2d) and that layer's tensors, see
    LAYER_TENSORS) in the order the specified network uses them. They are matched with the model's layers in the
    order its forward pass first calls them (or, failing that, the order they were created), whatever the
    attributes are called, and the model runs in float64. A bias the specification does not have is set to zero.

    Returns {"problem": why the layers do not match} or {"parameters": the model's parameter count, "inputs" and
    "outputs": each layer's input and output, "out": the model's output}, plus with ``grad_output`` (an array
    shaped like the output) "grad_x" and "grads" (per layer, the gradient of each tensor sent, None where it got
    none) of sum(out * grad_output). The grader recomputes every one of these with its own network.
    """
    import torch

    model = model.double()
    x = torch.as_tensor(np.asarray(x, dtype=np.float64))
    parameters = int(sum(p.numel() for p in model.parameters()))
    candidates = [layers_in_call_order(model.eval(), x),
                  [m for m in model.modules() if _has_own_parameters(m)]]
    problems = [_mismatch(modules, layers) for modules in candidates]
    if problems[0] and problems[1]:
        problem = f"in the order your forward pass calls them: {problems[0]}"
        never = _never_called(model, candidates[0])
        if never:
            problem += (f"; never called as a layer: {', '.join(never[:3])}{' ...' if len(never) > 3 else ''} "
                        "(a layer whose weights are used in a functional call, e.g. F.conv2d(x, layer.weight), is "
                        "not seen: call the layer itself)")
        return {"problem": problem, "parameters": parameters}
    modules = candidates[0] if problems[0] is None else candidates[1]
    load_layers(modules, layers)
    seen = {id(m): k for k, m in enumerate(modules)}
    inputs, outputs = [None] * len(modules), [None] * len(modules)

    def keep(module, args, output):  # clones: an in-place ReLU later would change what was recorded
        k = seen[id(module)]
        if inputs[k] is None and args and isinstance(args[0], torch.Tensor) and isinstance(output, torch.Tensor):
            inputs[k], outputs[k] = args[0].detach().clone(), output.detach().clone()

    handles = [m.register_forward_hook(keep) for m in modules]
    try:
        model.train(train)
        x.requires_grad_(grad_output is not None)
        out = model(x)
    finally:
        for handle in handles:
            handle.remove()
    result = {"parameters": parameters, "inputs": inputs, "outputs": outputs, "out": out.detach()}
    if grad_output is not None:
        grad_output = torch.as_tensor(np.asarray(grad_output, dtype=np.float64))
        if tuple(out.shape) != tuple(grad_output.shape):
            raise ValueError(f"the output has shape {tuple(out.shape)}, expected {tuple(grad_output.shape)}")
        (out * grad_output).sum().backward()
        result["grad_x"] = x.grad
        result["grads"] = [[None if getattr(m, name, None) is None or getattr(m, name).grad is None
                            else getattr(m, name).grad for name in ("weight", "bias") if layer.get(name) is not None]
                           for m, layer in zip(modules, layers)]
    return result

