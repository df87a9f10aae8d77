"""Detections drawn on images: mmdet's ``inference_detector`` and ``DetLocalVisualizer`` on the
model a config evaluates (the student of a distillation config)."""

from __future__ import annotations

import logging
import os
import os.path as osp
import re
import uuid
from collections.abc import Sequence

from mmengine.utils import scandir
from torch import nn

from mgd.analysis.models import test_pipeline
from mgd.utils.errors import ConfigError, MissingFileError

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def list_images(path: str) -> list[str]:
    """``path`` itself if it is a file, else the images in the folder (sorted, not recursive;
    hidden files are skipped, as mmengine's ``scandir`` does)."""
    if osp.isfile(path):
        return [path]
    if not osp.isdir(path):
        raise MissingFileError(f'{path!r} is neither an image nor a folder')
    images = sorted(
        osp.join(path, name)
        for name in scandir(path, IMAGE_EXTENSIONS, recursive=False, case_sensitive=False)
    )
    if not images:
        raise MissingFileError(f'no images ({", ".join(IMAGE_EXTENSIONS)}) in {path!r}')
    return images


def first_per_prefix(images: list[str], count: int) -> list[str]:
    """The first ``count`` images of each file-name prefix (``crazing_12.jpg`` -> ``crazing``),
    classes in the order they first appear: a few images of every NEU-DET class."""
    by_prefix: dict[str, list[str]] = {}
    for image in images:
        stem = osp.splitext(osp.basename(image))[0]
        by_prefix.setdefault(re.sub(r'_\d+$', '', stem), []).append(image)
    return [image for group in by_prefix.values() for image in group[:count]]


def pick_images(paths: Sequence[str], per_class: int | None = None) -> list[str]:
    """The images of ``paths`` (files, or folders listed by :func:`list_images`); with
    ``per_class``, only the first N of each file-name prefix (:func:`first_per_prefix`).

    Raises:
        ConfigError: a picked file is not a readable image (naming it).
    """
    import cv2

    images = [image for path in paths for image in list_images(path)]
    picked = first_per_prefix(images, per_class) if per_class else images
    for image in picked:
        if cv2.imread(image, cv2.IMREAD_UNCHANGED) is None:
            raise ConfigError(
                f'{image!r} is not a readable image (empty, corrupt, or not an image file)'
            )
    return picked


def draw_detections(
    model: nn.Module,
    inputs: str,
    out_dir: str,
    score_thr: float = 0.3,
) -> list[tuple[str, int]]:
    """Detects objects in an image or a folder of images and writes them with boxes (and
    masks), class names and scores drawn.

    Args:
        model: a detector from :func:`mgd.analysis.models.build_model` (or one that predicts
            through an ONNX file, :func:`mgd.deploy.onnx_model.onnx_model`).
        inputs: an image file or a folder of images.
        out_dir: where the drawn images go, under their own file names.
        score_thr: detections below this score are not drawn.

    Returns:
        ``(written image, number of detections drawn)`` per input image; an image that cannot
        be read (empty, corrupt) is skipped with a warning naming it, as ``(image, None)``.
    """
    import mmcv
    from mmdet.apis import inference_detector
    from mmdet.models.detectors import BaseDetector
    from mmdet.visualization import DetLocalVisualizer
    from mmengine.logging import print_log

    images = list_images(inputs)
    if not isinstance(model, BaseDetector):
        config = getattr(model.cfg, 'filename', None)
        raise ConfigError(f'{config!r} is not a detector config ({type(model).__name__})')
    pipeline = test_pipeline(model)  # built once, in the config's scope
    # Visualizers are named singletons: a fresh name per call.
    visualizer = DetLocalVisualizer(name=f'mgd_infer_{uuid.uuid4().hex}')
    visualizer.dataset_meta = model.dataset_meta
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for image in images:
        try:
            pixels = mmcv.imread(image, channel_order='rgb')
            if pixels is None:
                raise ConfigError('not a readable image')
            result = inference_detector(model, image, test_pipeline=pipeline)
        except Exception as err:  # one bad file must not stop the others
            print_log(f'skipped {image}: {err}', logger='current', level=logging.WARNING)
            written.append((image, None))
            continue
        out_file = osp.join(out_dir, osp.basename(image))
        visualizer.add_datasample(
            osp.basename(image),
            pixels,
            result,
            draw_gt=False,
            pred_score_thr=score_thr,
            out_file=out_file,
        )
        kept = int((result.pred_instances.scores > score_thr).sum())  # as the visualizer keeps
        written.append((out_file, kept))
    return written
