from mgd.models.algorithms.mgd_distill import MGDDistill, build_teacher
from mgd.models.algorithms.teacher_ensemble import TeacherEnsemble

__all__ = ['MGDDistill', 'TeacherEnsemble', 'build_teacher']
