# NEU-CLS teacher 2: ResNet-34 with 32 base channels (setting of resnet18-w32_neu_cls.py).
_base_ = ['./resnet18-w32_neu_cls.py']
model = dict(backbone=dict(depth=34))
