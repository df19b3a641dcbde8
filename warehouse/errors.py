"""Exceptions of the warehouse stage."""


class WarehouseError(Exception):
    """The warehouse could not be reached or refused a statement."""


class WarehouseBusyError(WarehouseError):
    """The embedded chDB directory is open in another process that serves no API."""
