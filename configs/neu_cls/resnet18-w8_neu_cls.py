# NEU-CLS student (and the baseline without a teacher): ResNet-18 with 8 base channels,
# 1/64 of ResNet-18's FLOPs; the teachers' setting otherwise (resnet18-w32_neu_cls.py).
_base_ = ['./resnet18-w32_neu_cls.py']
model = dict(backbone=dict(base_channels=8), head=dict(in_channels=64))
