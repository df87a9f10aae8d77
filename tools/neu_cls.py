"""Multi-teacher vs single-teacher vs no teacher, on real defect images (NEU-CLS from NEU-DET).

    python tools/neu_cls.py --neu-det /path/to/NEU-DET [--seeds 3]

Converts NEU-DET's images into data/neu_cls (tools/dataset_converters/neu_det_to_cls.py; the
class is the file-name prefix, 300 images per class, split 7:2:1), trains the two teachers
(ResNet-18 and ResNet-34 with 32 base channels) and, for each seed, the ResNet-18-w8 student
three ways: alone (``none``), with MGD + logit KD from ResNet-34-w32 (``single``), and with MGD
from both teachers + KD from their averaged soft labels (``multi``), all from scratch at 64 px
on the CPU (configs/neu_cls/). Every run is tested on the val and the test split. Writes
WORK_DIR/results.{md,json}: accuracy, mean and per-class precision and recall (mean ± sample
std over seeds), parameters, FLOPs and CPU latency. A killed run resumes; finished runs are not
trained or tested again. ``--quick``: 1 epoch, 1 seed, the val split (the tests).
"""

from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
import time

from mgd.experiments.runs import run_logged, test_run, train_run
from mgd.utils.errors import run_main

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PYTHON = sys.executable
CONFIGS = 'configs/neu_cls'
TEACHERS = {
    'r18': f'{CONFIGS}/resnet18-w32_neu_cls.py',
    'r34': f'{CONFIGS}/resnet34-w32_neu_cls.py',
}
STUDENTS = {
    'none': (f'{CONFIGS}/resnet18-w8_neu_cls.py', ()),
    'single': (f'{CONFIGS}/mgd-kd_resnet34-w32_resnet18-w8_neu_cls.py', ('r34',)),
    'multi': (
        f'{CONFIGS}/mgd-mtkd_resnet18-w32-resnet34-w32_resnet18-w8_neu_cls.py',
        ('r18', 'r34'),
    ),
}
SPLITS = ('val', 'test')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
EPOCHS = 30
SHAPE = (3, 64, 64)


def plan(seeds: int) -> list[dict]:
    """The runs in order: the teachers, then each seed's three students."""
    runs = [
        dict(name=f'teacher_{t}', row=f'teacher_{t}', config=c, seed=0, teachers=())
        for t, c in TEACHERS.items()
    ]
    for seed in range(seeds):
        for row, (config, teachers) in STUDENTS.items():
            runs.append(
                dict(name=f'{row}_seed{seed}', row=row, config=config, seed=seed, teachers=teachers)
            )
    return runs


def flat_metrics(metrics: dict, classes: tuple[str, ...]) -> dict[str, float]:
    """mmpretrain's metrics (in %) as fractions, per-class lists as one key per class."""
    flat = {
        'accuracy': metrics['accuracy/top1'] / 100,
        'precision': metrics['single-label/precision'] / 100,
        'recall': metrics['single-label/recall'] / 100,
    }
    for what in ('precision', 'recall'):
        for name, value in zip(classes, metrics[f'single-label/{what}_classwise'], strict=True):
            flat[f'{what}/{name}'] = value / 100
    return flat


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--neu-det', metavar='PATH', help='NEU-DET (IMAGES/ inside)')
    parser.add_argument('--seeds', type=int, default=3, help='seeds per student row')
    parser.add_argument('--work-dir', default='work_dirs/neu_cls')
    parser.add_argument('--data-root', default='data/neu_cls')
    parser.add_argument('--quick', action='store_true', help='1 epoch, 1 seed, val (tests)')
    args = parser.parse_args()
    if args.seeds < 1:
        parser.error(f'--seeds must be at least 1, got {args.seeds}')

    os.chdir(ROOT)
    work_dir, data_root = osp.abspath(args.work_dir), osp.abspath(args.data_root)
    os.makedirs(work_dir, exist_ok=True)
    env = dict(os.environ)
    if not osp.isfile(osp.join(data_root, 'meta', 'test.txt')):
        if not args.neu_det:
            raise SystemExit(
                f'error: {data_root} has no meta/test.txt: pass --neu-det /path/to/NEU-DET'
            )
        print(f'>> converting {args.neu_det} into {data_root}', flush=True)
        converter = [PYTHON, 'tools/dataset_converters/neu_det_to_cls.py', args.neu_det, data_root]
        run_logged(converter, osp.join(work_dir, 'convert.log'), env, ROOT)
    epochs = 1 if args.quick else EPOCHS
    seeds = 1 if args.quick else args.seeds
    splits = SPLITS[:1] if args.quick else SPLITS
    common = [
        *(f'{loader}.dataset.data_root={data_root}/' for loader in LOADERS),
        f'train_cfg.max_epochs={epochs}',
        f'train_cfg.val_interval={epochs}',
    ]
    runs = plan(seeds)
    start = time.time()
    metrics: dict[str, dict] = {}
    for i, spec in enumerate(runs, start=1):
        name, run_dir = spec['name'], osp.join(work_dir, spec['name'])
        final = osp.join(run_dir, f'epoch_{epochs}.pth')
        options = [*common, f'randomness.seed={spec["seed"]}']
        options += [
            f'model.teacher.teachers.{t}.ckpt={work_dir}/teacher_{t}/epoch_{epochs}.pth'
            for t in spec['teachers']
        ]
        print(f'>> [{i}/{len(runs)}] {name}: {spec["config"]}, seed {spec["seed"]}', flush=True)
        began = time.time()
        train = [PYTHON, 'tools/train.py', spec['config']]
        log = osp.join(work_dir, f'train_{name}.log')
        if train_run(train, options, run_dir, final, log, env, ROOT):
            print(f'   trained in {(time.time() - began) / 60:.1f} min', flush=True)
        metrics[name] = {}
        for split in splits:
            test_options = [*common, f'test_dataloader.dataset.ann_file=meta/{split}.txt']
            test_dir = osp.join(run_dir, f'test_{split}')
            log = osp.join(work_dir, f'test_{name}_{split}.log')
            metrics[name][split] = test_run(
                PYTHON, spec['config'], final, test_options, test_dir, log, env, ROOT
            )
    report(args, runs, metrics, splits, work_dir, data_root, time.time() - start)


def report(args, runs, metrics, splits, work_dir, data_root, seconds) -> None:
    """Prints and writes the tables."""
    from mgd.analysis.complexity import measure
    from mgd.datasets.metainfo import NEU_DET_CLASSES
    from mgd.experiments.tables import markdown_table, summarize, write_results

    rows = list(dict.fromkeys(r['row'] for r in runs))
    models = {**{f'teacher_{t}': c for t, c in TEACHERS.items()}, 'student': STUDENTS['none'][0]}
    sizes = {c.name: c for c in measure(models, SHAPE, 'cpu', runs=0 if args.quick else 50)}
    extra = {}
    for row in rows:
        size = sizes[row if row.startswith('teacher') else 'student']
        extra[row] = {
            'params': f'{size.params / 1e6:.2f} M',
            'FLOPs': f'{size.flops / 1e6:.1f} M',
            'CPU ms': f'{size.latency_ms:.2f}',
        }
    per_class = [f'{what}/{name}' for name in NEU_DET_CLASSES for what in ('precision', 'recall')]
    columns = ['accuracy', 'precision', 'recall', *per_class]
    text, summaries = [], {}
    for split in splits:
        by_row = {
            row: [
                flat_metrics(metrics[r['name']][split], NEU_DET_CLASSES)
                for r in runs
                if r['row'] == row
            ]
            for row in rows
        }
        summary = summaries[split] = summarize(by_row, [(c, c) for c in columns])
        text.append(f'{split} split, in % (mean ± sample std over seeds):\n')
        text.append(markdown_table(summary, columns[:3], extra, ['params', 'FLOPs', 'CPU ms']))
        text.append(f'\nper-class precision / recall, {split} split:\n')
        text.append(markdown_table(summary, per_class))
        text.append('\n')
    table = ''.join(text)
    path = write_results(
        work_dir,
        table,
        metrics,
        summaries,
        seconds,
        data_root=data_root,
        input=f'{SHAPE[1]}x{SHAPE[2]}, FLOPs = multiply-adds (mmengine), CPU ms = batch 1 median',
    )
    print('\n' + table + f'written to {osp.relpath(path, ROOT)}')


if __name__ == '__main__':
    run_main(main)
