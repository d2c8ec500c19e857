"""What a Redis broker holds, read as a worker would find it: the messages waiting in each
queue (kombu's Redis transport keeps a queue as a list named after it)."""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any, cast

import redis


def queued(broker_url: str) -> dict[str, list[dict[str, Any]]]:
    """Queue name -> its waiting messages (headers, properties, and the decoded body)."""
    out: dict[str, list[dict[str, Any]]] = {}
    with redis.Redis.from_url(broker_url) as client:
        for key in cast(list[bytes], client.keys("*")):
            if client.type(key) != b"list":
                continue
            messages = [cast(dict[str, Any], json.loads(raw)) for raw in cast(list[bytes], client.lrange(key, 0, -1))]
            for message in messages:
                body = base64.b64decode(message["body"])
                if message.get("headers", {}).get("compression"):  # task_compression (zlib)
                    body = zlib.decompress(body)
                message["body"] = json.loads(body)
            out[key.decode()] = messages
    return out

