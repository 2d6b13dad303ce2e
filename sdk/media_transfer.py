"""Attachments for SDK clients: upload a file through a signed URL, then send the message that
points to it; download by key. The bytes go to the blob server (or an S3 bucket), never over
the chat connection.

HTTP goes through the standard library (urllib, in a thread), so the SDK adds no dependency."""

from __future__ import annotations

import asyncio
import json
import mimetypes
import urllib.error
import urllib.request
from pathlib import Path

from kernel.errors import HubbubError, InvalidArgument, error_from_code
from kernel.limits import MEDIA_TYPES
from protos import client_pb2 as pb
from sdk.client import ChatClient

HTTP_TIMEOUT_S = 60.0


def media_type(path: Path) -> str:
    """The attachment type of a file by its name; InvalidArgument when not allowed."""
    guessed = mimetypes.guess_type(path.name)[0] or ""
    if guessed not in MEDIA_TYPES:
        raise InvalidArgument(f"{path.name}: {guessed or 'unknown type'} cannot be attached")
    return guessed


def _refusal(exc: urllib.error.HTTPError) -> HubbubError:
    try:
        answer = json.loads(exc.read())
        return error_from_code(str(answer["code"]), str(answer["message"]))
    except (ValueError, KeyError, TypeError):
        return error_from_code("UNAVAILABLE", f"blob server answered HTTP {exc.code}")


def _http(request: urllib.request.Request) -> bytes:
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as exc:
        raise _refusal(exc) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise error_from_code("UNAVAILABLE", f"blob server unreachable: {exc}") from exc


async def upload(client: ChatClient, conversation_id: int, data: bytes, content_type: str) -> pb.MediaRef:
    """Ask for an upload URL, PUT `data` there; the MediaRef to send (key, type, size, receipt)."""
    granted = await client.request_upload(conversation_id, content_type, len(data))
    request = urllib.request.Request(
        granted.url, data=data, method="PUT", headers={"Content-Type": content_type}
    )
    answered = await asyncio.to_thread(_http, request)
    if granted.confirm:  # S3: no receipt in the answer; the edge heads the object and gives one
        return await client.confirm_upload(granted)
    return pb.MediaRef(
        key=granted.key,
        content_type=content_type,
        size_bytes=len(data),
        receipt=json.loads(answered)["receipt"],
    )


def _read(path: str) -> tuple[Path, bytes]:
    file = Path(path).expanduser()
    return file, file.read_bytes()


def _write(target: str, data: bytes) -> Path:
    file = Path(target).expanduser()
    file.write_bytes(data)
    return file


async def attach(client: ChatClient, conversation_id: int, path: str, caption: str = "") -> pb.Sent:
    """Upload the file at `path` and send it (with `caption` as the body)."""
    media_type(Path(path))  # refused before the file is read
    file, data = await asyncio.to_thread(_read, path)
    media = await upload(client, conversation_id, data, media_type(file))
    media.file_name = file.name
    return await client.send(conversation_id, caption, media=media)


async def download(client: ChatClient, conversation_id: int, key: str) -> bytes:
    """The bytes of an attachment of a conversation the user is a member of."""
    (url,) = (await client.download_urls(conversation_id, [key])).urls
    return await asyncio.to_thread(_http, urllib.request.Request(url.url))


async def save(client: ChatClient, conversation_id: int, key: str, target: str = "") -> tuple[Path, int]:
    """Download an attachment into `target` (default: the key's last part, here)."""
    data = await download(client, conversation_id, key)
    return await asyncio.to_thread(_write, target or key.rsplit("/", 1)[-1], data), len(data)
