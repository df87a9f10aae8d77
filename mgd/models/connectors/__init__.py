from mgd.models.connectors.mgd_connector import MGDConnector, random_mask

__all__ = ['MGDConnector', 'random_mask']
