from mgd.models.losses.mgd_loss import MGDLoss

__all__ = ['MGDLoss']
