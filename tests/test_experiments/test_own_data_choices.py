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
    choose_input,
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
    # 200 * 16 / 19 = 168.4 -> the nearest multiple of 32: 160, where 19 px becomes 15.2
    assert size == 160 and 'becomes 15.2 px (aim: 16 px for retinanet)' in reason
    size, _ = choose_size(s, 'yolov5', 'cpu', None)
    assert size == 128  # 200 * 12 / 19 = 126 -> 128, also the floor
    size, reason = choose_size(stats([4] * 10), 'retinanet', 'cpu', None)
    # 320 * 16 / 4 = 1280: above the CPU budget, said so
    assert size == 640 and '1280 px would reach the aim, above the 640-px budget' in reason
    assert choose_size(stats([4] * 10), 'retinanet', 'cuda', None)[0] == 1024
    assert choose_size(stats([4] * 10), 'retinanet', 'cpu', 96) == (
        96,
        'input size 96 px (--image-size)',
    )


def test_ratios_are_the_quantiles_of_the_boxes_shapes():
    wh = np.array([(10, 10 * r) for r in (0.25, 0.5, 1, 1, 2, 4)], dtype=float)
    # in log2: -2, -1, 0, 0, 1, 2; quantile q at position 5 q: 5/6 -> -1.17, 5/2 -> 0, 25/6 -> 1.17
    assert (
        retinanet_ratios(wh)
        == [round(2**-1.1667, 2), 1.0, round(2**1.1667, 2)]
        == [0.45, 1.0, 2.24]
    )


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


def test_adapt_reaches_retinanet_anchors_in_nested_dicts():
    anchors = {'type': 'AnchorGenerator', 'ratios': [0.5, 1.0, 2.0], 'octave_base_scale': 4}
    node = {'a': [anchors], 'num_classes': 80}
    spec = DataSpec('/d', ('x',), ('val',), size=64, ratios=[0.3, 1.0, 3.0], anchor_base=2.5)
    adapt(node, spec, None)
    assert anchors == {
        'type': 'AnchorGenerator',
        'ratios': [0.3, 1.0, 3.0],
        'octave_base_scale': 2.5,
    }
    assert node['num_classes'] == 1


def test_retinanet_anchors_follow_the_small_boxes(tmp_path):
    # 10 boxes 10x20 px and 10 boxes 30x15 px on 100x100 images
    boxes = [[0, 0, 10, 20]] * 10 + [[0, 0, 30, 15]] * 10
    coco = dict(
        images=[dict(id=1, width=100, height=100, file_name='a.jpg')],
        annotations=[dict(id=i, image_id=1, bbox=b, category_id=1) for i, b in enumerate(boxes)],
        categories=[dict(id=1, name='x')],
    )
    (tmp_path / 'a.json').write_text(json.dumps(coco))
    spec = DataSpec('/d', ('x',), ('val',))
    choose_input(spec, str(tmp_path / 'a.json'), 'retinanet', 'cpu', 200)
    # at 200 px (x2) the 10th-percentile side is 2 sqrt(200) = 28.3 px; 1.3 x 28.3 / 8 = 4.6
    # -> capped at 4 (a 32-px smallest anchor)
    assert spec.anchor_base == 4.0
    assert spec.ratios == [0.5, 1.0, 2.0]  # the 1/6, 1/2, 5/6 quantiles of 2.0 and 0.5
    choose_input(spec, str(tmp_path / 'a.json'), 'retinanet', 'cpu', 100)
    assert spec.anchor_base == 2.3  # 1.3 x 14.1 / 8 = 2.30
    assert 'smallest anchor is 18 px (the 10th-percentile box: 14.1 px)' in spec.notes[-1]


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


def test_a_coco_layout_is_used_as_it_is(tmp_path):
    from mgd.experiments.own_data import prepare_data

    annotations = tmp_path / 'set' / 'annotations'
    annotations.mkdir(parents=True)
    categories = [dict(id=2, name='b'), dict(id=1, name='a')]  # mmdet's order: by id
    for split in ('train', 'val'):
        coco = dict(images=[], annotations=[], categories=categories)
        (annotations / f'instances_{split}.json').write_text(json.dumps(coco))
    spec = prepare_data(str(tmp_path / 'set'), str(tmp_path / 'unused'), None, None)
    assert spec.classes == ('a', 'b') and spec.data_root == str(tmp_path / 'set')
    assert spec.splits == ('val',) and 'no test split: evaluate on val' in spec.notes[0]
    (annotations / 'instances_test.json').write_text(json.dumps(coco))
    assert prepare_data(str(tmp_path / 'set'), '', None, None).splits == ('val', 'test')
    assert not (tmp_path / 'unused').exists()


def test_the_pretrained_recipe_is_adapted_and_keeps_its_checkpoints(tmp_path):
    configs = {
        'teacher': 'configs/own_data/retinanet_r101_fpn_36e_own_data.py',
        'mgd': 'configs/own_data/mgd_fpn_retina_r101_retina_r50_36e_own_data.py',
    }
    spec = DataSpec(str(tmp_path), ('a', 'b'), ('val',), size=512, ratios=[0.5, 1.0, 2.0])
    spec.anchor_base = 3.0
    written = write_configs(configs, spec, str(tmp_path / 'configs'), str(CONFIGS_ROOT), ['h'])
    teacher, mgd = (Config.fromfile(written[k]) for k in ('teacher', 'mgd'))
    assert teacher.load_from.startswith('https://download.openmmlab.com/')
    assert mgd.model.architecture.init_cfg.checkpoint.startswith('https://download.openmmlab')
    assert mgd.model.teacher.cfg_path == written['teacher']
    for head in (teacher.model.bbox_head, mgd.model.architecture.bbox_head):
        assert head.num_classes == 2 and head.anchor_generator.octave_base_scale == 3.0
