"""NEU-DET's classes and palette, written once.

``NEUDETDataset.METAINFO`` is this dict; the converters and the synthetic data use it too. It
is a module of its own so that they read it without importing mmdet (they start in a second).
"""

NEU_DET_METAINFO = dict(
    # COCO category ids are 1..6 in this order.
    classes=('crazing', 'inclusion', 'patches', 'pitted_surface', 'rolled-in_scale', 'scratches'),
    palette=[
        (220, 20, 60),
        (0, 130, 200),
        (60, 180, 75),
        (245, 130, 48),
        (145, 30, 180),
        (255, 225, 25),
    ],
)
NEU_DET_CLASSES = NEU_DET_METAINFO['classes']
