"""An ONNX graph computed in float16 with float32 inputs and outputs (TensorRT 11's fp16 plans).

TensorRT 11 builds strongly typed networks only: each tensor is computed in the type the ONNX
graph gives it (``BuilderFlag.FP16``, which let TensorRT 10 pick float16 kernels in a float32
graph, is gone). ``to_float16`` rewrites a float32 graph of ``dprobe.export.graphs`` into one
whose weights, constants and float computations are float16: every float32 initializer and
``Constant`` becomes float16, except the inputs ONNX requires in float32 (``FLOAT32_INPUTS``:
Resize's scales); ``Cast`` and ``ConstantOfShape`` that make float32 make float16; each float32
graph input is cast to float16 where it enters and each float32 output cast back to float32 where
it leaves, so callers still pass and receive float32. Values outside float16's range are refused
(``DprobeError``) rather than turned into infinities.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from dprobe.errors import DprobeError

__all__ = ["FLOAT32_INPUTS", "to_float16"]

#: (op type, input index) of the inputs that ONNX types as float32 whatever the graph computes in
FLOAT32_INPUTS = {("Resize", 2)}  # scales
FP16_SUFFIX = ".fp16"


def _half(tensor: TensorProto) -> TensorProto:
    values = numpy_helper.to_array(tensor)
    with np.errstate(over="ignore"):  # refused below, by name
        half = values.astype(np.float16)
    if not np.isfinite(half[np.isfinite(values)]).all():
        raise DprobeError(f"{tensor.name or 'a constant'} holds values beyond float16's range "
                          f"(largest {np.abs(values).max():.3g}); it cannot be built in fp16")
    return numpy_helper.from_array(half, tensor.name)


def _float32_names(graph: onnx.GraphProto) -> set[str]:
    return {node.input[i] for node in graph.node for op, i in FLOAT32_INPUTS
            if node.op_type == op and len(node.input) > i and node.input[i]}


def to_float16(model: onnx.ModelProto) -> onnx.ModelProto:
    """A float16 copy of ``model`` with its float32 inputs and outputs kept (module doc);
    checked by ``onnx.checker`` and strict shape inference (a type clash raises there)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    keep = _float32_names(graph)
    for tensor in graph.initializer:
        if tensor.data_type == TensorProto.FLOAT and tensor.name not in keep:
            tensor.CopyFrom(_half(tensor))
    for node in graph.node:
        for attr in node.attribute:
            if (attr.name == "value" and attr.t.data_type == TensorProto.FLOAT
                    and not (node.op_type == "Constant" and node.output[0] in keep)):
                attr.t.CopyFrom(_half(attr.t))
            elif node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.FLOAT:
                attr.i = TensorProto.FLOAT16
    casts_in = []
    for value in graph.input:
        if value.type.tensor_type.elem_type == TensorProto.FLOAT:
            half = value.name + FP16_SUFFIX
            for node in graph.node:
                node.input[:] = [half if n == value.name else n for n in node.input]
            casts_in.append(helper.make_node("Cast", [value.name], [half], to=TensorProto.FLOAT16))
    for value in graph.output:
        if value.type.tensor_type.elem_type == TensorProto.FLOAT:
            half = value.name + FP16_SUFFIX
            for node in graph.node:
                node.output[:] = [half if n == value.name else n for n in node.output]
                node.input[:] = [half if n == value.name else n for n in node.input]
            graph.node.append(helper.make_node("Cast", [half], [value.name], to=TensorProto.FLOAT))
    for i, cast in enumerate(casts_in):
        graph.node.insert(i, cast)
    del graph.value_info[:]  # float32 types of intermediate tensors no longer hold
    try:
        onnx.checker.check_model(model)
        onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise DprobeError(f"the float16 graph of {graph.name or 'the model'} is not valid ONNX: "
                          f"{e}") from None
    return model
