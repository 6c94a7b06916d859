"""ASGI entry point: HTTP through Django (with the upload size limit), WebSockets through Channels."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "repurposer.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from streaming.routing import websocket_urlpatterns  # noqa: E402

from .asgi_limits import BodySizeLimit  # noqa: E402


def _stop_twisted_parsing_form_bodies() -> None:
    """Twisted parses every multipart POST body in memory (with the `email` package) to fill
    `request.args`, which daphne never reads: a 107 MB upload cost 1.4 GB of RSS in the web process
    (Twisted issue #4519). Turning that parse off leaves the body in Twisted's temp file, as it should be."""
    try:
        from daphne.http_protocol import WebRequest
    except ImportError:  # not running under daphne
        return
    if getattr(WebRequest, "_repurposer_patched", False):
        return
    original_init = WebRequest.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self._parsePOSTFormSubmission = False

    WebRequest.__init__ = __init__
    WebRequest._repurposer_patched = True


_stop_twisted_parsing_form_bodies()

application = ProtocolTypeRouter(
    {
        "http": BodySizeLimit(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
