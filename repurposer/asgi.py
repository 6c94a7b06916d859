"""ASGI entry point: HTTP through Django (with the upload size limit), WebSockets through Channels."""

from __future__ import annotations

import os

import django
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "repurposer.settings")
pooled = os.environ.get("REPURPOSER_THREAD_PER_REQUEST") != "1"
if not pooled:  # Django's stock handler: bench.ops's baseline only
    django_asgi_app = get_asgi_application()
else:
    django.setup(set_prefix=False)
    from .asgi_handler import PooledASGIHandler

    django_asgi_app = PooledASGIHandler()  # sync views in one hop on a pooled request thread

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from ops import lifecycle  # noqa: E402
from streaming.routing import websocket_urlpatterns  # noqa: E402

from . import daphne_hooks  # noqa: E402
from .asgi_limits import BodySizeLimit  # noqa: E402

# A daphne whose database or Redis is unreachable would start and answer every WebSocket with 1011: refuse.
if lifecycle.is_server_process():
    lifecycle.refuse_start_if_unreachable("The web server (daphne)")

# Daphne's HTTP side: no in-memory parse of form bodies, and response bodies that wait for a slow client.
# Daphne's temp file of a body goes to the app only when the app reads it (the stock handler does not).
daphne_hooks.install(hand_over_bodies=pooled)

application = ProtocolTypeRouter(
    {
        "http": BodySizeLimit(django_asgi_app),
        # types-channels wants its own URL pattern type; these are Django's path() objects (streaming/routing.py).
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
