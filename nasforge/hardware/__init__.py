"""Hardware cost models: params, FLOPs, memory, model size, measured and predicted latency.

Importing this package does not import torch; the functions import it when called.
"""

from nasforge.hardware.cost import COST_MODELS, CostModel, get_cost_model, register_cost_model
from nasforge.hardware.latency import LatencySettings, LatencyStats, export_onnx, measure_latency
from nasforge.hardware.metrics import (
    METRICS,
    TaskShape,
    count_flops,
    count_params,
    hardware_metrics,
    model_size_bytes,
)
from nasforge.hardware.predictor import LatencyPredictor
from nasforge.hardware.study import latency_study, write_study
from nasforge.hardware.table import LatencyTable

__all__ = [
    "COST_MODELS", "CostModel", "LatencyPredictor", "LatencySettings", "LatencyStats",
    "LatencyTable", "METRICS", "TaskShape", "count_flops", "count_params", "export_onnx",
    "get_cost_model", "hardware_metrics", "latency_study", "measure_latency",
    "model_size_bytes", "register_cost_model", "write_study",
]
