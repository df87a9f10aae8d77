"""MGD end to end: a teacher, baseline students and MGD students, trained, tested and compared.

Three data sets, one command:

* ``python tools/demo.py`` (``make demo``): the embedded synthetic NEU-DET look-alike, made by
  tools/misc/make_demo_data.py unless it is there. CPU, no download, about 10 minutes.
* ``python tools/demo.py --neu-det PATH [--seeds 3]``: the real NEU-DET (VOC XML + images, as
  distributed), converted by tools/dataset_converters/neu_det_to_coco.py, small RetinaNets
  trained from scratch (configs/neu_det/*_scratch_neu_det.py).
* ``python tools/demo.py --data PATH``: your own detection data, a Pascal-VOC folder (converted
  into data/NAME/, keeping its ImageSets/Main split or --split-file) or a COCO layout
  (PATH/annotations/instances_{train,val[,test]}.json, PATH/images/). The NEU-DET recipe (or
  ``--recipe pretrained``: RetinaNet R101 -> R50 from COCO checkpoints, configs/own_data/) adapted
  to the data: classes, an input size chosen from the boxes' sizes, anchors fitted to their
  shapes; the adapted configs are written into WORK_DIR/configs/ (mgd/experiments/own_data.py).

Runs (``ROW_seedK``): the teacher; then for each seed the baseline student, the MGD student
(5 FPN levels, α 2e-5, λ 0.65, neck and head inherited) and the ablations that separate MGD's
two parts: inheriting only (α = 0) and, on real data, the MGD loss without inheriting, MGD
without its mask (``mask_free``: λ = 0, the same generation block) and MGD + output KD on the
head's class scores (``mgd_kd``, configs/neu_det/mgd-kd_*). Each
run is tools/train.py (the synthetic demo's MGD rows: tools/dist_train.sh with 2 processes)
and tools/test.py; a finished run is not trained (nor tested) again and a killed one resumes
from its last checkpoint, so a killed experiment continues where it stopped. Writes
WORK_DIR/results.{md,json} and WORK_DIR/analysis/; the table ends with the verdict: MGD's gain
over the baseline, mean ± std over the seeds, against the seed spread. With ``--neu-det`` and
``--data`` the distilled runs share one teacher-feature cache, WORK_DIR/teacher_cache
(``model.teacher_cache``): the teacher runs once per image and flip over all seeds and rows
(``--no-teacher-cache``: on every batch, as the synthetic demo does).
``--family yolov5`` runs the same experiment with mmyolo's YOLOv5 (configs/neu_det/yolov5_*
and *_yolov5_s_yolov5_n_*: a YOLOv5-s teacher, YOLOv5-n students) on either data set, with
the rows baseline, MGD (3 neck outputs, no inheriting: the student's neck and head are
narrower), YOLOv5's output distillation (``kd``) and MGD + output distillation (``mgd_kd``).
``--quick`` is the few-iteration version the tests run. ``--device cuda`` runs on the GPU.
"""

import argparse
import json
import os
import os.path as osp
import sys
import time
from collections.abc import Sequence

import torch
from mmengine.config import Config
from mmengine.runner import find_latest_checkpoint

from mgd.experiments.runs import run_logged, test_run, train_run
from mgd.utils.errors import run_main

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PYTHON = sys.executable
SETUPS = {
    'demo': dict(
        teacher='configs/demo/retinanet_r18-w32_demo.py',
        student='configs/demo/retinanet_r18-w16_demo.py',
        mgd='configs/demo/mgd_fpn_retina_r18-w32_retina_r18-w16_demo.py',
        ablations=('inherit_only',),
        mgd_processes=2,
    ),
    'neu_det': dict(
        teacher='configs/neu_det/retinanet_r18-w32_scratch_neu_det.py',
        student='configs/neu_det/retinanet_r18-w16_scratch_neu_det.py',
        mgd='configs/neu_det/mgd_fpn_retina_r18-w32_retina_r18-w16_scratch_neu_det.py',
        ablations=('inherit_only', 'mgd_without_inherit', 'mask_free'),
        # rows with a config of their own: MGD + output KD on the head's class scores
        more=(
            (
                'mgd_kd',
                'configs/neu_det/mgd-kd_fpn_retina_r18-w32_retina_r18-w16_scratch_neu_det.py',
            ),
        ),
        mgd_processes=1,
    ),
    'yolov5': dict(
        teacher='configs/neu_det/yolov5_s_scratch_neu_det.py',
        student='configs/neu_det/yolov5_n_scratch_neu_det.py',
        mgd='configs/neu_det/mgd_yolov5_s_yolov5_n_scratch_neu_det.py',
        ablations=(),  # nothing to inherit: the student's neck and head are narrower
        more=(
            ('kd', 'configs/neu_det/kd-yolov5_yolov5_s_yolov5_n_scratch_neu_det.py'),
            ('mgd_kd', 'configs/neu_det/mgd-kd-yolov5_yolov5_s_yolov5_n_scratch_neu_det.py'),
        ),
        mgd_processes=1,
    ),
    # --data PATH --recipe pretrained: COCO-pretrained RetinaNets, for a GPU
    'pretrained': dict(
        teacher='configs/own_data/retinanet_r101_fpn_36e_own_data.py',
        student='configs/own_data/retinanet_r50_fpn_36e_own_data.py',
        mgd='configs/own_data/mgd_fpn_retina_r101_retina_r50_36e_own_data.py',
        ablations=('inherit_only', 'mgd_without_inherit', 'mask_free'),
        mgd_processes=1,
    ),
}
SCRATCH = dict(retinanet='neu_det', yolov5='yolov5')  # --data's from-scratch recipe per family
# ablation -> (where in the distiller, the setting for every MGD level there, other options):
# alpha lives in the losses, the masked fraction lambda in the connectors
ABLATIONS = {
    'inherit_only': ('distill_losses', 'alpha_mgd=0', []),
    'mgd_without_inherit': (None, None, ['model.inherit=[]']),
    'mask_free': ('connectors', 'lambda_mgd=0', []),
}
# Relative cost of one epoch (the student's = 1), for the time estimate.
COST = dict(
    teacher=2.0,
    baseline=1.0,
    mgd=1.5,
    inherit_only=1.5,
    mgd_without_inherit=1.5,
    mask_free=1.5,
    kd=1.6,
    mgd_kd=1.7,
)


def ablation_options(row: str, config: str) -> list[str]:
    """``--cfg-options`` of an ablation of the MGD config ``config`` (every MGD level)."""
    section, setting, options = ABLATIONS[row]
    if section is None:
        return options
    modules = Config.fromfile(osp.join(ROOT, config)).model.distiller[section]
    keys = [f'model.distiller.{section}.{name}' for name in modules if 'mgd' in name]
    return [*(f'{key}.{setting}' for key in keys), *options]


def row_names(setup: dict) -> list[str]:
    """The student rows of a setup, in order."""
    more = [row for row, _ in setup.get('more', ())]
    return ['baseline', 'mgd', *setup['ablations'], *more]


def plan(setup: dict, seeds: int, only: Sequence[str] | None = None) -> list[dict]:
    """The runs, in order: ``dict(name, row, config, seed, options)``, named ``ROW_seedK``.
    Seed 0 of every row comes first, so that a partial run already separates MGD's two parts.
    ``only``: the student rows to run (the teacher always runs)."""
    runs = [dict(name='teacher', row='teacher', config=setup['teacher'], seed=0, options=[])]
    rows = [
        ('baseline', setup['student'], []),
        ('mgd', setup['mgd'], []),
        *((row, setup['mgd'], ablation_options(row, setup['mgd'])) for row in setup['ablations']),
        *((row, config, []) for row, config in setup.get('more', ())),
    ]
    rows = [r for r in rows if only is None or r[0] in only]
    for seed in range(seeds):
        for row, config, options in rows:
            name = f'{row}_seed{seed}'
            runs.append(dict(name=name, row=row, config=config, seed=seed, options=options))
    return runs


def epochs_of(config: str, override: int | None) -> int:
    return override or Config.fromfile(osp.join(ROOT, config)).train_cfg.max_epochs


def data_options(data_root: str, splits: tuple) -> list[str]:
    """``--cfg-options`` that point a config at ``data_root`` (every dataloader and metric)."""
    options = [f'{s}_dataloader.dataset.data_root={data_root}/' for s in ('train', 'val', 'test')]
    if 'test' not in splits:  # the synthetic set has no test split: test on val
        ann_val = osp.join(data_root, 'annotations', 'instances_val.json')
        options += [f'val_evaluator.ann_file={ann_val}', f'test_evaluator.ann_file={ann_val}']
    return options


def prepare_data(args, work_dir: str) -> str:
    env = dict(os.environ)
    if args.neu_det:
        data_root = osp.abspath(args.data_root or 'data/neu_det')
        if not osp.isfile(osp.join(data_root, 'annotations', 'instances_test.json')):
            print(f'>> converting {args.neu_det} into {data_root}', flush=True)
            run_logged(
                [PYTHON, 'tools/dataset_converters/neu_det_to_coco.py', args.neu_det, data_root],
                osp.join(work_dir, 'convert.log'),
                env,
                ROOT,
            )
        return data_root
    data_root = osp.abspath(args.data_root or 'data/demo_neu_det')
    if not osp.isfile(osp.join(data_root, 'annotations', 'instances_val.json')):
        print(f'>> generating the synthetic data set in {data_root}', flush=True)
        sizes = ['--train', '16', '--val', '8'] if args.quick else []
        run_logged(
            [PYTHON, 'tools/misc/make_demo_data.py', data_root, *sizes],
            osp.join(work_dir, 'make_data.log'),
            env,
            ROOT,
        )
    return data_root


def shown(path: str) -> str:
    """``path`` relative to the repository when it is inside, else as it is."""
    relative = osp.relpath(path, ROOT)
    return path if relative.startswith('..') else relative


def own_data_setup(args, work_dir: str, on_gpu: bool) -> dict:
    """``--data PATH``: the data in the COCO layout, the input chosen for it, and the recipe's
    configs adapted to both, written into ``work_dir/configs/``."""
    from mgd.datasets.converters.cli import check_classes, read_classes_file
    from mgd.experiments.own_data import choose_input, prepare_data, write_configs

    classes = args.classes
    if args.classes_file:
        classes = read_classes_file(args.classes_file)
    if classes:
        check_classes(classes, '--classes-file' if args.classes_file else '--classes')
    name = osp.basename(osp.normpath(args.data))
    data_root = args.data_root or osp.join(ROOT, 'data', name)
    print(f'>> data: {args.data}', flush=True)
    spec = prepare_data(args.data, data_root, classes, args.split_file)
    train_file = osp.join(spec.data_root, 'annotations', 'instances_train.json')
    family = 'yolov5' if args.family == 'yolov5' else 'retinanet'
    choose_input(spec, train_file, family, 'cuda' if on_gpu else 'cpu', args.image_size)
    for note in spec.notes:
        print('   ' + note.replace('\n', '\n   '), flush=True)
    recipe = SETUPS[{'pretrained': 'pretrained'}.get(args.recipe, SCRATCH[args.family])]
    configs = {'teacher': recipe['teacher'], 'student': recipe['student'], 'mgd': recipe['mgd']}
    configs |= dict(recipe.get('more', ()))
    header = [
        f'data_root {spec.data_root}, classes {list(spec.classes)}, input {spec.size} px',
        'anchors: '
        + (f'ratios {spec.ratios}, octave_base_scale {spec.anchor_base:g}' if spec.ratios else '')
        + (f'{spec.yolo_anchors}' if spec.yolo_anchors else ''),
    ]
    written = write_configs(configs, spec, osp.join(work_dir, 'configs'), ROOT, header)
    print(f'>> configs: {shown(osp.join(work_dir, "configs"))}/{{{",".join(written)}}}.py')
    more = tuple((row, written[row]) for row, _ in recipe.get('more', ()))
    return dict(
        recipe,
        teacher=written['teacher'],
        student=written['student'],
        mgd=written['mgd'],
        more=more,
        splits=spec.splits,
        classes=spec.classes,
        size=spec.size,
        data_root=spec.data_root,
    )


def preset_setup(args) -> dict:
    """The synthetic demo and real NEU-DET: their configs as they are."""
    from mgd.datasets.metainfo import NEU_DET_CLASSES

    setup = SETUPS['yolov5' if args.family == 'yolov5' else 'neu_det' if args.neu_det else 'demo']
    pipeline = Config.fromfile(osp.join(ROOT, setup['student'])).test_dataloader.dataset.pipeline
    size = max(next(t['scale'] for t in pipeline if t['type'] == 'Resize'))
    # the synthetic set has no test split
    splits = ('val', 'test') if args.neu_det else ('val',)
    return dict(setup, splits=splits, classes=NEU_DET_CLASSES, size=size)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument('--neu-det', metavar='PATH', help='real NEU-DET (ANNOTATIONS/, IMAGES/)')
    source.add_argument(
        '--data', metavar='PATH', help='your own data: a VOC folder or a COCO layout'
    )
    parser.add_argument(
        '--family', choices=['retinanet', 'yolov5'], default='retinanet', help='the detectors'
    )
    parser.add_argument('--seeds', type=int, default=None, help='seeds per row (3 / demo 1)')
    parser.add_argument('--device', choices=['cpu', 'cuda'], default=None, help='default: any GPU')
    parser.add_argument(
        '--work-dir',
        help='default work_dirs/{demo,neu_det_scratch,NAME}, with --family yolov5 '
        "work_dirs/{demo,neu_det,NAME}_yolov5 (NAME: the --data folder's)",
    )
    parser.add_argument(
        '--data-root', default=None, help='where the COCO-format data goes (default data/NAME)'
    )
    parser.add_argument('--epochs', type=int, default=None, help="override every run's epochs")
    parser.add_argument('--quick', action='store_true', help='1 epoch (and tiny demo data): tests')
    parser.add_argument(
        '--rows',
        nargs='+',
        metavar='ROW',
        help='only these student rows (the teacher always runs), e.g. --rows baseline mgd; '
        'default: all (baseline, mgd, the ablations, the output-KD rows)',
    )
    parser.add_argument(
        '--no-teacher-cache',
        action='store_true',
        help='with --neu-det or --data: run the teacher on every batch instead of storing its '
        'features once in WORK_DIR/teacher_cache',
    )
    own = parser.add_argument_group('with --data')
    classes = own.add_mutually_exclusive_group()
    classes.add_argument('--classes', nargs='+', metavar='NAME', help='the class names, in order')
    classes.add_argument('--classes-file', metavar='FILE', help='one class name a line')
    own.add_argument(
        '--split-file',
        metavar='FILE',
        help='keep this split: "image_id split" a line (default: the VOC folder\'s '
        'ImageSets/Main lists, else random 7:2:1)',
    )
    own.add_argument('--image-size', type=int, help='input size in px (default: from the boxes)')
    own.add_argument(
        '--recipe',
        choices=['scratch', 'pretrained'],
        default='scratch',
        help='scratch: the NEU-DET CPU recipe; pretrained: RetinaNet R101 -> R50 from COCO '
        'checkpoints (configs/own_data/, a GPU)',
    )
    args = parser.parse_args()
    if not args.data:
        for flag in ('classes', 'classes_file', 'split_file', 'image_size'):
            if getattr(args, flag):
                parser.error(f'--{flag.replace("_", "-")} needs --data PATH')
        if args.recipe != 'scratch':
            parser.error('--recipe needs --data PATH')
    elif args.recipe == 'pretrained' and args.family != 'retinanet':
        parser.error('--recipe pretrained is a RetinaNet recipe: leave out --family yolov5')
    if args.seeds is not None and args.seeds < 1:
        parser.error(f'--seeds must be at least 1, got {args.seeds}')
    if args.no_teacher_cache and not (args.neu_det or args.data):
        parser.error('--no-teacher-cache: the synthetic demo runs its teacher on every batch')
    for flag in ('neu_det', 'data', 'data_root', 'work_dir', 'classes_file', 'split_file'):
        if getattr(args, flag):  # the paths as given, before the command moves to the repository
            setattr(args, flag, osp.abspath(getattr(args, flag)))

    if args.data:
        name = osp.basename(osp.normpath(args.data))
        suffix = '_yolov5' * (args.family == 'yolov5') + '_pretrained' * (
            args.recipe == 'pretrained'
        )
        default_dir = f'work_dirs/{name}{suffix}'
    elif args.family == 'yolov5':
        default_dir = 'work_dirs/neu_det_yolov5' if args.neu_det else 'work_dirs/demo_yolov5'
    else:
        default_dir = 'work_dirs/neu_det_scratch' if args.neu_det else 'work_dirs/demo'
    real = bool(args.neu_det or args.data)
    seeds = args.seeds or (3 if real else 1)
    work_dir = osp.abspath(args.work_dir or default_dir)
    os.makedirs(work_dir, exist_ok=True)
    env = dict(os.environ)
    if args.device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    on_gpu = args.device != 'cpu' and torch.cuda.is_available()
    if args.data:
        try:
            setup = own_data_setup(args, work_dir, on_gpu)
        except (OSError, ValueError) as err:  # VOCError is a ValueError
            sys.exit(f'error: {err}\nnothing was trained.')
        os.chdir(ROOT)  # configs and tools are named relative to the repository
        data_root = setup['data_root']
    else:
        setup = preset_setup(args)
        os.chdir(ROOT)
        data_root = prepare_data(args, work_dir)
    epochs = 1 if args.quick else args.epochs
    common = data_options(data_root, setup['splits'])
    if epochs:
        common += [f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}']

    if args.rows:
        unknown = sorted(set(args.rows) - set(row_names(setup)))
        if unknown or 'baseline' not in args.rows:
            parser.error(
                f'--rows: {"unknown " + ", ".join(unknown) if unknown else "baseline is needed"}'
                f' (rows of this experiment: {", ".join(row_names(setup))}; baseline is needed)'
            )
    runs = plan(setup, seeds, args.rows)
    cost = {r['name']: COST[r['row']] * epochs_of(r['config'], epochs) for r in runs}
    start, done_cost = time.time(), 0.0  # the cost of the runs trained by this launch
    metrics: dict[str, dict] = {}
    for i, spec in enumerate(runs, start=1):
        name, run_dir = spec['name'], osp.join(work_dir, spec['name'])
        options = [*common, f'randomness.seed={spec["seed"]}', *spec['options']]
        final = osp.join(run_dir, f'epoch_{epochs_of(spec["config"], epochs)}.pth')
        distilled = spec['row'] != 'teacher' and spec['row'] != 'baseline'
        if distilled:
            teacher_ckpt = find_latest_checkpoint(osp.join(work_dir, 'teacher'))
            options.append(f'model.teacher_ckpt={teacher_ckpt}')
            if (args.neu_det or args.data) and not args.no_teacher_cache:
                options.append(f'model.teacher_cache={osp.join(work_dir, "teacher_cache")}')
        processes = setup['mgd_processes'] if distilled else 1
        if on_gpu:  # one process per GPU: NCCL refuses two ranks on one device
            processes = min(processes, torch.cuda.device_count())
        if processes > 1:  # the demo shows distributed training: 2 processes × 4 = 8 images
            options.append(f'train_dataloader.batch_size={8 // processes}')
            train = ['bash', 'tools/dist_train.sh', spec['config'], str(processes)]
            how = f'tools/dist_train.sh with {processes} processes'
        else:
            train, how = [PYTHON, 'tools/train.py', spec['config']], 'tools/train.py'
        print(
            f'>> [{i}/{len(runs)}] {name}: {spec["config"]}, seed {spec["seed"]}, {how}', flush=True
        )
        began = time.time()
        # a run killed half-way continues from its last checkpoint (RNGStateHook: exactly)
        log = osp.join(work_dir, f'train_{name}.log')
        trained_before = not train_run(train, options, run_dir, final, log, env, ROOT)
        if trained_before:
            print(f'   already trained: {osp.relpath(final, ROOT)}', flush=True)
        else:
            print(f'   trained in {(time.time() - began) / 60:.1f} min', flush=True)
        metrics[name] = {}
        for split in setup['splits']:
            ann_file = f'annotations/instances_{split}.json'
            test_options = [*common, f'test_dataloader.dataset.ann_file={ann_file}']
            if args.quick:  # after 1 epoch nothing scores 0.05 yet: keep every box, so mAP exists
                prefix = 'model.architecture' if distilled else 'model'
                test_options.append(f'{prefix}.test_cfg.score_thr=0.0')
            test_dir = osp.join(run_dir, f'test_{split}')
            log = osp.join(work_dir, f'test_{name}_{split}.log')
            metrics[name][split] = test_run(
                PYTHON, spec['config'], final, test_options, test_dir, log, env, ROOT
            )
        done_cost += 0 if trained_before else cost[name]
        if not done_cost:
            continue
        left = sum(cost[r['name']] for r in runs[i:])
        elapsed = time.time() - start
        eta = elapsed / done_cost * left / 60
        print(f'   {elapsed / 60:.0f} min so far, about {eta:.0f} min left', flush=True)

    report(args, setup, runs, metrics, work_dir, data_root, time.time() - start)


def report(args, setup, runs, metrics, work_dir, data_root, seconds) -> None:
    """Prints and writes the results table, then the attention maps, curves and complexity."""
    from mgd.analysis import demo_report
    from mgd.analysis.complexity import measure
    from mgd.experiments.tables import (
        COLUMNS,
        class_columns,
        markdown_table,
        summarize,
        verdict,
        write_results,
    )

    rows = list(dict.fromkeys(r['row'] for r in runs))
    configs = {'teacher': setup['teacher'], 'student': setup['student']}
    shape = (3, setup['size'], setup['size'])
    sizes = measure(configs, shape, 'cpu', runs=0 if args.quick else 20)
    size = {c.name: c for c in sizes}
    extra = {
        row: {
            'params': f'{size["teacher" if row == "teacher" else "student"].params / 1e6:.2f} M',
            'CPU ms': f'{size["teacher" if row == "teacher" else "student"].latency_ms:.1f}',
        }
        for row in rows
    }
    text, summaries = [], {}
    for split in setup['splits']:
        by_row = {row: [metrics[r['name']][split] for r in runs if r['row'] == row] for row in rows}
        columns = [*COLUMNS, *class_columns(setup['classes'])]
        summary = summaries[split] = summarize(by_row, columns)
        text.append(f'{split} split, bbox AP in % (mean ± sample std over seeds):\n')
        text.append(markdown_table(summary, [c for c, _ in COLUMNS], extra, ['params', 'CPU ms']))
        text.append(f'\nper-class AP, {split} split:\n')
        text.append(markdown_table(summary, list(setup['classes'])))
        text.append('\n')
    split = setup['splits'][-1]  # test, where there is one
    by_row = {row: [metrics[r['name']][split] for r in runs if r['row'] == row] for row in rows}
    text.append('\n'.join(verdict(by_row, split)) + '\n')
    table = ''.join(text)
    path = write_results(work_dir, table, metrics, summaries, seconds, data_root=data_root)
    print('\n' + table + f'written to {osp.relpath(path, ROOT)}')

    print('>> attention maps, training curves and complexity', flush=True)
    # the teacher, seed 0 of each student, the ablations
    names = list(dict.fromkeys(next(r['name'] for r in runs if r['row'] == row) for row in rows))
    model_configs = {n: next(r['config'] for r in runs if r['name'] == n) for n in names}
    checkpoints = {n: find_latest_checkpoint(osp.join(work_dir, n)) for n in names}
    with open(osp.join(data_root, 'annotations', 'instances_val.json')) as f:
        image = osp.join(data_root, 'images', json.load(f)['images'][0]['file_name'])
    for what, path in demo_report(
        work_dir, model_configs, checkpoints, image, latency_runs=0 if args.quick else 20
    ).items():
        print(f'   {what}: {osp.relpath(path, ROOT)}')


if __name__ == '__main__':
    run_main(main)
