from mgd.models.algorithms.mgd_distill import MGDDistill, build_teacher

__all__ = ['MGDDistill', 'build_teacher']
