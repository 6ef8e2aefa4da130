"""Stand-ins for what a machine without a GPU lacks, recording what dprobe asks of them.

- ``FakeTensorRT``: a ``tensorrt`` module of major version 10 (``BuilderFlag.FP16``) or 11 (no
  FP16 flag: strongly typed networks only). Its builder records the network flags, builder
  flags, memory pools and optimisation profiles; its "plan" is the ONNX graph the parser was
  given, and its execution contexts run that graph in onnxruntime on the CPU, reading the inputs
  from and writing the outputs to the addresses dprobe bound (so they run what dprobe would).
- ``FakeOnnxRuntime``: an ``onnxruntime`` module with a CUDA provider whose sessions run the graph
  on the real CPU provider, record the options, providers and I/O bindings, and write the
  profile a CUDA run would (every node on CUDA, except the ops named in ``cpu_ops`` and small
  shape arithmetic).
- ``FakeStream``: torch's current CUDA stream (``cuda_stream`` handle, ``synchronize``).

Device tensors are CPU tensors (``use_cpu_as_cuda`` makes ``require_cuda`` return the CPU); every
call goes to one ordered ``log``. At each run the fakes check that every bound address is the
memory of a live tensor and that no two bindings share memory.
"""
from __future__ import annotations

import ctypes
import gc
import json
import types
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch

__all__ = ["FakeOnnxRuntime", "FakeStream", "FakeTensorRT", "live_addresses", "use_cpu_as_cuda"]


def use_cpu_as_cuda(monkeypatch, log: list, stream_handle: int = 7) -> None:
    """``require_cuda`` gives the CPU, ``torch.cuda.current_stream`` a ``FakeStream``."""
    import dprobe.engines.onnxruntime as ort_engine
    import dprobe.engines.tensorrt as trt_engine
    import dprobe.export.gpu as gpu

    for module in (gpu, ort_engine, trt_engine):
        monkeypatch.setattr(module, "require_cuda", lambda purpose: torch.device("cpu"))
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: FakeStream(log,
                                                                                      stream_handle))


class FakeStream:
    def __init__(self, log: list, handle: int) -> None:
        self.log, self.cuda_stream = log, handle

    def synchronize(self) -> None:
        self.log.append(("synchronize", self.cuda_stream))


def _is_tensor(o: object) -> bool:
    try:
        return isinstance(o, torch.Tensor)
    except ReferenceError:  # a weak proxy whose object is gone (other tests leave some)
        return False


def live_addresses() -> set[int]:
    """Data addresses of every live tensor."""
    with warnings.catch_warnings():  # isinstance on torch's deprecated aliases warns
        warnings.simplefilter("ignore", FutureWarning)
        return {o.data_ptr() for o in gc.get_objects() if _is_tensor(o)}


def _check_bindings(addresses: list[int]) -> None:
    assert len(set(addresses)) == len(addresses), "two bindings share memory"
    missing = set(addresses) - live_addresses()
    assert not missing, f"bound memory of a freed tensor: {missing}"


def _read(address: int, shape: tuple) -> np.ndarray:
    n = int(np.prod(shape))
    return np.frombuffer(ctypes.string_at(address, 4 * n), np.float32).reshape(shape).copy()


def _write(address: int, array: np.ndarray) -> None:
    data = np.ascontiguousarray(array, np.float32)
    ctypes.memmove(address, data.ctypes.data, data.nbytes)


def _run_graph(session: onnxruntime.InferenceSession, feeds: dict) -> dict[str, np.ndarray]:
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds)))


# ---- TensorRT ---------------------------------------------------------------------------------
class FakeTensorRT(types.ModuleType):
    """A ``tensorrt`` module of ``version`` (see the module doc)."""

    def __init__(self, version: str = "10.9.0.34") -> None:
        super().__init__("tensorrt")
        self.__version__ = version
        self.log: list = []
        flags = {"TF32": "TF32"} | ({"FP16": "FP16"} if version.startswith("10.") else {})
        self.BuilderFlag = types.SimpleNamespace(**flags)
        self.NetworkDefinitionCreationFlag = types.SimpleNamespace(STRONGLY_TYPED=5)
        self.MemoryPoolType = types.SimpleNamespace(WORKSPACE="WORKSPACE")
        self.Logger = _Logger
        self.Builder = lambda logger: _Builder(self.log)
        self.OnnxParser = lambda network, logger: _Parser(network)
        self.Runtime = lambda logger: _Runtime(self.log)

    def calls(self, name: str) -> list[tuple]:
        return [c for c in self.log if c[0] == name]


class _Logger:
    WARNING = 2

    def __init__(self, severity: int) -> None:
        self.severity = severity


class _Network:
    def __init__(self, flags: int) -> None:
        self.flags, self.graph = flags, None


class _Parser:
    num_errors = 0

    def __init__(self, network: _Network) -> None:
        self.network = network

    def parse(self, graph: bytes) -> bool:
        onnx.checker.check_model(onnx.load_from_string(graph))
        self.network.graph = graph
        return True


class _Config:
    def __init__(self, log: list) -> None:
        self.log = log

    def set_memory_pool_limit(self, pool, size: int) -> None:
        self.log.append(("set_memory_pool_limit", pool, size))

    def set_flag(self, flag) -> None:
        self.log.append(("set_flag", flag))

    def clear_flag(self, flag) -> None:
        self.log.append(("clear_flag", flag))

    def add_optimization_profile(self, profile: _Profile) -> None:
        self.log.append(("add_optimization_profile", profile.shapes))


class _Profile:
    def __init__(self) -> None:
        self.shapes: dict[str, tuple] = {}

    def set_shape(self, name: str, low: tuple, opt: tuple, high: tuple) -> None:
        self.shapes[name] = (low, opt, high)


class _Builder:
    def __init__(self, log: list) -> None:
        self.log = log

    def create_network(self, flags: int) -> _Network:
        self.log.append(("create_network", flags))
        return _Network(flags)

    def create_builder_config(self) -> _Config:
        return _Config(self.log)

    def create_optimization_profile(self) -> _Profile:
        return _Profile()

    def build_serialized_network(self, network: _Network, config: _Config) -> bytes:
        self.log.append(("build_serialized_network", network.flags))
        return network.graph  # the fake plan: the graph the parser read


class _Runtime:
    def __init__(self, log: list) -> None:
        self.log = log

    def deserialize_cuda_engine(self, plan: bytes) -> _CudaEngine:
        return _CudaEngine(plan, self.log)


class _CudaEngine:
    def __init__(self, plan: bytes, log: list) -> None:
        self.session = onnxruntime.InferenceSession(plan, providers=["CPUExecutionProvider"])
        self.log = log

    def create_execution_context(self) -> _Context:
        return _Context(self.session, self.log)


class _Context:
    def __init__(self, session, log: list) -> None:
        self.session, self.log = session, log
        self.shapes: dict[str, tuple] = {}
        self.addresses: dict[str, int] = {}

    def set_input_shape(self, name: str, shape: tuple) -> bool:
        self.log.append(("set_input_shape", name, shape))
        self.shapes[name] = shape
        return True

    def set_tensor_address(self, name: str, address: int) -> bool:
        self.log.append(("set_tensor_address", name))
        self.addresses[name] = address
        return True

    def execute_async_v3(self, stream: int) -> bool:
        self.log.append(("execute_async_v3", stream))
        _check_bindings(list(self.addresses.values()))
        feeds = {i.name: _read(self.addresses[i.name], self.shapes[i.name])
                 for i in self.session.get_inputs()}
        for name, value in _run_graph(self.session, feeds).items():
            _write(self.addresses[name], value)
        return True


# ---- onnxruntime ------------------------------------------------------------------------------
class FakeOnnxRuntime(types.ModuleType):
    """An ``onnxruntime`` module with ``CUDAExecutionProvider`` (see the module doc)."""

    SHAPE_OPS = ("Shape", "Gather", "Cast", "Div", "Unsqueeze", "Concat")

    def __init__(self, cpu_ops: tuple[str, ...] = ()) -> None:
        super().__init__("onnxruntime")
        self.__version__ = onnxruntime.__version__
        self.cpu_ops = cpu_ops
        self.log: list = []
        self.sessions: list[_Session] = []
        self.GraphOptimizationLevel = onnxruntime.GraphOptimizationLevel
        self.SessionOptions = _Options

    def get_available_providers(self) -> list[str]:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]

    def InferenceSession(self, path: str, options: _Options, providers: list) -> _Session:
        session = _Session(self, path, options, providers)
        self.sessions.append(session)
        return session


class _Options:
    def __init__(self) -> None:
        self.entries: dict[str, str] = {}
        self.enable_profiling = False
        self.profile_file_prefix = "onnxruntime_profile_"

    def add_session_config_entry(self, key: str, value: str) -> None:
        self.entries[key] = value


class _Session:
    def __init__(self, ort: FakeOnnxRuntime, path: str, options: _Options, providers: list):
        self.ort, self.path, self.options, self.providers = ort, path, options, providers
        self.real = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.profiled_runs = 0

    def get_providers(self) -> list[str]:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]

    def get_inputs(self):
        return self.real.get_inputs()

    def run(self, output_names, feeds: dict) -> list:
        self.profiled_runs += self.options.enable_profiling
        return self.real.run(output_names, feeds)

    def end_profiling(self) -> str:
        """The profile of a CUDA run: ``cpu_ops`` on the CPU with whole outputs, shape
        arithmetic on the CPU with 8-byte outputs, the rest on CUDA."""
        events = []
        for node in onnx.load(self.path).graph.node:
            small = node.op_type in FakeOnnxRuntime.SHAPE_OPS
            provider = ("CPUExecutionProvider" if small or node.op_type in self.ort.cpu_ops
                        else "CUDAExecutionProvider")
            events.append({"cat": "Node", "name": f"{node.name}_kernel_time",
                           "args": {"op_name": node.op_type, "provider": provider,
                                    "output_size": "8" if small else "49152"}})
        path = Path(f"{self.options.profile_file_prefix}_fake.json")
        path.write_text(json.dumps(events))
        self.options.enable_profiling = False
        return str(path)

    def io_binding(self) -> _Binding:
        return _Binding(self)

    def run_with_iobinding(self, binding: _Binding) -> None:
        binding.run()


class _Binding:
    def __init__(self, session: _Session) -> None:
        self.session, self.log = session, session.ort.log
        self.inputs: dict[str, tuple] = {}
        self.outputs: dict[str, tuple] = {}

    def bind_input(self, name, device_type, device_id, element_type, shape, address) -> None:
        self.log.append(("bind_input", name, device_type, device_id, np.dtype(element_type).name))
        self.inputs[name] = (tuple(shape), address)

    def bind_output(self, name, device_type, device_id, element_type, shape, address) -> None:
        self.log.append(("bind_output", name, device_type, device_id, np.dtype(element_type).name))
        self.outputs[name] = (tuple(shape), address)

    def run(self) -> None:
        self.log.append(("run", Path(self.session.path).name))
        _check_bindings([a for _, a in (*self.inputs.values(), *self.outputs.values())])
        feeds = {n: _read(a, s) for n, (s, a) in self.inputs.items()}
        for name, value in _run_graph(self.session.real, feeds).items():
            shape, address = self.outputs[name]
            assert value.shape == shape, (name, value.shape, shape)
            _write(address, value)
