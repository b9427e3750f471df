"""The built web client (Vue SPA in ``web/``), served by the backend at ``/``."""

from televisit.web.spa import mount_spa

__all__ = ["mount_spa"]
