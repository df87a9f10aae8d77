"""The embedded demo: MGD end to end on synthetic NEU-DET-like data, on the CPU, no downloads.

1. generates the data set (tools/misc/make_demo_data.py) unless it is there;
2. trains a small teacher and a baseline student (tools/train.py), then the MGD student with
   inheriting through ``tools/dist_train.sh`` with 2 processes (gloo without a GPU);
3. evaluates all three with tools/test.py and prints a comparison table.

``make demo`` runs it; ``--quick`` is the few-iteration version the tests run.
"""

import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

from mmengine.runner import find_latest_checkpoint

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PYTHON = sys.executable
CONFIGS = {
    'teacher': 'configs/demo/retinanet_r18-w32_demo.py',
    'baseline': 'configs/demo/retinanet_r18-w16_demo.py',
    'mgd': 'configs/demo/mgd_fpn_retina_r18-w32_retina_r18-w16_demo.py',
}


def run(cmd: list[str], log: str) -> None:
    """Runs ``cmd`` from the repo root, its output into ``log``; raises with the log's tail."""
    start = time.time()
    with open(log, 'w') as f:
        result = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if result.returncode:
        with open(log) as f:
            tail = ''.join(f.readlines()[-30:])
        raise SystemExit(f'failed ({result.returncode}): {" ".join(cmd)}\n{tail}\nfull log: {log}')
    print(f'   done in {time.time() - start:.0f} s (log: {osp.relpath(log, ROOT)})', flush=True)


def count_student_params(config: str) -> int:
    """Parameters of the model a config evaluates (the student for distillation configs)."""
    from mmengine.analysis import parameter_count

    import mgd.models  # noqa: F401  (registers the MGD classes)
    from mgd.analysis.models import build_model

    return parameter_count(build_model(osp.join(ROOT, config), init_weights=False))['']


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/demo_neu_det')
    parser.add_argument('--epochs', type=int, default=None, help="override every run's epochs")
    parser.add_argument('--quick', action='store_true', help='tiny data and 1 epoch (tests)')
    args = parser.parse_args()

    work_dir = osp.abspath(args.work_dir)
    data_root = osp.abspath(args.data_root)
    os.chdir(ROOT)  # configs and tools are named relative to the repository
    os.makedirs(work_dir, exist_ok=True)
    sizes = ['--train', '16', '--val', '8'] if args.quick else []
    epochs = 1 if args.quick else args.epochs

    if not osp.isfile(osp.join(data_root, 'annotations', 'instances_val.json')):
        print(f'>> generating the synthetic data set in {data_root}', flush=True)
        run(
            [PYTHON, 'tools/misc/make_demo_data.py', data_root, *sizes],
            osp.join(work_dir, 'make_data.log'),
        )

    # data_root is resolved into each dataloader when the config loads: set every use.
    ann_val = osp.join(data_root, 'annotations', 'instances_val.json')
    common = [
        f'{split}_dataloader.dataset.data_root={data_root}/' for split in ('train', 'val', 'test')
    ]
    common += [f'val_evaluator.ann_file={ann_val}', f'test_evaluator.ann_file={ann_val}']
    if epochs:
        common += [f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}']
    metrics = {}
    for name, config in CONFIGS.items():
        run_dir = osp.join(work_dir, name)
        options = list(common)
        test_options = list(common)
        if args.quick:  # after 1 epoch nothing scores 0.05 yet: keep every box, so mAP exists
            prefix = 'model.architecture' if name == 'mgd' else 'model'
            test_options.append(f'{prefix}.test_cfg.score_thr=0.0')
        if name == 'mgd':
            teacher_ckpt = find_latest_checkpoint(osp.join(work_dir, 'teacher'))
            options.append(f'model.teacher_ckpt={teacher_ckpt}')
            options.append('train_dataloader.batch_size=4')  # 2 processes × 4 = 8, as the others
            train = ['bash', 'tools/dist_train.sh', config, '2']
            how = 'tools/dist_train.sh with 2 processes'
        else:
            train = [PYTHON, 'tools/train.py', config]
            how = 'tools/train.py'
        print(f'>> training the {name} ({config}) with {how}', flush=True)
        run(
            [*train, '--work-dir', run_dir, '--cfg-options', *options],
            osp.join(work_dir, f'train_{name}.log'),
        )
        print(f'>> testing the {name}', flush=True)
        run(
            [
                PYTHON,
                'tools/test.py',
                config,
                find_latest_checkpoint(run_dir),
                '--work-dir',
                run_dir,
                '--cfg-options',
                *test_options,
            ],
            osp.join(work_dir, f'test_{name}.log'),
        )
        with open(osp.join(run_dir, 'test_metrics.json')) as f:
            metrics[name] = json.load(f)

    rows = [
        '| model | parameters | bbox mAP | AP50 | AP_S | AP_M | AP_L |',
        '|---|---|---|---|---|---|---|',
    ]
    keys = ['bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_s', 'bbox_mAP_m', 'bbox_mAP_l']
    for name, config in CONFIGS.items():
        # A barely trained model can predict nothing, and CocoMetric then reports nothing.
        values = ' | '.join(
            f'{100 * metrics[name][f"coco/{k}"]:.1f}' if f'coco/{k}' in metrics[name] else 'n/a'
            for k in keys
        )
        rows.append(f'| {name} | {count_student_params(config) / 1e6:.2f} M | {values} |')
    table = '\n'.join(rows)
    with open(osp.join(work_dir, 'results.md'), 'w') as f:
        f.write(table + '\n')
    print('\n' + table + f'\n\nwritten to {osp.relpath(osp.join(work_dir, "results.md"), ROOT)}')

    from mgd.analysis import demo_report

    print('>> attention maps, training curves and complexity of the three models', flush=True)
    checkpoints = {name: find_latest_checkpoint(osp.join(work_dir, name)) for name in CONFIGS}
    image = osp.join(data_root, 'images', 'val_0000.jpg')
    for what, path in demo_report(work_dir, CONFIGS, checkpoints, image).items():
        print(f'   {what}: {osp.relpath(path, ROOT)}')


if __name__ == '__main__':
    main()
