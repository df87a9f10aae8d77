"""mgd.analysis.inference (tools/infer.py) and the demo report."""

from __future__ import annotations

import json
import runpy
import sys

import matplotlib.image
import mmcv
import numpy as np
import pytest
from demo_models import MGD_CFG, REPO, STUDENT_CFG, TEACHER_CFG

from mgd.analysis import demo_report
from mgd.analysis.features import CELL_INCHES, DPI
from mgd.analysis.inference import draw_detections
from mgd.analysis.models import build_model

pytest_plugins = ['demo_models']  # the demo_checkpoints and image_dir fixtures


def test_infer_draws_the_students_detections_on_every_image(demo_checkpoints, image_dir, tmp_path):
    model = build_model(MGD_CFG, demo_checkpoints['mgd'])
    written = draw_detections(model, str(image_dir), str(tmp_path / 'out'), score_thr=0.5)
    assert [p for p, _ in written] == [str(tmp_path / 'out' / n) for n in ('a.jpg', 'b.png')]
    for path, count in written:
        # every anchor scores 0.95: after NMS the head keeps up to max_per_img=100 boxes
        assert 0 < count <= 100
        drawn = mmcv.imread(path)
        original = mmcv.imread(str(image_dir / path.rsplit('/', 1)[1]))
        assert drawn.shape == original.shape  # drawn on the original image, not the resized one
        assert np.abs(drawn.astype(int) - original).mean() > 1

    nothing = draw_detections(
        model,
        str(image_dir / 'a.jpg'),
        str(tmp_path / 'none'),
        score_thr=0.99,
    )
    assert [c for _, c in nothing] == [0]
    with pytest.raises(FileNotFoundError, match='neither an image nor a folder'):
        draw_detections(model, str(tmp_path / 'nowhere'), str(tmp_path))


def test_infer_skips_unreadable_images_and_draws_the_others(demo_checkpoints, image_dir, tmp_path):
    folder = tmp_path / 'in'
    folder.mkdir()
    (folder / 'a.jpg').write_bytes((image_dir / 'a.jpg').read_bytes())
    (folder / 'empty.jpg').write_bytes(b'')
    (folder / 'garbage.png').write_bytes(b'not an image at all')
    model = build_model(MGD_CFG, demo_checkpoints['mgd'])
    written = draw_detections(model, str(folder), str(tmp_path / 'out'), score_thr=0.5)
    assert written[0][0] == str(tmp_path / 'out' / 'a.jpg') and written[0][1] > 0
    assert written[1:] == [(str(folder / 'empty.jpg'), None), (str(folder / 'garbage.png'), None)]
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == ['a.jpg']


def test_demo_report_writes_attention_curves_and_complexity(demo_checkpoints, image_dir, tmp_path):
    for name in ('teacher', 'mgd'):
        vis = tmp_path / 'demo' / name / '20240101_100000' / 'vis_data'
        vis.mkdir(parents=True)
        (vis / 'scalars.json').write_text(
            json.dumps({'loss': 1.0, 'student.loss_cls': 1.0, 'epoch': 1, 'iter': 10, 'step': 10})
            + '\n'
        )
    paths = demo_report(
        str(tmp_path / 'demo'),
        configs={'teacher': TEACHER_CFG, 'mgd': MGD_CFG},
        checkpoints={'teacher': demo_checkpoints['teacher'], 'mgd': demo_checkpoints['mgd']},
        image=str(image_dir / 'a.jpg'),
        shape=(3, 64, 64),
        latency_runs=1,
    )
    analysis = tmp_path / 'demo' / 'analysis'
    assert paths == {
        'attention': str(analysis / 'attention.png'),
        'curves': str(analysis / 'curves.png'),
        'complexity': str(analysis / 'complexity.md'),
    }
    cell = CELL_INCHES * DPI
    assert matplotlib.image.imread(paths['attention']).shape[:2] == (
        round(2 * cell),
        round(6 * cell),
    )
    assert matplotlib.image.imread(paths['curves']).shape[:2] == (400, 1500)
    rows = (analysis / 'complexity.md').read_text().splitlines()[2:]
    assert [r.split(' | ')[0] for r in rows] == ['| teacher', '| mgd']
    with pytest.raises(ValueError, match=r"no checkpoint given for \['baseline'\]"):
        demo_report(
            str(tmp_path / 'demo'),
            {'teacher': TEACHER_CFG, 'baseline': STUDENT_CFG},
            {'teacher': None},
            str(image_dir / 'a.jpg'),
        )


def test_infer_command_draws_the_boxes_above_the_threshold(
    demo_checkpoints, image_dir, tmp_path, monkeypatch, capsys
):
    """The drawn picture, pixel by pixel: the frame of each detection above ``--score-thr``
    (mmdet's detections for the same model, in the original image's coordinates) and its
    label at the frame's top left; every other pixel is the original's."""
    from mmdet.apis import inference_detector

    from mgd.analysis.models import test_pipeline

    image = image_dir / 'b.png'  # lossless: unchanged pixels stay equal
    model = build_model(MGD_CFG, demo_checkpoints['mgd'])
    found = inference_detector(model, str(image), test_pipeline=test_pipeline(model))
    scores = found.pred_instances.scores.sort(descending=True).values
    threshold = float(scores[2] + scores[3]) / 2  # the three best boxes are drawn
    boxes = found.pred_instances.bboxes[found.pred_instances.scores > threshold]

    main = runpy.run_path(str(REPO / 'tools/infer.py'))['main']
    argv = ['infer.py', MGD_CFG, demo_checkpoints['mgd'], str(image), '--out',
            str(tmp_path), '--score-thr', str(threshold)]  # fmt: skip
    monkeypatch.setattr(sys, 'argv', argv)
    main()
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line == f'{tmp_path / "b.png"}: 3 detections with score > {threshold}'

    original = mmcv.imread(str(image))
    changed = np.abs(mmcv.imread(str(tmp_path / 'b.png')).astype(int) - original).max(-1) > 0
    allowed = np.zeros_like(changed)
    for x1, y1, x2, y2 in boxes.round().int().tolist():
        assert changed[max(y1, 0), x1 : x2 + 1].all() and changed[y1:y2, x1].all()  # the frame
        allowed[max(y1 - 2, 0) : y2 + 3, max(x1 - 2, 0) : x2 + 3] = True  # 3 px lines
        allowed[y1 + 3 : y2 - 2, x1 + 3 : x2 - 2] = False  # not filled
        allowed[y1 : y1 + 16, x1 : x1 + 90] = True  # the label: "class: score"
    assert not (changed & ~allowed).any()
