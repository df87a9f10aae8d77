"""What ``tools/demo.py --data`` chooses for a data set (mgd/experiments/own_data.py): the
input size and anchors from the boxes, checked by hand, and the configs adapted to the data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config

from mgd.experiments.own_data import (
    DataSpec,
    adapt,
    choose_size,
    kmeans_anchors,
    retinanet_ratios,
    write_configs,
)
from mgd.experiments.tables import verdict

CONFIGS_ROOT = Path(__file__).resolve().parents[2]
REPO_CONFIGS = {
    'teacher': 'configs/neu_det/yolov5_s_scratch_neu_det.py',
    'mgd_kd': 'configs/neu_det/mgd-kd-yolov5_yolov5_s_yolov5_n_scratch_neu_det.py',
}


def stats(sides, image=(320, 240)):
    boxes = np.array([(s, s) for s in sides], dtype=float)
    return dict(boxes=boxes, image_size=np.array(image, dtype=float), images=1, per_image=1)


def test_size_scales_the_10th_percentile_box_to_the_aim():
    # sides 10..100 px: the 10th percentile is 19 px (numpy's linear interpolation)
    s = stats(np.arange(10, 101, 10), image=(200, 200))
    assert np.percentile(s['boxes'][:, 0], 10) == pytest.approx(19)
    size, reason = choose_size(s, 'retinanet', 'cpu', None)
    # 200 * 24 / 19 = 252.6 -> the nearest multiple of 32: 256, where 19 px becomes 24.3
    assert size == 256 and 'becomes 24.3 px (aim: 24 px for retinanet)' in reason
    size, _ = choose_size(s, 'yolov5', 'cpu', None)
    assert size == 128  # 200 * 12 / 19 = 126 -> 128, also the floor
    size, reason = choose_size(stats([4] * 10), 'retinanet', 'cpu', None)
    # 320 * 24 / 4 = 1920: above the CPU budget, said so
    assert size == 640 and '1920 px would reach the aim, above the 640-px budget' in reason
    assert choose_size(stats([4] * 10), 'retinanet', 'cuda', None)[0] == 1024
    assert choose_size(stats([4] * 10), 'retinanet', 'cpu', 96) == (
        96,
        'input size 96 px (--image-size)',
    )


def test_ratios_are_the_quantiles_of_the_boxes_shapes():
    wh = np.array([(10, 10 * r) for r in (0.25, 0.5, 1, 1, 2, 4)], dtype=float)
    expected = np.quantile([0.25, 0.5, 1, 1, 2, 4], [1 / 6, 1 / 2, 5 / 6])
    assert retinanet_ratios(wh) == [round(float(v), 2) for v in expected]


def test_kmeans_finds_three_clusters_of_box_sizes():
    rng = np.random.default_rng(0)
    centres = np.array([(8, 8), (20, 40), (60, 30)], dtype=float)
    wh = np.concatenate([c * rng.uniform(0.95, 1.05, (50, 2)) for c in centres])
    found = kmeans_anchors(wh, k=3)
    assert np.allclose(found, centres, rtol=0.06)
    assert (np.diff(found.prod(axis=1)) > 0).all()  # sorted by area


def test_adapt_sets_classes_size_anchors_gains_and_the_teacher(tmp_path):
    spec = DataSpec(str(tmp_path / 'data'), ('a', 'b', 'c'), ('val',), size=320)
    spec.yolo_anchors = [
        [(1, 2), (3, 4), (5, 6)],
        [(7, 8), (9, 10), (11, 12)],
        [(13, 14), (15, 16), (17, 18)],
    ]
    written = write_configs(REPO_CONFIGS, spec, str(tmp_path / 'configs'), str(CONFIGS_ROOT), ['h'])
    cfg = Config.fromfile(written['mgd_kd'])
    assert cfg.model.teacher.cfg_path == written['teacher']
    head = cfg.model.architecture.bbox_head
    assert head.head_module.num_classes == 3
    assert head.loss_cls.loss_weight == pytest.approx(0.5 * 3 / 80)
    assert head.loss_obj.loss_weight == pytest.approx((320 / 640) ** 2)
    assert [list(map(tuple, lv)) for lv in head.prior_generator.base_sizes] == spec.yolo_anchors
    kd = cfg.model.distiller.distill_losses.loss_kd_yolov5
    assert (kd.num_classes, kd.cls_gain, kd.obj_gain) == (3, head.loss_cls.loss_weight, 0.25)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[loader].dataset
        assert dataset.type == 'CocoDataset' and dataset.metainfo.classes == ('a', 'b', 'c')
        assert dataset.data_root == str(tmp_path / 'data') + '/'
        resize = [t for t in dataset.pipeline if t.type == 'Resize']
        assert [t.scale for t in resize] == [(320, 320)]
    assert open(written['teacher']).readline().startswith(f'# {REPO_CONFIGS["teacher"]}, adapted')
    # the same settings again: nothing changes; other settings: refused, the work dir named
    assert write_configs(REPO_CONFIGS, spec, str(tmp_path / 'configs'), str(CONFIGS_ROOT), ['h'])
    spec.size = 256
    with pytest.raises(ValueError, match=r'teacher.py differs .* Pass another --work-dir'):
        write_configs(REPO_CONFIGS, spec, str(tmp_path / 'configs'), str(CONFIGS_ROOT), ['h'])


def test_adapt_reaches_retinanet_ratios_in_nested_dicts():
    node = {'a': [{'type': 'AnchorGenerator', 'ratios': [0.5, 1.0, 2.0]}], 'num_classes': 80}
    spec = DataSpec('/d', ('x',), ('val',), size=64, ratios=[0.3, 1.0, 3.0])
    adapt(node, spec, None)
    assert node == {'a': [{'type': 'AnchorGenerator', 'ratios': [0.3, 1.0, 3.0]}], 'num_classes': 1}


def rows(teacher, baseline, mgd):
    def runs(values):
        return [{'coco/bbox_mAP': v / 100} for v in values]

    return {'teacher': runs([teacher]), 'baseline': runs(baseline), 'mgd': runs(mgd)}


def test_verdict_pairs_seeds_and_compares_with_the_spread():
    lines = verdict(rows(30.0, [20.0, 21.0, 22.0], [23.0, 23.5, 24.0]), 'test')
    assert lines[0] == 'teacher - baseline: +9.0 mAP (test): clearly stronger'
    # gains 3.0, 2.5, 2.0: mean 2.5, sample std 0.5; spread max(1.0, 0.5) = 1.0
    assert lines[1] == (
        'verdict (test): mgd - baseline +2.5 ± 0.5 mAP over 3 seeds; seed spread (sample std) '
        '1.0: larger than the seed spread: MGD helps here'
    )
    assert verdict(rows(30.0, [20.0, 22.0], [21.0, 21.5]), 'val')[1].endswith(
        'within the seed spread: no clear effect'
    )
    assert verdict(rows(30.0, [20.0, 20.2], [17.0, 17.1]), 'val')[1].endswith('MGD hurts here')


def test_verdict_flags_a_teacher_that_is_not_clearly_stronger_and_one_seed():
    lines = verdict(rows(21.0, [20.0], [20.5]), 'val')
    assert 'teacher - baseline: +1.0 mAP (val): the teacher is not clearly stronger' in lines[0]
    assert 'so this run does not test distillation' in lines[0]
    assert lines[1] == (
        'verdict (val): mgd - baseline +0.5 mAP, one seed: no seed spread to compare with '
        '(--seeds 3)'
    )


def test_box_statistics_leave_out_ignored_regions(tmp_path):
    from mgd.experiments.own_data import box_statistics

    coco = dict(
        images=[dict(id=1, width=100, height=50, file_name='a.jpg')],
        annotations=[
            dict(id=1, image_id=1, bbox=[0, 0, 4, 9], iscrowd=0, category_id=1),
            dict(id=2, image_id=1, bbox=[0, 0, 50, 50], iscrowd=1, category_id=1),
        ],
        categories=[dict(id=1, name='x')],
    )
    (tmp_path / 'a.json').write_text(json.dumps(coco))
    found = box_statistics(str(tmp_path / 'a.json'))
    assert found['boxes'].tolist() == [[4.0, 9.0]] and found['image_size'].tolist() == [100, 50]
