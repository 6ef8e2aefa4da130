"""Export of a model to deployable artifacts (TorchScript, ONNX opset 17, TensorRT) + manifest."""
from dprobe.export.graphs import GRAPHS, build_graph, graph_specs
from dprobe.export.manifest import MANIFEST, read_manifest
from dprobe.export.writer import FORMATS, export_model, parse_formats

__all__ = ["FORMATS", "GRAPHS", "MANIFEST", "build_graph", "export_model", "graph_specs",
           "parse_formats", "read_manifest"]
