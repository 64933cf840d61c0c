"""ONNX import: `load` (model -> graph IR), graph passes, lowering to tex.ops, the graph executor, the backend.

`onnx` is imported lazily (only here, in tex/onnx_import); `import tex` needs numpy only.
"""

from tex.onnx_import.executor import Executor, compile_model
from tex.onnx_import.graph import Graph, Node, print_graph
from tex.onnx_import.importer import light_model_path, load
from tex.onnx_import.plan import ExecutionPlan, PlanBuffer, PlanIO, PlanKernel, PlanStep
from tex.onnx_import.tasks import ModelTask, extract_tasks

__all__ = ["ExecutionPlan", "Executor", "Graph", "ModelTask", "Node", "PlanBuffer", "PlanIO", "PlanKernel", "PlanStep",
           "compile_model", "extract_tasks", "light_model_path", "load", "print_graph"]
