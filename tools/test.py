"""Evaluate a checkpoint: COCO bbox/segm mAP for detectors, top-1/top-5 for classifiers.

Works with a distillation config and its checkpoint (the student is evaluated), or with the
stock student config and a checkpoint from ``tools/convert_to_student.py``. Given an ``.onnx``
file from ``tools/deploy.py`` instead of a checkpoint, the network runs under ONNX Runtime
(CPU) and the config's pipeline, post-processing and metrics score it: the accuracy after
export (fp32 or INT8).
"""

import argparse
import json
import os.path as osp

from mmengine.runner import Runner

import mgd.models  # noqa: F401  (stack fixes; registers the MGD classes)
from mgd.deploy.onnx_model import predict_with_onnx
from mgd.utils.checkpoint import is_url, load_strictly
from mgd.utils.config import add_common_arguments, load_config
from mgd.utils.distill_config import drop_teacher_ckpts
from mgd.utils.errors import ConfigError, run_main
from mgd.utils.fileio import write_atomically
from mgd.utils.launch import setup_launcher
from mgd.utils.preflight import check_data
from mgd.utils.run_checks import check_work_dir


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    add_common_arguments(parser)
    parser.add_argument('checkpoint', help='checkpoint file, or an .onnx file of tools/deploy.py')
    parser.add_argument('--out', help='also dump the raw predictions to this .pkl file')
    return parser.parse_args()


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.allow_new_keys)
    check_work_dir(cfg)
    check_data(cfg, 'test')
    if not is_url(args.checkpoint) and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint!r} does not exist')
    cfg.load_from = None  # loaded strictly below: mmengine's load_from only warns on mismatch
    # A distillation checkpoint holds every weight: don't fetch the teachers' again.
    drop_teacher_ckpts(cfg.model)
    if args.out:
        cfg.test_evaluator = [
            *([cfg.test_evaluator] if isinstance(cfg.test_evaluator, dict) else cfg.test_evaluator),
            dict(type='DumpResults', out_file_path=args.out),
        ]
    onnx = args.checkpoint.endswith('.onnx')
    if onnx:
        if args.launcher != 'none':
            raise ConfigError('an .onnx file is tested in one process: leave out --launcher')
    setup_launcher(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    if onnx:
        predict_with_onnx(runner.model, args.checkpoint)
    else:
        load_strictly(runner.model, args.checkpoint)
    metrics = runner.test()
    if runner.rank == 0:
        for key, value in metrics.items():
            print(f'{key}: {value}')
        result = json.dumps(dict(metrics, checkpoint=args.checkpoint), indent=1)
        write_atomically({osp.join(cfg.work_dir, 'test_metrics.json'): result})


if __name__ == '__main__':
    run_main(main)
