"""A cluster's media process and removers on S3 (moto's server): with HUBBUB_MEDIA_BACKEND=s3
the media process serves nothing and sweeps the bucket, reading the real history of a node's
messaging (only the upload no message points to goes); and a process without files of its own
(messaging, a router writing the log) removes a deleted message's object in the bucket itself."""

from __future__ import annotations

import asyncio
import logging
import os

from deploy.cluster_media import MediaLinks, start_cluster_media
from deploy.local_servers.moto_s3 import S3Server
from deploy.media_remover import blob_remover
from deploy.single_node import SingleNode
from kernel.clock import ManualClock, SystemClock
from kernel.config import from_env
from media.config import ENV_PREFIX, MediaConfig
from media.s3_store import S3BlobStore
from protos import client_pb2 as pb
from tests.e2e.test_one_to_one import open_direct
from tests.e2e.wire_client import TIMEOUT_S, WireClient
from tests.media.test_s3_node import s3_node, upload

__all__ = ["s3_node"]  # the fixture, shared with test_s3_node.py

GRACE_S = 7_200.0  # the least the options allow (twice the receipt's hour)


class SweepLog(logging.Handler):
    """Set when the sweep logs that a pass removed objects (it logs on the event loop)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self._event = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "removed" in record.getMessage():
            self._event.set()

    async def wait(self) -> None:
        await self._event.wait()


async def test_the_cluster_media_process_sweeps_the_bucket(s3_node: SingleNode, moto_s3: S3Server) -> None:
    alice = await WireClient.sign_up(s3_node.ws_url, "alice")
    await (await WireClient.sign_up(s3_node.ws_url, "bob")).close()
    conv = await open_direct(alice, "bob")
    sent, unsent = await upload(alice, conv), await upload(alice, conv)
    send = pb.SendMessage(conversation_id=conv, client_msg_id="photo-1", media=sent)
    assert (await alice.request(pb.ClientFrame(send=send))).WhichOneof("kind") == "sent"

    # The media process as `python -m deploy.cluster_media` runs it, its clock past the grace.
    config = from_env(MediaConfig, prefix=ENV_PREFIX, sweep_grace_s=GRACE_S, sweep_interval_s=0.05)
    links = MediaLinks(
        token_secret=s3_node.config.token_secret,
        messaging_target=s3_node.messaging_target,
        internal_secret=s3_node.config.internal_secret,
    )
    swept, sweep_log = SweepLog(), logging.getLogger("media.sweep")
    level = sweep_log.level
    sweep_log.setLevel(logging.INFO)
    sweep_log.addHandler(swept)
    later = ManualClock(SystemClock().now_ms() + int(GRACE_S * 1000) + 60_000)
    media = await start_cluster_media(config, links, later)
    store = S3BlobStore(moto_s3.client(), os.environ["HUBBUB_MEDIA_S3_BUCKET"], SystemClock())
    try:
        assert media.media_url == moto_s3.endpoint  # no blob server: the bucket's origin
        async with asyncio.timeout(TIMEOUT_S):
            await swept.wait()  # a pass said it removed something
    finally:
        await media.stop()
        sweep_log.removeHandler(swept)
        sweep_log.setLevel(level)
    assert await store.head(unsent.key) is None
    assert await store.head(sent.key) is not None
    await alice.close()


async def test_a_process_without_files_removes_an_object_in_the_bucket_itself(
    s3_node: SingleNode, moto_s3: S3Server
) -> None:
    alice = await WireClient.sign_up(s3_node.ws_url, "alice")
    await (await WireClient.sign_up(s3_node.ws_url, "bob")).close()
    photo = await upload(alice, await open_direct(alice, "bob"))
    remover = blob_remover(from_env(MediaConfig, prefix=ENV_PREFIX), "", SystemClock())
    assert remover is not None
    assert await remover.delete(photo.key) is True
    store = S3BlobStore(moto_s3.client(), os.environ["HUBBUB_MEDIA_S3_BUCKET"], SystemClock())
    assert await store.head(photo.key) is None
    await alice.close()


def test_without_s3_or_a_blob_server_url_nothing_is_removed_but_by_the_sweep() -> None:
    local = MediaConfig()
    assert blob_remover(local, "secret", SystemClock()) is None
    with_url = MediaConfig(internal_url="http://media:8090")
    assert blob_remover(with_url, "", SystemClock()) is None  # no secret: the server would refuse
    assert blob_remover(with_url, "secret", SystemClock()) is not None
