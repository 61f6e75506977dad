"""Each kind's decoder as a module TorchScript can compile and ONNX can trace (the kinds' ``export_module``)."""
