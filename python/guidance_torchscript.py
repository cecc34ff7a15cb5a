#!/usr/bin/python3
"""Export an unmodified PyTorch model as a TorchScript file for guidance's `torchscript`
architecture (docs/architectures.md, "torchscript"), tapping the modules you name.

The model needs no tap convention: a torchvision-style network of named submodules (nn.Sequential
`features`, `classifier`, ...) is traced with forward hooks on the modules named by their
`named_modules()` names, and the file written returns what the workbench expects,
`(logits, {tap: activation})`, with `guidance_taps` (and, for token models, `guidance_flat_taps`)
and `guidance_inputs` set. Parameters and buffers keep the model's own names
(`features.0.weight`), so `weights = "file"` uses the model's weights and a later
`torch.save(dict(model.state_dict()), ...)` loads through `[guide.init] plugin = "checkpoint"`.

    import guidance_torchscript
    taps = guidance_torchscript.export(model, torch.randn(2, 1, 28, 28), "model.pt",
                                       taps=["features.0", "features.4", "classifier.1"])

    python3 guidance_torchscript.py mynet.py:Net model.pt --input-shape 1,28,28 \\
        --taps features.0,features.4,classifier.1
    python3 guidance_torchscript.py torchvision.models:resnet18 --input-shape 3,32,32 --list

Taps:
  - named: `taps=["features.0", ...]`, module names as `model.named_modules()` gives them. An
    unknown name is an error naming the closest names; `list_modules()` (`--list`) shows every
    module with its type, how often it runs and its output's shape.
  - default (`taps=None`): every module of DEFAULT_TAP_TYPES (convolutions nn.Conv1d/2d/3d,
    nn.Linear, the recurrent nn.RNN/nn.LSTM/nn.GRU, nn.MultiheadAttention and
    nn.TransformerEncoderLayer) that runs exactly once in forward, except the one whose output is
    the logits themselves (the classifier's last layer). Modules that never run (the `out_proj`
    inside nn.MultiheadAttention) or run more than once are left out.
  - taps are written in the order their modules finish running in forward (network order; a
    container finishes after its children), whatever order they were named in.
  - a tap is the module's output: a tensor, or the first element of a tuple (the sequence output
    of nn.LSTM/nn.GRU/nn.RNN, the attention output of nn.MultiheadAttention), copied when the
    module returns, so that a later in-place operation (torchvision's ReLU(inplace=True)) does
    not change it. It must be batch first: [B, ...] for images; [B, L, D] (a sequence tap) or
    [B, D] (a flat tap, listed in guidance_flat_taps) for token models, so recurrent modules
    need batch_first=True.
  - a module that runs several times in one forward (a shared layer, torchvision's
    BasicBlock.relu, applied twice) is refused when named: its output is ambiguous; name the
    module after it, or its parent.

Limits (of tracing, `torch.jit.trace`, which is how hooks get into TorchScript):
  - the trace records the operations run on the example input: data-dependent control flow
    (an `if` on a tensor's values, a loop over a tensor's length) is frozen as it ran, and Python
    numbers computed from shapes may become constants. The file is checked against the model on
    a batch of another size, and refused if it differs; heed TracerWarnings.
  - the model is traced in eval mode: batch norm uses its running statistics and dropout is off
    in the file whatever mode the workbench sets. Fit for a guide (always frozen); as a
    `[target]`, only a model without batch norm or dropout trains as in PyTorch.
  - the model's forward takes one image tensor (or, for token models, `tokens`, and `mask` too
    with pass_mask=True) and returns the logits tensor: wrap other models in a small nn.Module.
Needs only torch; save with a PyTorch whose TorchScript format the workbench's LibTorch reads
(Debian's python3-torch matches it exactly).
"""
import argparse
import difflib
import importlib
import importlib.util
import json
import os
import sys
import types
import warnings
from typing import Dict, List, NamedTuple, Optional, Sequence

import torch
from torch import nn

DEFAULT_TAP_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.RNN, nn.LSTM, nn.GRU,
                     nn.MultiheadAttention, nn.TransformerEncoderLayer)

INPUTS = ("image", "tokens")


class TapError(ValueError):
    """A model, a tap name or an input the helper cannot export, with why."""


class ModuleRun(NamedTuple):
    """One module of a model as one forward on the example input runs it."""
    name: str            # its named_modules() name ("" for the model itself)
    type: str            # its class name
    calls: int           # how often it ran in one forward
    shape: Optional[List[int]]  # the shape of its (first) output tensor, None if it never ran
    order: int           # when it finished running (first call), -1 if it never ran


def _output_tensor(output):
    """@return the tensor a module's output taps: itself, or a tuple's first element; or None."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    return None


def _as_arguments(example_input):
    return tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)


def _run_with_hooks(model: nn.Module, arguments, modules: Dict[str, nn.Module], hook):
    handles = [module.register_forward_hook(
        lambda module, inputs, output, name=name: hook(name, output))
        for name, module in modules.items()]
    try:
        return model(*arguments)
    finally:
        for handle in handles:
            handle.remove()


def _survey(model: nn.Module, arguments):
    """Runs one forward (no gradients) with counting hooks on every module.
    @return ({name: ModuleRun}, logits, {name: True if its output is the logits tensor itself})"""
    modules = dict(model.named_modules())
    calls = {name: 0 for name in modules}
    shapes, orders, outputs = {}, {}, {}

    def hook(name, output):
        calls[name] += 1
        if calls[name] == 1:
            tensor = _output_tensor(output)
            shapes[name] = list(tensor.shape) if tensor is not None else None
            orders[name] = len(orders)
            outputs[name] = tensor

    # With gradients, as the trace runs: without, some modules take another path (PyTorch's
    # fast path of nn.TransformerEncoderLayer skips its submodules in eval mode under no_grad).
    with torch.enable_grad():
        logits = _run_with_hooks(model, arguments, modules, hook)
    runs = {name: ModuleRun(name, type(module).__name__, calls[name], shapes.get(name),
                            orders.get(name, -1)) for name, module in modules.items()}
    is_logits = {name: tensor is logits for name, tensor in outputs.items()}
    return runs, logits, is_logits


def list_modules(model: nn.Module, example_input) -> List[ModuleRun]:
    """@return every module of `model` (named_modules() order, the model itself first, as ""),
    with its type, how often one forward on `example_input` runs it and its output's shape."""
    was_training = model.training
    model.eval()
    try:
        runs, _, _ = _survey(model, _as_arguments(example_input))
    finally:
        model.train(was_training)
    return list(runs.values())


def _choose_taps(runs: Dict[str, ModuleRun], is_logits: Dict[str, bool], model: nn.Module,
                 taps: Optional[Sequence[str]]) -> List[str]:
    modules = dict(model.named_modules())
    if taps is None:
        chosen = [name for name, module in modules.items()
                  if name and isinstance(module, DEFAULT_TAP_TYPES) and runs[name].calls == 1
                  and runs[name].shape is not None and not is_logits.get(name, False)]
        if not chosen:
            raise TapError("none of the model's modules is of a default tap type ("
                           + ", ".join(t.__name__ for t in DEFAULT_TAP_TYPES) + ") running once "
                           "in forward: name the modules to tap (list_modules() or --list)")
    else:
        if isinstance(taps, str):
            raise TapError(f"taps must be a list of module names, not the string '{taps}'")
        chosen = list(taps)
        if not chosen:
            raise TapError("taps is empty: name at least one module, or give None for the "
                           "default taps")
        named = [name for name in modules if name]
        for name in chosen:
            if name not in modules or not name:
                close = difflib.get_close_matches(name, named, n=3, cutoff=0.5)
                hint = (" (did you mean " + ", ".join(f"'{c}'" for c in close) + "?)"
                        if close else "")
                raise TapError(f"the model has no module '{name}'{hint}; it has {len(named)} "
                               f"modules (named_modules(); list them with list_modules() or "
                               f"--list)")
            if chosen.count(name) > 1:
                raise TapError(f"module '{name}' is named twice in taps")
            run = runs[name]
            if run.calls == 0:
                raise TapError(f"module '{name}' ({run.type}) does not run in forward on the "
                               f"example input, so it has no output to tap")
            if run.calls > 1:
                raise TapError(f"module '{name}' ({run.type}) runs {run.calls} times in one "
                               f"forward, so its output is ambiguous: tap the module after it, "
                               f"or its parent")
            if run.shape is None:
                raise TapError(f"module '{name}' ({run.type}) returns neither a tensor nor a "
                               f"tuple starting with one: nothing to tap")
    return sorted(chosen, key=lambda name: runs[name].order)


def _check_shapes(runs: Dict[str, ModuleRun], chosen: List[str], arguments, logits,
                  inputs: str) -> List[str]:
    """@return the flat taps of a token model. @throws TapError for a tap not batch first."""
    batch = arguments[0].shape[0]
    if not isinstance(logits, torch.Tensor) or logits.dim() < 2 or logits.shape[0] != batch:
        got = (list(logits.shape) if isinstance(logits, torch.Tensor)
               else type(logits).__name__)
        raise TapError(f"the model's forward must return the logits, a tensor [batch = {batch}, "
                       f"...]; it returned {got} (wrap the model in an nn.Module that does)")
    flat = []
    for name in chosen:
        shape = runs[name].shape
        if len(shape) < 2 or shape[0] != batch:
            raise TapError(f"module '{name}' returns {shape}, not batch first [batch = {batch}, "
                           f"...] (a recurrent module needs batch_first=True)")
        if inputs == "tokens":
            length = arguments[0].shape[1]
            if len(shape) == 2:
                flat.append(name)
            elif len(shape) != 3 or shape[1] != length:
                raise TapError(f"module '{name}' of a token model returns {shape}: a tap must be "
                               f"[batch, length = {length}, features] or [batch, features]")
    return flat


def _one_more_row(arguments):
    """The example batch with its first example again: a batch of another size, like inputs."""
    return tuple(torch.cat([argument, argument[:1]]) for argument in arguments)


def _reference(model: nn.Module, arguments, chosen: List[str]):
    """@return (logits, {tap: output}) of the model itself, hooked, no gradients."""
    modules = dict(model.named_modules())
    captured = {}

    def hook(name, output):
        captured[name] = _output_tensor(output).detach().clone()

    with torch.enable_grad():  # the path the trace took (_survey)
        logits = _run_with_hooks(model, arguments, {name: modules[name] for name in chosen}, hook)
    return logits.detach(), captured


def _trace(model: nn.Module, arguments, chosen: List[str], inputs: str, pass_mask: bool):
    """Traces `model` with its forward replaced by one that also returns the hooked outputs:
    the traced module is the model's own (its parameter names unchanged)."""
    modules = dict(model.named_modules())
    captured: Dict[str, torch.Tensor] = {}

    def hook(name, output):
        captured[name] = _output_tensor(output).clone()

    original = model.forward
    had_own_forward = "forward" in model.__dict__

    def call(*model_arguments):
        captured.clear()
        logits = original(*model_arguments)
        return logits, {name: captured[name] for name in chosen}

    if inputs == "image":
        def tapped(self, x):
            return call(x)
    elif pass_mask:
        def tapped(self, tokens, mask):
            return call(tokens, mask)
    else:
        def tapped(self, tokens, mask):  # the workbench passes the mask; the model takes none
            return call(tokens)

    handles = [modules[name].register_forward_hook(
        lambda module, _, output, name=name: hook(name, output)) for name in chosen]
    model.forward = types.MethodType(tapped, model)
    try:
        with warnings.catch_warnings():
            # PyTorch's own modules' checks of their input sizes (nn.GRU's) hold for any batch.
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning,
                                    module=r"torch\.nn\.modules\.")
            return torch.jit.trace(model, arguments, strict=False, check_trace=False)
    finally:
        for handle in handles:
            handle.remove()
        if had_own_forward:
            model.forward = original
        else:
            del model.forward


def _compare(traced, model: nn.Module, arguments, chosen: List[str], call_arguments, why: str):
    try:
        expected_logits, expected = _reference(model, call_arguments, chosen)
    except RuntimeError as error:
        cause = str(error).strip().splitlines()[-1]
        raise TapError(f"the model itself fails on {why}, but the workbench feeds batches of "
                       f"any size: {cause}") from None
    try:
        with torch.no_grad():
            logits, taps = traced(*arguments)
    except RuntimeError as error:
        cause = str(error).strip().splitlines()[-1]
        raise TapError(f"the traced file fails on {why} (a size frozen as a constant by "
                       f"tracing, e.g. x.view(2, -1)? see the TracerWarnings): {cause}") from None
    pairs = [("the logits", logits, expected_logits)]
    pairs += [(f"tap '{name}'", taps[name], expected[name]) for name in chosen]
    for what, got, want in pairs:
        if got.shape != want.shape or not torch.allclose(got, want, rtol=1e-4, atol=1e-5):
            raise TapError(f"the traced file does not reproduce the model on {why}: "
                           f"mismatch in {what} (data-dependent control flow, or a size frozen "
                           f"as a constant by tracing; see the TracerWarnings)")


def export(model: nn.Module, example_input, path: str, taps: Optional[Sequence[str]] = None,
           inputs: str = "image", pass_mask: bool = False) -> List[str]:
    """Writes `model` to `path` as a TorchScript file in the workbench's convention, tapping the
    modules named in `taps` (named_modules() names) or, when None, the default taps (module
    docstring). The model is traced in eval mode and left in the mode it was in.

    @param example_input images [B, C, H, W] (inputs="image"), or for inputs="tokens" a tuple
        (tokens int64 [B, L], mask bool [B, L]) or tokens alone (an all-true mask is made);
        B ≥ 2 helps tell the batch dimension apart
    @param pass_mask token models only: whether the model's forward takes (tokens, mask) rather
        than tokens alone
    @return the tap names written, in network order (guidance_taps)
    @raises TapError for an unknown, ambiguous or unfit tap, or a trace that does not reproduce
        the model
    """
    if inputs not in INPUTS:
        raise TapError(f"inputs must be one of {', '.join(INPUTS)}, got '{inputs}'")
    if isinstance(model, torch.jit.ScriptModule):
        raise TapError("the model is already TorchScript: export the nn.Module it was made from")
    if not isinstance(model, nn.Module):
        raise TapError(f"the model must be an nn.Module, got {type(model).__name__}")
    arguments = _as_arguments(example_input)
    if inputs == "image":
        if len(arguments) != 1 or not isinstance(arguments[0], torch.Tensor):
            raise TapError("an image model's example_input is one tensor [B, C, H, W]")
    else:
        if len(arguments) == 1:
            arguments = (arguments[0], torch.ones_like(arguments[0], dtype=torch.bool))
        if (len(arguments) != 2 or arguments[0].dtype != torch.int64 or arguments[0].dim() != 2
                or arguments[1].dtype != torch.bool or arguments[1].shape != arguments[0].shape):
            raise TapError("a token model's example_input is (tokens int64 [B, L], mask bool "
                           "[B, L]) or tokens alone")
    # What the model's own forward takes: images, tokens, or tokens and mask.
    model_arguments = arguments if inputs == "tokens" and pass_mask else arguments[:1]

    was_training = model.training
    model.eval()
    try:
        runs, logits, is_logits = _survey(model, model_arguments)
        chosen = _choose_taps(runs, is_logits, model, taps)
        flat = _check_shapes(runs, chosen, arguments, logits, inputs)
        traced = _trace(model, arguments, chosen, inputs, pass_mask)
        _compare(traced, model, arguments, chosen, model_arguments, "the example input")
        other = _one_more_row(arguments)
        _compare(traced, model, other, chosen, other if pass_mask else other[:1],
                 f"a batch of {other[0].shape[0]} (the example had {arguments[0].shape[0]})")
    finally:
        model.train(was_training)

    strings = torch._C.ListType(torch._C.StringType.get())
    traced._c._register_attribute("guidance_taps", strings, chosen)
    if inputs == "tokens":
        traced._c._register_attribute("guidance_flat_taps", strings, flat)
    traced._c._register_attribute("guidance_inputs", torch._C.StringType.get(), inputs)
    traced.save(path)
    return chosen


# ---- command line ----

def _load_model(spec: str, keyword_arguments: str, weights: Optional[str]) -> nn.Module:
    """MODULE:CALLABLE or FILE.py:CALLABLE, called with the JSON keyword arguments."""
    where, colon, attribute = spec.rpartition(":")
    if not colon or not where or not attribute:
        raise TapError(f"MODEL must be MODULE:CALLABLE or FILE.py:CALLABLE, got '{spec}'")
    if where.endswith(".py"):
        if not os.path.isfile(where):
            raise TapError(f"no Python file '{where}'")
        loaded = importlib.util.spec_from_file_location(
            os.path.splitext(os.path.basename(where))[0], where)
        module = importlib.util.module_from_spec(loaded)
        sys.modules[loaded.name] = module
        loaded.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    factory = getattr(module, attribute, None)
    if factory is None:
        raise TapError(f"'{where}' has no '{attribute}'")
    try:
        kwargs = json.loads(keyword_arguments)
    except json.JSONDecodeError as error:
        raise TapError(f"--kwargs is not JSON: {error}") from None
    model = factory(**kwargs)
    if not isinstance(model, nn.Module):
        raise TapError(f"{spec}(...) returned {type(model).__name__}, not an nn.Module")
    if weights:
        state = torch.load(weights, map_location="cpu")
        model.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state)
    return model


def _sizes(text: str, option: str) -> List[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise TapError(f"{option} expects positive sizes separated by commas, got '{text}'")
    return sizes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="guidance_torchscript.py",
        description="Export an unmodified PyTorch model as a TorchScript file for guidance's "
                    "'torchscript' architecture, tapping modules by their named_modules() names.",
        epilog="examples:\n"
               "  %(prog)s mynet.py:Net model.pt --input-shape 1,28,28 "
               "--taps features.0,features.4,classifier.1\n"
               "  %(prog)s torchvision.models:resnet18 --kwargs '{\"num_classes\": 10}' "
               "--input-shape 3,32,32 --list\n"
               "default taps (no --taps): every " + ", ".join(
                   t.__name__ for t in DEFAULT_TAP_TYPES) + "\nrunning once, but the logits' own "
               "layer. Then: guidance plugins test '{ plugin = \"torchscript\", path = "
               "\"model.pt\" }' --input-shape 1,28,28",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", metavar="MODEL",
                        help="MODULE:CALLABLE or FILE.py:CALLABLE returning the nn.Module")
    parser.add_argument("output", metavar="OUTPUT", nargs="?",
                        help="the TorchScript file to write (not with --list)")
    parser.add_argument("--kwargs", default="{}", help="JSON keyword arguments for CALLABLE")
    parser.add_argument("--weights", help="a state_dict file (torch.save) to load first")
    parser.add_argument("--taps", help="module names, comma separated (default: the default taps)")
    parser.add_argument("--input-shape", metavar="C,H,W",
                        help="one image's shape, e.g. 1,28,28 (image models)")
    parser.add_argument("--tokens", metavar="LENGTH,VOCABULARY",
                        help="a token model: sequence length and vocabulary size")
    parser.add_argument("--pass-mask", action="store_true",
                        help="token models: forward takes (tokens, mask), not tokens alone")
    parser.add_argument("--batch", type=int, default=2, help="examples in the example input")
    parser.add_argument("--list", action="store_true",
                        help="list the model's modules (name, type, calls, output shape)")
    arguments = parser.parse_intermixed_args(argv)
    try:
        if (arguments.input_shape is None) == (arguments.tokens is None):
            raise TapError("give one of --input-shape (an image model) or --tokens (a token "
                           "model)")
        if arguments.batch < 1:
            raise TapError(f"--batch must be positive, got {arguments.batch}")
        torch.manual_seed(0)
        if arguments.input_shape is not None:
            inputs = "image"
            example = torch.randn(arguments.batch, *_sizes(arguments.input_shape, "--input-shape"))
        else:
            inputs = "tokens"
            sizes = _sizes(arguments.tokens, "--tokens")
            if len(sizes) != 2:
                raise TapError(f"--tokens expects LENGTH,VOCABULARY, got '{arguments.tokens}'")
            tokens = torch.randint(0, sizes[1], (arguments.batch, sizes[0]))
            example = (tokens, torch.ones_like(tokens, dtype=torch.bool))
        model = _load_model(arguments.model, arguments.kwargs, arguments.weights)
        if arguments.list:
            modules = list_modules(model, example if inputs == "image" or arguments.pass_mask
                                   else example[0])
            width = max(len(run.name) for run in modules) + 2
            type_width = max(len(run.type) for run in modules) + 2
            for run in modules:
                shape = "never runs" if run.calls == 0 else run.shape
                print(f"{run.name or '(model)':<{width}}{run.type:<{type_width}}"
                      f"{run.calls:>3}x  {shape}")
            return 0
        if not arguments.output:
            raise TapError("OUTPUT is missing (the file to write)")
        taps = [tap.strip() for tap in arguments.taps.split(",")] if arguments.taps else None
        written = export(model, example, arguments.output, taps, inputs, arguments.pass_mask)
        print(f"{arguments.output}: taps " + ", ".join(written))
        return 0
    except TapError as error:
        print(f"guidance_torchscript: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
