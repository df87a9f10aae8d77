"""Time and memory of a distillation step: ours against MMRazor's MGD, and against its parts.

Everything runs in one process on random weights and one random batch; variants are timed in
interleaved rounds (one call of each per round, so that a slow phase of the machine hits all
of them) and reported as medians. ``tools/analysis/benchmark.py`` is the command.

Memory: on a GPU the peak of ``torch.cuda.max_memory_allocated`` during the call, above what
was allocated before it; on the CPU, which has no allocator statistics, the bytes that
autograd saves for the backward pass (the activations a training step holds at its peak;
parameters excluded), counted once per storage.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from mmrazor.registry import MODELS
from torch import nn

from mgd.analysis.offline import build_offline, offline_config

OURS = 'configs/coco/mgd_fpn_retina_x101_retina_r50_2x_coco.py'
NEU_DET = 'configs/neu_det/mgd_fpn_retina_r18-w32_retina_r18-w16_scratch_neu_det.py'
MMRAZOR = 'mmrazor::distill/mmdet/mgd/mgd_fpn_retina_x101_retina_r50_2x_coco.py'
LEVELS = 5  # RetinaNet's FPN outputs: strides 8 .. 128
CHANNELS = 256
HALF = {'bf16': torch.bfloat16, 'fp16': torch.float16}


def synchronize(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize(device)


def timed_rounds(calls: dict[str, Callable], rounds: int, device: str) -> dict[str, list[float]]:
    """Seconds per call: one warm-up round, then ``rounds`` rounds calling each in turn."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for round_ in range(rounds + 1):
        for name, call in calls.items():
            synchronize(device)
            start = time.perf_counter()
            call()
            synchronize(device)
            if round_:  # round 0 warms up (first-batch checks, allocator, kernels)
                times[name].append(time.perf_counter() - start)
    return times


def peak_memory(call: Callable, device: str, exclude: nn.Module | None = None) -> int:
    """Bytes a call needs at its peak (see the module docstring for the CPU measure)."""
    if device.startswith('cuda'):
        synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        call()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    params = {p.untyped_storage().data_ptr() for p in exclude.parameters()} if exclude else set()
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        call()
    return sum(saved.values())


def connector_pairs(kind: str, lambda_mgd: float, alpha_mgd: float) -> nn.ModuleList:
    """One (connector, loss) per FPN level: ours (``'mgd'``) or MMRazor's (``'mmrazor'``)."""
    names = {
        'mgd': ('mmrazor.MaskedGenerativeConnector', 'mmrazor.MaskedGenerativeLoss'),
        'mmrazor': ('mmrazor.MGDConnector', 'mmrazor.MGDLoss'),
    }[kind]
    pairs = nn.ModuleList()
    for _ in range(LEVELS):
        connector = MODELS.build(
            dict(
                type=names[0],
                student_channels=CHANNELS,
                teacher_channels=CHANNELS,
                lambda_mgd=lambda_mgd,
            )  # fmt: skip
        )
        pairs.append(
            nn.ModuleList([connector, MODELS.build(dict(type=names[1], alpha_mgd=alpha_mgd))])
        )
    return pairs


def connector_step(pairs: nn.ModuleList, students: list, teachers: list) -> Callable:
    """Forward and backward of every level's connector and loss."""

    def step() -> None:
        total = sum(
            loss(connector(s), t) for (connector, loss), s, t in zip(pairs, students, teachers)
        )
        total.backward()
        for s in students:
            s.grad = None
        pairs.zero_grad(set_to_none=True)

    return step


def offline_model(path: str, **overrides) -> nn.Module:
    """Builds a distillation config without downloads: no teacher checkpoint, no pretrained
    student parts; weights stay PyTorch's defaults."""
    return build_offline(offline_config(path, **overrides))


def detection_batch(
    model: nn.Module, batch: int, size: int, device: str, num_classes: int = 80
) -> dict:
    """A random batch of ``batch`` images with 5 boxes each, through the model's preprocessor."""
    from mmdet.testing import demo_mm_inputs

    data = demo_mm_inputs(batch, (3, size, size), num_items=[5] * batch, num_classes=num_classes)
    return model.data_preprocessor(data, True)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, data: dict) -> Callable:
    """One SGD step of ``model`` on ``data`` (loss forward, backward, update)."""

    def step() -> None:
        loss, _ = model.parse_losses(model(**data, mode='loss'))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def distill_losses(model: nn.Module, data: dict, seed: int = 0) -> float:
    """The sum of the MGD losses on ``data``, with a fixed random mask."""
    torch.manual_seed(seed)
    with torch.no_grad():
        losses = model(**data, mode='loss')
    return float(sum(v for k, v in losses.items() if k.startswith('distill.')))


def ratio(a: float, b: float) -> float:
    return a / b if b else float('nan')


def run(
    device: str = 'cpu', batch: int = 2, size: int = 320, rounds: int = 7, half: str | None = None
) -> dict:
    """Measures everything; returns the numbers (seconds are medians) and the ratios."""
    half = half or ('fp16' if device.startswith('cuda') else 'bf16')
    torch.manual_seed(0)
    result: dict = dict(device=device, batch=batch, size=size, rounds=rounds, half=half)

    models = {'mgd': offline_model(OURS), 'mmrazor': offline_model(MMRAZOR)}
    student = models['mgd'].student
    for model in models.values():
        model.to(device).train()
    batch_data = detection_batch(models['mgd'], batch, size, device)
    data = dict.fromkeys(models, batch_data)  # the same batch (both preprocess as mmdet's)
    optimizers = {k: torch.optim.SGD(m.parameters(), lr=1e-4) for k, m in models.items()}
    with torch.no_grad():  # the 5 FPN outputs' shapes
        shapes = [tuple(f.shape) for f in models['mgd'].teacher.extract_feat(data['mgd']['inputs'])]

    # 1. connector + loss on the 5 FPN levels, forward + backward
    students = [torch.randn(s, device=device, requires_grad=True) for s in shapes]
    teachers = [torch.randn(s, device=device) for s in shapes]
    pairs = {k: connector_pairs(k, 0.65, 2e-5).to(device) for k in ('mgd', 'mmrazor')}
    steps = {k: connector_step(p, students, teachers) for k, p in pairs.items()}
    times = timed_rounds(steps, rounds, device)
    memory = {k: peak_memory(steps[k], device, pairs[k]) for k in steps}
    result['connector'] = {k: dict(seconds=statistics.median(times[k]), all=times[k],
                                   memory_bytes=memory[k]) for k in steps}  # fmt: skip

    # 2. full train steps: ours with the teacher in fp32 and in half, MMRazor's; 3. our parts
    ours = train_step(models['mgd'], optimizers['mgd'], data['mgd'])

    def ours_half() -> None:
        models['mgd'].teacher_dtype = half
        try:
            ours()
        finally:
            models['mgd'].teacher_dtype = None

    student_optimizer = torch.optim.SGD(student.parameters(), lr=1e-4)

    def student_alone() -> None:
        loss, _ = student.parse_losses(student(**data['mgd'], mode='loss'))
        student_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        student_optimizer.step()

    def teacher_alone() -> None:
        with torch.no_grad():
            models['mgd'].teacher.extract_feat(data['mgd']['inputs'])

    mgd_alone = steps['mgd']  # the same 5 levels, alone

    calls = {'mgd': ours, 'mgd_half_teacher': ours_half, 'mmrazor': train_step(
        models['mmrazor'], optimizers['mmrazor'], data['mmrazor']),
        'student': student_alone, 'teacher': teacher_alone, 'mgd_block': mgd_alone}  # fmt: skip
    times = timed_rounds(calls, rounds, device)
    seconds = {k: statistics.median(v) for k, v in times.items()}
    memory = {k: peak_memory(calls[k], device, models[k]) for k in ('mgd', 'mmrazor')}
    result['step'] = {k: dict(seconds=seconds[k], all=times[k]) for k in calls}
    for k in memory:
        result['step'][k]['memory_bytes'] = memory[k]

    # the MGD loss with the half-precision teacher against the fp32 teacher, same batch and mask
    fp32 = distill_losses(models['mgd'], data['mgd'])
    models['mgd'].teacher_dtype = half
    low = distill_losses(models['mgd'], data['mgd'])
    models['mgd'].teacher_dtype = None
    result['half_teacher_loss'] = dict(
        fp32=fp32, half=low, relative_difference=abs(low - fp32) / fp32
    )

    parts = seconds['student'] + seconds['teacher'] + seconds['mgd_block']
    result['ratios'] = {
        'connector': ratio(
            result['connector']['mgd']['seconds'], result['connector']['mmrazor']['seconds']
        ),
        'step': ratio(seconds['mgd'], seconds['mmrazor']),
        'step-half-teacher': ratio(seconds['mgd_half_teacher'], seconds['mmrazor']),
        'memory': ratio(memory['mgd'], memory['mmrazor']),
        'step/sum-of-parts': ratio(seconds['mgd'], parts),
    }
    result['overhead'] = overhead(device, max(rounds, 5))
    return result


def overhead(device: str, rounds: int, batch: int = 8, size: int = 256) -> dict:
    """What distillation costs over training the student alone, on the NEU-DET from-scratch
    pair (w32 -> w16 RetinaNets, 5 FPN levels, inheriting): the MGD train step with the live
    teacher and with the teacher's features read from ``model.teacher_cache``, each over the
    student-alone step. The cached step reads every image (the cache is filled by a first
    call, as by the first epoch of a run)."""
    import tempfile

    from mgd.models.algorithms.teacher_cache import TeacherFeatureCache

    torch.manual_seed(0)
    model = offline_model(NEU_DET).to(device).train()
    data = detection_batch(model, batch, size, device, num_classes=6)
    student = model.student
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    student_optimizer = torch.optim.SGD(student.parameters(), lr=1e-4)
    live = train_step(model, optimizer, data)

    def student_alone() -> None:
        loss, _ = student.parse_losses(student(**data, mode='loss'))
        student_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        student_optimizer.step()

    with tempfile.TemporaryDirectory() as folder:
        for i, sample in enumerate(data['data_samples']):  # the key reads the image file's stat
            path = f'{folder}/image{i}.jpg'
            open(path, 'wb').close()
            sample.set_metainfo(dict(img_path=path, flip=False, flip_direction=None))
        cache = TeacherFeatureCache(f'{folder}/cache', dict(benchmark=1), batch, limit_gib=1.0)

        def cached() -> None:
            model._cache = cache
            try:
                live()
            finally:
                model._cache = None

        cached()  # fills the cache
        assert cache.misses == batch and cache.hits == 0
        # what no cache removes: the generation blocks MGD trains, on features of these shapes
        recorder = model.distiller.teacher_recorders.get_recorder('feats')
        teachers = [f.detach() for f in recorder.get_record_data()]
        students = [torch.randn_like(t, requires_grad=True) for t in teachers]
        distiller = model.distiller  # one connector and one loss per level, in level order
        pairs = nn.ModuleList(
            nn.ModuleList(pair)
            for pair in zip(distiller.connectors.values(), distiller.distill_losses.values())
        )
        calls = dict(student=student_alone, mgd=live, mgd_cached=cached,
                     mgd_block=connector_step(pairs, students, teachers))  # fmt: skip
        times = timed_rounds(calls, rounds, device)
        assert cache.misses == batch, 'the cached step ran the teacher'
    seconds = {k: statistics.median(v) for k, v in times.items()}
    return dict(
        config=NEU_DET, batch=batch, size=size, rounds=rounds,
        step={k: dict(seconds=seconds[k], all=times[k]) for k in times},
        ratios={'overhead': ratio(seconds['mgd'], seconds['student']),
                'overhead-cached': ratio(seconds['mgd_cached'], seconds['student'])},
    )  # fmt: skip


def summary_line(result: dict) -> str:
    """``mgd/mmrazor connector <r> step <r> step-half-teacher <r> memory <r>
    step/sum-of-parts <r> overhead <r> overhead-cached <r>``."""
    r = {**result['ratios'], **result['overhead']['ratios']}
    return 'mgd/mmrazor ' + ' '.join(f'{k} {v:.2f}' for k, v in r.items())


def report(result: dict) -> str:
    """A readable table of the medians, then the summary line (last)."""
    c, s, h = result['connector'], result['step'], result['half_teacher_loss']
    o = result['overhead']

    def ms(entry: dict) -> str:
        return f"{1e3 * entry['seconds']:.1f} ms"

    def mib(entry: dict) -> str:
        return f"{entry['memory_bytes'] / 2**20:.1f} MiB"

    rows = [
        ('connector+loss, 5 levels, fwd+bwd', ms(c['mgd']), ms(c['mmrazor'])),
        ('connector+loss memory', mib(c['mgd']), mib(c['mmrazor'])),
        ('train step, teacher fp32', ms(s['mgd']), ms(s['mmrazor'])),
        (f"train step, teacher {result['half']}", ms(s['mgd_half_teacher']), ''),
        ('train step memory', mib(s['mgd']), mib(s['mmrazor'])),
        ('student step alone', ms(s['student']), ''),
        ('teacher forward alone (fp32)', ms(s['teacher']), ''),
        ('MGD block alone', ms(s['mgd_block']), ''),
    ]
    size = f"{result['size']}x{result['size']}"
    return '\n'.join([
        f"{result['device']}, batch {result['batch']}, {size}, medians of {result['rounds']} "
        'interleaved rounds',
        '| what | mgd | mmrazor |',
        '|---|---|---|',
        *(f'| {what} | {ours} | {theirs} |' for what, ours, theirs in rows),
        f"MGD loss with the teacher in fp32 {h['fp32']:.6g}, in {result['half']} {h['half']:.6g} "
        f"(relative difference {100 * h['relative_difference']:.2f} %)",
        f"NEU-DET pair (r18-w32 -> r18-w16), batch {o['batch']}, {o['size']}x{o['size']}, medians "
        f"of {o['rounds']} rounds: student step alone {ms(o['step']['student'])}, MGD step "
        f"{ms(o['step']['mgd'])}, with the teacher cache {ms(o['step']['mgd_cached'])}, MGD "
        f"block alone {ms(o['step']['mgd_block'])}",
        summary_line(result),
    ])  # fmt: skip
