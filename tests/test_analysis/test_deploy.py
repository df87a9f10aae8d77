"""mgd.deploy and tools/deploy.py: the student as ONNX, run by ONNX Runtime, against PyTorch."""

from __future__ import annotations

import json
import os
import runpy

import numpy as np
import pytest
import torch
from demo_models import MGD_CFG, REPO, STUDENT_CFG, save
from tool_run import run_tool

from mgd.analysis.models import build_model, load_image
from mgd.deploy.onnx_model import (
    OnnxNetwork,
    RawNetwork,
    agreement,
    compare,
    export,
    flatten,
    layout,
    quantize,
    unflatten,
)

pytest_plugins = ['demo_models']  # the demo_checkpoints and image_dir fixtures

CLASSIFIER = 'configs/neu_cls/resnet18-w8_neu_cls.py'


def test_flatten_and_unflatten_are_inverse():
    a, b, c, d = (torch.full((1,), float(i)) for i in range(4))
    nested = ([a, b], [c, d])
    assert flatten(nested) == [a, b, c, d] and layout(nested) == [2, 2]
    assert unflatten(flatten(nested), layout(nested)) == [[a, b], [c, d]]
    assert layout(a) == [] and unflatten([a], []) is a


@pytest.fixture(scope='module')
def exported(demo_checkpoints, image_dir, tmp_path_factory):
    model = build_model(MGD_CFG, demo_checkpoints['mgd'])  # every anchor scores about 0.95
    inputs, _ = load_image(model, str(image_dir / 'a.jpg'))
    out = tmp_path_factory.mktemp('deploy')
    return model, export(model, inputs, str(out)), out


def test_the_onnx_network_computes_the_students_raw_outputs(exported):
    model, files, _ = exported
    onnx = OnnxNetwork(files['onnx'])
    torch.manual_seed(0)
    for shape in ((1, 3, 192, 256), (2, 3, 256, 128)):  # batch, height and width are dynamic
        inputs = torch.randn(shape)
        with torch.no_grad():
            reference = RawNetwork(model).eval()(inputs)
        got = onnx(inputs)
        assert [t.shape for t in got] == [t.shape for t in reference]
        assert len(got) == 10  # 5 levels x (class scores, box deltas)
        for ours, theirs in zip(reference, got):
            np.testing.assert_allclose(theirs, ours, atol=1e-4, rtol=1e-4)


def test_timing_sessions_do_not_spin(exported):
    """complexity.py times several sessions in turn: an idle one's spinning threads would take
    the cores of the one being timed, so its sessions wait without spinning."""
    _, files, _ = exported
    key = 'session.intra_op.allow_spinning'
    timed = OnnxNetwork(files['onnx'], threads=1, spinning=False)
    assert timed.session.get_session_options().get_session_config_entry(key) == '0'
    default = OnnxNetwork(files['onnx'], threads=1)
    with pytest.raises(RuntimeError, match='does not have configuration'):  # ONNX Runtime's default
        default.session.get_session_options().get_session_config_entry(key)
    x = torch.randn(1, 3, 64, 64)
    for ours, theirs in zip(default(x), timed(x)):
        np.testing.assert_allclose(theirs, ours, atol=1e-6)


def test_deploy_json_says_what_the_network_expects(exported):
    model, files, _ = exported
    meta = json.loads(open(files['meta']).read())
    assert meta['classes'] == list(model.dataset_meta['classes'])
    assert meta['task'] == 'detection'
    assert meta['outputs'] == [f'output{i}' for i in range(10)] and meta['output_groups'] == [5, 5]
    assert meta['input']['mean'] == pytest.approx(model.data_preprocessor.mean.flatten().tolist())
    assert meta['input']['std'] == pytest.approx(model.data_preprocessor.std.flatten().tolist())
    resize = [t for t in meta['input']['pipeline'] if t['type'] == 'Resize']
    assert resize == [dict(type='Resize', scale=[256, 256], keep_ratio=True)]


def test_onnx_runtime_gives_pytorchs_detections(exported, image_dir):
    model, files, _ = exported
    rows = compare(model, files['onnx'], [str(image_dir / 'a.jpg'), str(image_dir / 'b.png')])
    for row in rows:
        assert row['same'] and row['predictions'] == 100  # max_per_img, all high scores
        assert row['max_abs_diff'] < 1e-4


def test_int8_is_smaller_and_finds_most_of_the_detections(exported, image_dir):
    model, files, out = exported
    images = [str(image_dir / 'a.jpg'), str(image_dir / 'b.png')]
    int8 = quantize(model, files['onnx'], images, str(out / 'int8.onnx'))
    assert (out / 'int8.onnx').stat().st_size < (out / 'model.onnx').stat().st_size / 2
    assert sorted(p.name for p in out.iterdir()) == ['deploy.json', 'int8.onnx', 'model.onnx']
    rows = agreement(model, int8, images, score_thr=0.3)
    assert [r['total'] for r in rows] == [100, 100]
    for row in rows:
        assert 0 < row['max_abs_diff'] < 1  # approximate, not broken
        assert row['found'] >= 50


def test_a_classifier_exports_with_the_same_top1(image_dir, tmp_path):
    torch.manual_seed(0)
    model = build_model(CLASSIFIER)
    inputs, _ = load_image(model, str(image_dir / 'a.jpg'))
    files = export(model, inputs, str(tmp_path))
    rows = compare(model, files['onnx'], [str(image_dir / 'a.jpg'), str(image_dir / 'b.png')])
    assert all(r['same'] and r['max_abs_diff'] < 1e-4 for r in rows)
    assert json.loads(open(files['meta']).read())['task'] == 'classification'


def test_deploy_tool(demo_checkpoints, image_dir, tmp_path):
    out = tmp_path / 'deploy'
    result = run_tool('tools/deploy.py', MGD_CFG, demo_checkpoints['mgd'], '--out', out,
                      '--images', image_dir, '--int8', image_dir, '--calib', 2)  # fmt: skip
    lines = result.stdout.splitlines()
    assert f'wrote {out / "model.onnx"} and {out / "deploy.json"}' in lines
    assert '2 of 2 images: the same predictions as PyTorch' in lines
    assert any(line.startswith(f'wrote {out / "model_int8.onnx"} (calibrated on 2 images)')
               for line in lines)  # fmt: skip
    assert lines[-1].startswith('INT8 finds ') and lines[-1].endswith('(score >= 0.3) on 2 images')
    refused = run_tool('tools/deploy.py', MGD_CFG, demo_checkpoints['mgd'], '--out', out,
                       '--images', image_dir, '--check', 0, check=False)  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == 'error: --check 0: pass 1 or more'


def test_test_and_infer_run_the_onnx_file_as_the_checkpoint(demo_checkpoints, image_dir, tmp_path):
    """``tools/test.py CONFIG model.onnx`` scores what ``tools/test.py CONFIG ckpt`` scores:
    the same detections on every test image, the same metrics; ``tools/infer.py`` draws it."""
    import pickle

    from mgd.datasets.converters.synthetic import make_demo_data

    model = build_model(MGD_CFG, demo_checkpoints['mgd'])
    with torch.no_grad():  # scores spread out: no near-ties for the top 100 to swap
        model.bbox_head.retina_cls.weight.mul_(4)
        model.bbox_head.retina_cls.bias.fill_(-3.0)
    student = save(model.state_dict(), tmp_path / 'student.pth')  # as convert_to_student writes
    files = export(model, load_image(model, str(image_dir / 'a.jpg'))[0], str(tmp_path))
    data = tmp_path / 'data'
    make_demo_data(str(data), 2, 3, seed=0)
    runs = {}
    for name, weights in (('pytorch', student), ('onnx', files['onnx'])):
        run_tool('tools/test.py', STUDENT_CFG, weights, '--work-dir', tmp_path / name,
                 '--out', tmp_path / f'{name}.pkl', '--cfg-options',
                 f'test_dataloader.dataset.data_root={data}/',
                 f'test_evaluator.ann_file={data}/annotations/instances_val.json')  # fmt: skip
        runs[name] = (
            pickle.loads((tmp_path / f'{name}.pkl').read_bytes()),
            json.loads((tmp_path / name / 'test_metrics.json').read_text()),
        )
    (ours, our_metrics), (theirs, their_metrics) = runs['pytorch'], runs['onnx']
    assert len(ours) == len(theirs) == 3
    for a, b in zip(ours, theirs):
        a, b = a['pred_instances'], b['pred_instances']
        assert len(a['labels']) == len(b['labels']) > 0
        assert torch.equal(a['labels'], b['labels'])
        np.testing.assert_allclose(b['bboxes'], a['bboxes'], atol=1e-2)
        np.testing.assert_allclose(b['scores'], a['scores'], atol=1e-5)
    assert {k: v for k, v in our_metrics.items() if k != 'checkpoint'} == {
        k: v for k, v in their_metrics.items() if k != 'checkpoint'
    }
    drawn = run_tool('tools/infer.py', STUDENT_CFG, files['onnx'], image_dir / 'b.png', '--out',
                     tmp_path / 'drawn', '--score-thr', 0.5).stdout  # fmt: skip
    assert f'{tmp_path / "drawn" / "b.png"}: ' in drawn and 'detections with score > 0.5' in drawn


def test_checked_and_calibration_images_are_spread_over_the_folder():
    spread = runpy.run_path(str(REPO / 'tools/deploy.py'))['spread']
    names = [f'{c}_{i}.jpg' for c in ('crazing', 'inclusion', 'patches') for i in range(4)]
    assert spread(names, 3) == ['crazing_0.jpg', 'inclusion_2.jpg', 'patches_3.jpg']  # 0, 5.5, 11
    assert spread(names, 1) == ['crazing_0.jpg'] and spread(names[:2], 5) == names[:2]


def test_complexity_times_the_onnx_files_beside_pytorch(exported, image_dir, tmp_path):
    model, files, out = exported
    int8 = quantize(model, files['onnx'], [str(image_dir / 'a.jpg')], str(tmp_path / 'int8.onnx'))
    table = run_tool('tools/analysis/complexity.py', MGD_CFG, files['onnx'], int8, '--names',
                     'mgd', 'fp32', 'int8', '--shape', 3, 64, 64, '--runs', 2, '--warmup', 1,
                     '--threads', 1).stdout  # fmt: skip
    lines = [line for line in table.splitlines() if line.startswith('|')]  # not the log lines
    assert 'latency (cpu, 1 threads, ms)' in lines[0] and lines[0].endswith('file (MiB) |')
    cells = {row[0]: row for row in (line.strip('| ').split(' | ') for line in lines[2:])}
    assert list(cells) == ['mgd', 'fp32', 'int8']
    assert cells['mgd'][1] == f'{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M'
    assert cells['mgd'][3].endswith(' G') and cells['mgd'][7] == '—'
    for name in ('fp32', 'int8'):  # parameters and FLOPs are not counted on a file
        assert cells[name][1:5] == ['—'] * 4
    mib = {name: os.path.getsize(path) / 2**20 for name, path in (('fp32', files['onnx']),
                                                                   ('int8', int8))}  # fmt: skip
    assert [float(cells[name][7]) for name in mib] == pytest.approx(list(mib.values()), abs=0.01)
    assert mib['int8'] < mib['fp32'] / 2
    assert all(float(cells[name][5]) > 0 for name in cells)  # latency in ms
    refused = run_tool('tools/analysis/complexity.py', MGD_CFG, files['onnx'], '--device',
                       'cuda', check=False)  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == (
        f'error: {files["onnx"]} runs under ONNX Runtime on the CPU: time it with --device cpu, '
        'or leave the ONNX files out'
    )


INT8_MAP_TOLERANCE = 0.05  # docs/user_guides/deploy.md states it


def test_a_trained_student_keeps_its_map_through_export_and_int8(tmp_path):
    """The demo student trained to remember 4 synthetic images (40 iterations of batch 4), so
    that it really detects: ``tools/deploy.py`` finds ONNX Runtime's detections equal to
    PyTorch's, and ``tools/test.py`` scores the INT8 file within the stated tolerance of fp32."""
    from mgd.datasets.converters.synthetic import make_demo_data

    data = tmp_path / 'data'
    make_demo_data(str(data), 4, 1, seed=0)
    ann = 'annotations/instances_train.json'  # scored on the images it learned
    on_train = [f'{split}_dataloader.dataset.{key}' for split in ('train', 'val', 'test')
                for key in ('data_root', 'ann_file')]  # fmt: skip
    options = [f'{k}={data}/' if k.endswith('data_root') else f'{k}={ann}' for k in on_train]
    options += [f'{split}_evaluator.ann_file={data}/{ann}' for split in ('val', 'test')]
    run_tool('tools/train.py', STUDENT_CFG, '--work-dir', tmp_path / 'train', '--cfg-options',
             *options, 'train_dataloader.batch_size=4', 'train_cfg.max_epochs=40',
             'train_cfg.val_interval=40', 'default_hooks.checkpoint.interval=40',
             'param_scheduler.1.milestones=[35]')  # fmt: skip
    out = tmp_path / 'deploy'
    weights = tmp_path / 'train/epoch_40.pth'
    deployed = run_tool('tools/deploy.py', STUDENT_CFG, weights, '--out', out, '--images',
                        data / 'images', '--int8', '--cfg-options', *options).stdout  # fmt: skip
    lines = deployed.splitlines()
    assert '5 of 5 images: the same predictions as PyTorch' in lines
    # calibrated on the config's training set: the 4 training images, not the validation one
    assert any(line.startswith(f'wrote {out / "model_int8.onnx"} (calibrated on 4 images)')
               for line in lines)  # fmt: skip
    scores = {}
    for name in ('model', 'model_int8'):
        run_tool('tools/test.py', STUDENT_CFG, out / f'{name}.onnx', '--work-dir',
                 tmp_path / name, '--cfg-options', *options)  # fmt: skip
        scores[name] = json.loads((tmp_path / name / 'test_metrics.json').read_text())
    fp32, int8 = scores['model']['coco/bbox_mAP'], scores['model_int8']['coco/bbox_mAP']
    assert fp32 >= 0.3  # it learned: else the comparison would say nothing
    assert abs(int8 - fp32) <= INT8_MAP_TOLERANCE


def test_calibrating_on_a_missing_training_set_names_it(tmp_path):
    from mgd.deploy.onnx_model import training_images

    model = build_model(STUDENT_CFG, init_weights=False)
    model.cfg.train_dataloader.dataset.data_root = f'{tmp_path}/nope/'
    with pytest.raises(FileNotFoundError, match=f'{tmp_path}/nope/annotations/instances_train'):
        training_images(model)
