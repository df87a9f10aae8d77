"""Config helpers: the distiller (and, for several teachers, the whole model) of MGD configs,
so that no config pastes five copies.

Used from config files (after ``_base_``), e.g.::

    from mgd.models import mgd_distiller
    distiller = mgd_distiller(source='neck', feature_indices=range(5), student_channels=256,
                              teacher_channels=256, alpha_mgd=2e-5, lambda_mgd=0.65)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from mgd.utils.errors import ConfigError


def mgd_distiller(
    source: str,
    feature_indices: Iterable[int],
    student_channels: int | Sequence[int],
    teacher_channels: int | Sequence[int],
    alpha_mgd: float,
    lambda_mgd: float,
    mask_on_channel: bool = False,
    teacher_source: str | None = None,
    teacher_name: str | None = None,
) -> dict:
    """An mmrazor ``ConfigurableDistiller`` config with one MGD loss per feature.

    One recorder per model records the output of ``source`` (e.g. ``neck``, whose output is the
    tuple of FPN levels, or ``backbone``); each distilled feature is picked with ``data_idx``.

    Args:
        source: the module whose output is recorded in the student (and the teacher).
        feature_indices: indices into that output (FPN levels, or the backbone's out_indices).
        student_channels: channels of the student features: one number for all, or one per
            feature (a YOLO neck's levels differ).
        teacher_channels: channels of the teacher features, likewise.
        alpha_mgd: loss weight.
        lambda_mgd: masked fraction.
        mask_on_channel: channel mask (classification) instead of a spatial one.
        teacher_source: the teacher's module if it differs from ``source``.
        teacher_name: one teacher of a ``TeacherEnsemble``: its module ``NAME.source`` is
            recorded, and the names below become ``feats_NAME``, ``mgd_NAME_{source}{i}``,
            ``loss_mgd_NAME_{source}{i}`` (see ``multi_teacher_distiller``).

    Returns:
        The distiller config dict; losses are named ``loss_mgd_{source}{i}``. Types carry the
        ``mmrazor.`` scope, so the dict builds whatever the config's ``default_scope``.
    """
    indices = list(feature_indices)
    channels = {}
    for name, value in (
        ('student_channels', student_channels),
        ('teacher_channels', teacher_channels),
    ):
        values = [value] * len(indices) if isinstance(value, int) else list(value)
        if len(values) != len(indices):
            raise ConfigError(
                f'mgd_distiller: {name} gives {len(values)} numbers for {len(indices)} '
                f'features (feature_indices={indices}): give one number, or one per feature.'
            )
        channels[name] = dict(zip(indices, values, strict=True))
    tag = f'{teacher_name}_' if teacher_name else ''
    teacher_source = teacher_source or source
    if teacher_name:
        teacher_source = f'{teacher_name}.{teacher_source}'
    recorder = dict(type='mmrazor.ModuleOutputs', source=source)
    teacher_recorder = dict(type='mmrazor.ModuleOutputs', source=teacher_source)
    feats = f'feats_{teacher_name}' if teacher_name else 'feats'
    return dict(
        type='mmrazor.ConfigurableDistiller',
        student_recorders=dict(feats=recorder),
        teacher_recorders={feats: teacher_recorder},
        connectors={
            f'mgd_{tag}{source}{i}': dict(
                type='mmrazor.MaskedGenerativeConnector',
                student_channels=channels['student_channels'][i],
                teacher_channels=channels['teacher_channels'][i],
                lambda_mgd=lambda_mgd,
                mask_on_channel=mask_on_channel,
            )
            for i in indices
        },
        distill_losses={
            f'loss_mgd_{tag}{source}{i}': dict(
                type='mmrazor.MaskedGenerativeLoss', alpha_mgd=alpha_mgd
            )
            for i in indices
        },
        loss_forward_mappings={
            f'loss_mgd_{tag}{source}{i}': dict(
                preds_S=dict(
                    from_student=True,
                    recorder='feats',
                    data_idx=i,
                    connector=f'mgd_{tag}{source}{i}',
                ),
                preds_T=dict(from_student=False, recorder=feats, data_idx=i),
            )
            for i in indices
        },
    )


def multi_teacher_distiller(
    teachers: Mapping[str, Mapping],
    source: str,
    feature_indices: Iterable[int],
    student_channels: int,
    lambda_mgd: float,
    mask_on_channel: bool = False,
    kd: Mapping | None = None,
    logits_source: str = 'head.fc',
) -> dict:
    """The distiller of a ``TeacherEnsemble``: MGD from each teacher, and/or its logits' KD.

    Args:
        teachers: ``{name: dict(channels=..., alpha_mgd=...)}`` for the ensemble's teachers;
            each ``alpha_mgd`` > 0 adds that teacher's MGD losses (one connector per teacher
            and feature); 0 or a missing ``alpha_mgd`` adds none.
        source, feature_indices, student_channels, lambda_mgd, mask_on_channel: as in
            ``mgd_distiller``.
        kd: ``dict(temperature=..., loss_weight=...)`` adds ``loss_kd``, a
            ``MultiTeacherKDLoss`` between the student's logits (``logits_source``) and all
            teachers' (the ensemble's ``stacked_logits``); needs ``teacher_runs='tensor'``.
        logits_source: the student module whose output is its logits.

    Returns:
        A ``ConfigurableDistiller`` config; losses ``loss_mgd_NAME_{source}{i}`` and ``loss_kd``.
    """
    parts = [
        mgd_distiller(
            source,
            feature_indices,
            student_channels,
            spec['channels'],
            spec['alpha_mgd'],
            lambda_mgd,
            mask_on_channel=mask_on_channel,
            teacher_name=name,
        )
        for name, spec in teachers.items()
        if spec.get('alpha_mgd')
    ]
    if kd:
        parts.append(
            dict(
                student_recorders=dict(
                    logits=dict(type='mmrazor.ModuleOutputs', source=logits_source)
                ),
                teacher_recorders=dict(
                    logits=dict(type='mmrazor.ModuleOutputs', source='stacked_logits')
                ),
                connectors={},
                distill_losses=dict(loss_kd=dict(type='mmrazor.MultiTeacherKDLoss', **kd)),
                loss_forward_mappings=dict(
                    loss_kd=dict(
                        preds_S=dict(from_student=True, recorder='logits'),
                        preds_T=dict(from_student=False, recorder='logits'),
                    )
                ),
            )
        )
    if not parts:
        raise ConfigError('multi_teacher_distiller: no loss: give a teacher alpha_mgd > 0, or kd')
    keys = (
        'student_recorders',
        'teacher_recorders',
        'connectors',
        'distill_losses',
        'loss_forward_mappings',
    )
    merged = {key: {k: v for part in parts for k, v in part[key].items()} for key in keys}
    return dict(type='mmrazor.ConfigurableDistiller', **merged)


def dense_kd_distiller(
    num_classes: int,
    temperature: float = 1.0,
    loss_weight: float = 1.0,
    topk: int | None = None,
    head_forward: str = 'mmdet.models.dense_heads.RetinaHead.forward',
) -> dict:
    """The output-distillation part of a dense detector's distiller, to merge into an MGD one.

    Records the output of the head's ``forward`` in both models (RetinaNet's: class scores
    and box deltas per FPN level) and adds ``loss_kd_cls``, a ``DenseClsKDLoss`` on the class
    scores. Needs
    ``teacher_runs='tensor'`` (the teacher's head must run). Used in a child config as
    ``model = dict(teacher_runs='tensor', distiller=dense_kd_distiller(...))``: mmengine merges
    it into the base config's distiller.

    Args:
        num_classes, temperature, loss_weight, topk: of ``DenseClsKDLoss``.
        head_forward: the head class's ``forward`` (a method recorder: mmdet's detectors call
            ``bbox_head.forward`` directly in ``mode='tensor'``, past module hooks).
    """
    recorder = dict(type='mmrazor.MethodOutputs', source=head_forward)
    return dict(
        student_recorders=dict(head_outputs=recorder),
        teacher_recorders=dict(head_outputs=recorder),
        distill_losses=dict(
            loss_kd_cls=dict(
                type='mmrazor.DenseClsKDLoss',
                num_classes=num_classes,
                temperature=temperature,
                loss_weight=loss_weight,
                topk=topk,
            )
        ),
        loss_forward_mappings=dict(
            loss_kd_cls=dict(
                preds_S=dict(from_student=True, recorder='head_outputs', data_idx=0),
                preds_T=dict(from_student=False, recorder='head_outputs', data_idx=0),
            )
        ),
    )


def multi_teacher_model(
    student: Mapping,
    teachers: Mapping[str, Mapping],
    lambda_kd: float,
    temperature: float,
    data_preprocessor: Mapping | None = None,
    **mgd: object,
) -> dict:
    """The whole ``MGDDistill`` model of several teachers: MGD from each teacher's feature, and
    KD from their averaged soft labels, the student's own loss weighted ``1 - lambda_kd``.

    Used as ``model = multi_teacher_model(_base_.model, teachers=dict(r34=dict(cfg_path=...,
    ckpt=..., channels=512, alpha_mgd=7e-5), ...), lambda_kd=0.5, temperature=4, ...)``.

    Args:
        student: the student's model config (a classifier with ``head.loss``).
        teachers: ``{name: dict(cfg_path=..., ckpt=..., channels=..., alpha_mgd=...)}``; the
            first two go to the ``TeacherEnsemble``, the last two to ``multi_teacher_distiller``.
        lambda_kd: the KD loss's weight; the student's loss gets ``1 - lambda_kd``.
        temperature: KD's softmax temperature T.
        data_preprocessor: the distiller's (e.g. the base config's, with its type).
        **mgd: ``source``, ``feature_indices``, ``student_channels``, ``lambda_mgd``,
            ``mask_on_channel`` of ``multi_teacher_distiller``.
    """
    head = dict(student['head'], loss=dict(student['head']['loss'], loss_weight=1 - lambda_kd))
    model = dict(
        _delete_=True,
        type='mmrazor.MGDDistill',
        architecture=dict(student, head=head),
        teacher=dict(
            type='mmrazor.TeacherEnsemble',
            teachers={n: dict(cfg_path=t['cfg_path'], ckpt=t['ckpt']) for n, t in teachers.items()},
        ),
        teacher_runs='tensor',  # the teachers' logits are needed, not only their features
        distiller=multi_teacher_distiller(
            teachers={
                n: dict(channels=t['channels'], alpha_mgd=t['alpha_mgd'])
                for n, t in teachers.items()
            },
            kd=dict(temperature=temperature, loss_weight=lambda_kd),
            **mgd,
        ),
    )
    if data_preprocessor is not None:
        model['data_preprocessor'] = data_preprocessor
    return model


def wsld_distiller(tau: float = 2, loss_weight: float = 2.5) -> dict:
    """mmrazor's WSLD on a classifier's logits (``head.fc``), to merge into an MGD distiller
    (``model = dict(teacher_runs='tensor', distiller=wsld_distiller())``: the teacher must run
    whole). The defaults are MMRazor's WSLD setting. The labels are the second input of the
    student's loss module (mmpretrain's ``ClsHead``)."""
    logits = dict(type='mmrazor.ModuleOutputs', source='head.fc')
    return dict(
        student_recorders=dict(
            logits=logits,
            gt_labels=dict(type='mmrazor.ModuleInputs', source='head.loss_module'),
        ),
        teacher_recorders=dict(logits=logits),
        distill_losses=dict(loss_wsld=dict(type='mmrazor.WSLD', tau=tau, loss_weight=loss_weight)),
        loss_forward_mappings=dict(
            loss_wsld=dict(
                student=dict(recorder='logits', from_student=True),
                teacher=dict(recorder='logits', from_student=False),
                gt_labels=dict(recorder='gt_labels', from_student=True, data_idx=1),
            )
        ),
    )


def yolov5_kd_distiller(
    head: Mapping,
    loss_weight: float = 10.0,
    head_forward: str = 'mmyolo.models.dense_heads.YOLOv5Head.forward',
) -> dict:
    """YOLOv5's output distillation, to merge into an MGD distiller (or to be the distiller).

    Records the YOLOv5 head's outputs (class scores, boxes, objectness per level) in both
    models and adds ``loss_kd_yolov5``, a ``YOLOv5OutputKDLoss`` whose class count and
    box/obj/cls gains are read from the student's head config ``head`` (its ``loss_bbox``,
    ``loss_obj`` and ``loss_cls`` weights: YOLOv5's gains, already scaled by mmyolo for the
    classes, levels and input size). Needs ``teacher_runs='tensor'``.

    Args:
        head: the student's ``bbox_head`` config (``_base_.model.bbox_head``).
        loss_weight: the distillation weight (10 in the study's YOLOv5 script).
        head_forward: the head class's ``forward`` (recorded as a method: mmyolo's detectors
            call it directly in loss and tensor mode).
    """
    recorder = dict(type='mmrazor.MethodOutputs', source=head_forward)
    parts = ('cls', 'bbox', 'obj')
    mapping = {
        f'{part}_S': dict(from_student=True, recorder='head_outputs', data_idx=i)
        for i, part in enumerate(parts)
    }
    mapping |= {
        f'{part}_T': dict(from_student=False, recorder='head_outputs', data_idx=i)
        for i, part in enumerate(parts)
    }
    return dict(
        student_recorders=dict(head_outputs=recorder),
        teacher_recorders=dict(head_outputs=recorder),
        distill_losses=dict(
            loss_kd_yolov5=dict(
                type='mmrazor.YOLOv5OutputKDLoss',
                num_classes=head['head_module']['num_classes'],
                loss_weight=loss_weight,
                box_gain=head['loss_bbox']['loss_weight'],
                obj_gain=head['loss_obj']['loss_weight'],
                cls_gain=head['loss_cls']['loss_weight'],
            )
        ),
        loss_forward_mappings=dict(loss_kd_yolov5=mapping),
    )
