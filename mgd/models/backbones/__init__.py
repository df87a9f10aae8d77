"""Backbones that the MGD experiments need and the OpenMMLab packages lack."""

from mgd.models.backbones.mobilenet_v1 import MobileNetV1

__all__ = ['MobileNetV1']
