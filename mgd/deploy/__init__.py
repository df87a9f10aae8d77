"""Deployment: the student as ONNX, run by ONNX Runtime, checked against PyTorch."""
