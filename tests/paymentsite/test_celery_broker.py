"""The filesystem broker (``paymentsite.celery_broker``): a worker polling the folder never
takes a message that is still being written (kombu's own transport lets it, and the
worker stops on the cut message: ``dev.py run`` lost its worker that way)."""

from __future__ import annotations

import os
import threading

from kombu import Connection
from kombu.transport import filesystem

from paymentsite import celery_broker

QUEUE = "celery"


def channel_of(transport, folder):
    folder.mkdir(exist_ok=True)
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder)}
    connection = Connection(transport=transport, transport_options=options)
    return connection, connection.default_channel


def test_a_message_is_out_of_readers_reach_until_it_is_whole(tmp_path, monkeypatch):
    connection, channel = channel_of(celery_broker.Transport, tmp_path / "queue")
    seen_while_writing = []
    rename = os.replace

    def replace(source, destination):
        assert open(source, "rb").read().endswith(b"}")  # whole: written before renaming
        try:
            seen_while_writing.append(channel._get(QUEUE))
        except filesystem.Empty:
            seen_while_writing.append("nothing")
        rename(source, destination)

    monkeypatch.setattr(celery_broker.os, "replace", replace)
    channel._put(QUEUE, {"body": "x" * 1000})
    assert seen_while_writing == ["nothing"]
    assert channel._get(QUEUE) == {"body": "x" * 1000}
    assert os.listdir(tmp_path / "queue") == []  # no partial file left behind
    connection.release()


def test_a_reader_polling_beside_a_writer_gets_every_message_whole(tmp_path):
    """Beat writes while the worker polls: every message taken is whole, none is lost.
    (kombu's own ``filesystem.Transport`` here fails it: cut messages, 3 runs of 3.)"""
    folder = tmp_path / "queue"
    writing = channel_of(celery_broker.Transport, folder)
    reading = channel_of(celery_broker.Transport, folder)
    count, body = 300, "y" * 200_000  # large, so a write takes long enough to be caught
    taken, errors, written = [], [], threading.Event()

    def read() -> None:
        while len(taken) < count:
            try:
                taken.append(reading[1]._get(QUEUE)["n"])
            except filesystem.Empty:
                if written.is_set() and not os.listdir(folder):
                    return
            except ValueError as error:  # a cut message: JSONDecodeError
                errors.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    for n in range(count):
        writing[1]._put(QUEUE, {"n": n, "body": body})
    written.set()
    reader.join(60)
    assert errors == [] and sorted(taken) == list(range(count))
    for connection, _ in (writing, reading):
        connection.release()

