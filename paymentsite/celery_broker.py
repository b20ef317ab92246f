"""Celery's broker transports: kombu's, each mended where it stopped our worker.

- ``Transport`` (no Redis: ``dev.py run``, the demo): kombu's filesystem transport writes
  a message straight into its final name (open, then write; its lock is one readers never
  take), and a worker polling the folder may move and read the file in between: an
  empty or cut message, a ``JSONDecodeError`` that stops the worker ("Unrecoverable
  error"; kombu issue #1551, open). Beat publishes every few seconds, so ``dev.py run``
  lost its worker that way. Here a message is written under a name no reader takes
  (``….msg.partial``) and renamed into place: ``os.replace`` in one folder is atomic, so
  a reader sees the whole message or none. (The exchange tables in the control folder,
  written once per queue binding, stay as kombu writes them. A publisher killed while
  writing leaves its ``.partial`` file, which no reader takes.)
- ``RedisTransport``: when Redis goes away while the worker holds a message (acks late),
  the worker closes its connection to reconnect; closing the channel puts the held
  messages back, through a transport kombu has already detached from its connection
  (``AttributeError: 'NoneType' object has no attribute 'hostname'``), which Celery does
  not take for a connection error: "Unrecoverable error", the worker gone until someone
  starts it again (seen in the chaos run and CI's). Here that is the connection error it
  is, so the worker reconnects; the messages stay in Redis's unacked set, which puts them
  back after the visibility timeout (kombu's default: an hour).

``transports_register`` makes the broker URL's own scheme name ours (``filesystem://``,
``redis://``, ``rediss://``), so every connection gets them whatever ``broker_url`` says
when it is made (a test or a bench may point it elsewhere), and logs show the plain URL.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu import transport as kombu_transports
from kombu.exceptions import ChannelError
from kombu.transport import filesystem, redis
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps
from redis.exceptions import ConnectionError as RedisConnectionError

PARTIAL = ".partial"


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put ``payload`` onto ``queue``: kombu's name, written then renamed."""
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        path = os.path.join(self.data_folder_out, name)
        try:
            with open(path + PARTIAL, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(path + PARTIAL, path)
        except OSError as error:
            raise ChannelError(f"Cannot add file {path!r} to directory") from error


class Transport(filesystem.Transport):
    Channel = Channel


class RedisChannel(redis.Channel):
    def _connparams(self, asynchronous=False):
        if self.connection.client is None:  # detached while this channel was closing
            raise RedisConnectionError("the broker connection is closed")
        return super()._connparams(asynchronous=asynchronous)


class RedisTransport(redis.Transport):
    Channel = RedisChannel


OURS = {"filesystem": f"{__name__}:Transport", "redis": f"{__name__}:RedisTransport",
        "rediss": f"{__name__}:RedisTransport"}  # rediss: kombu keys its TLS on the name


def transports_register() -> None:
    """kombu's names for these schemes, pointed at ours (before any connection is made:
    kombu caches the class it resolved for a name)."""
    for scheme, ours in OURS.items():
        kombu_transports.TRANSPORT_ALIASES[scheme] = ours
        kombu_transports._transport_cache.pop(scheme, None)
