"""paho reading its socket in blocks: one ``recv`` and one event-loop wake for many small packets.

paho 2.2 reads each packet with three ``recv`` calls (the command byte, the length bytes one at a time, the
rest), and aiomqtt's reader callback has it read one packet per wake of the event loop. Under a flood of small
messages that is three system calls and an epoll wake per junk message. ``read_in_blocks`` makes the client read
the socket ``BLOCK`` bytes at a time into a buffer and serve paho's small reads from it; each wake takes one block
(and what TLS already decrypted) and every packet in it. When the block is used up, paho is told the socket would
block, so the wake ends with an empty buffer and the rest waits in the kernel, where the next wake finds it.

Used by the command listener only (edge/pipeline/command_listener.py), which is where a flood arrives. It replaces
two methods of the paho client instance, so it is tied to paho-mqtt 2.2 (pinned in pyproject.toml);
``tests/edge/test_flood.py`` and ``tests/edge/test_command_listener.py`` run through it, over TLS too
(``tests/edge/test_mqtt_client.py``).
"""

from __future__ import annotations

from typing import Any

from paho.mqtt.enums import MQTTErrorCode

BLOCK = 65536
MAX_BLOCKS_PER_WAKE = 1


class BlockReader:
    def __init__(self, client: Any) -> None:
        self._client = client
        self._raw_recv = client._sock_recv  # paho's: maps TLS want-read to BlockingIOError
        self._buffer = bytearray()
        self._blocks = 0

    def recv(self, bufsize: int) -> bytes:
        if not self._buffer:
            if self._blocks >= MAX_BLOCKS_PER_WAKE:
                raise BlockingIOError  # this wake's block is used up: the rest is the next wake's
            data = self._raw_recv(BLOCK)
            if not data:
                return b""  # the broker closed the connection
            self._blocks += 1
            self._buffer += data
        out = bytes(self._buffer[:bufsize])
        del self._buffer[:bufsize]
        return out

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """paho's ``loop_read``, for every packet of one block instead of one packet."""
        client = self._client
        self._blocks = 0
        while True:
            if client._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = client._packet_read()
            if rc > 0:
                return client._loop_rc_handle(rc)  # type: ignore[no-any-return]
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                return MQTTErrorCode.MQTT_ERR_SUCCESS


def read_in_blocks(client: Any) -> None:
    """Make the paho client ``client`` (``aiomqtt.Client._client``) read its socket in blocks."""
    reader = BlockReader(client)
    client._sock_recv = reader.recv
    client.loop_read = reader.loop_read
