"""Loss logs of a training run: TensorBoard event files written without TensorBoard, plus a CSV.

The `tensorboard` package is not installed here (torch.utils.tensorboard needs it), so the event file is
written directly: TFRecord framing (length, masked CRC-32C of the length, the record, masked CRC-32C of
the record) around `Event` protobufs (wall_time = 1 double, step = 2 int64, file_version = 3 string,
summary = 5 { value = 1 { tag = 1 string, simple_value = 2 float } }). `tensorboard --logdir OUT` reads it.
`read_scalars` reads such a file back (and checks every CRC). `loss.csv` beside it holds the same numbers.
"""

from __future__ import annotations

import csv
import os
import pathlib
import socket
import struct
import time

_CRC_TABLE: list[int] = []
for _byte in range(256):
    _crc = _byte
    for _ in range(8):
        _crc = (_crc >> 1) ^ 0x82F63B78 if _crc & 1 else _crc >> 1
    _CRC_TABLE.append(_crc)


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as TFRecord uses it."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits, value = value & 0x7F, value >> 7
        out.append(bits | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_event(wall_time: float, step: int, scalars: dict[str, float] | None = None,
                 file_version: str | None = None) -> bytes:
    """One Event protobuf: scalars as a Summary of simple values."""
    out = b"\x09" + struct.pack("<d", wall_time) + b"\x10" + _varint(int(step))
    if file_version is not None:
        out += _field_bytes(3, file_version.encode())
    if scalars:
        values = b"".join(_field_bytes(1, _field_bytes(1, tag.encode()) + b"\x15" + struct.pack("<f", float(v)))
                          for tag, v in scalars.items())
        out += _field_bytes(5, values)
    return out


def frame_record(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc(length)) + data + struct.pack("<I", masked_crc(data))


class LossLog:
    """Appends scalars per step to `folder`/events.out.tfevents.* and `folder`/loss.csv (flushed every call)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = pathlib.Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}"
        self.event_path = self.folder / name
        self._events = open(self.event_path, "ab")
        self._events.write(frame_record(encode_event(time.time(), 0, file_version="brain.Event:2")))
        self.csv_path = self.folder / "loss.csv"
        self._csv = open(self.csv_path, "a", newline="")
        self._writer = csv.writer(self._csv)
        self._columns: list[str] | None = None

    def write(self, step: int, scalars: dict[str, float]) -> None:
        self._events.write(frame_record(encode_event(time.time(), step, scalars)))
        self._events.flush()
        if self._columns is None:
            self._columns = sorted(scalars)
            if self._csv.tell() == 0:
                self._writer.writerow(["step", *self._columns])
        self._writer.writerow([step, *(f"{scalars.get(c, float('nan')):.6g}" for c in self._columns)])
        self._csv.flush()

    def close(self) -> None:
        self._events.close()
        self._csv.close()


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _fields(data: bytes):
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, kind = key >> 3, key & 7
        if kind == 0:
            value, pos = _read_varint(data, pos)
        elif kind == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif kind == 5:
            value, pos = data[pos:pos + 4], pos + 4
        elif kind == 2:
            length, pos = _read_varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        else:
            raise ValueError(f"protobuf wire type {kind} not expected in an event file")
        yield number, value


def read_scalars(path: str | os.PathLike) -> list[tuple[int, str, float]]:
    """(step, tag, value) of every scalar in an event file; ValueError on a bad CRC."""
    data = pathlib.Path(path).read_bytes()
    out, pos = [], 0
    while pos < len(data):
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        if struct.unpack("<I", data[pos + 8:pos + 12])[0] != masked_crc(header):
            raise ValueError(f"{path}: bad length CRC at byte {pos}")
        record = data[pos + 12:pos + 12 + length]
        if struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])[0] != masked_crc(record):
            raise ValueError(f"{path}: bad record CRC at byte {pos}")
        pos += 16 + length
        step = 0
        for number, value in _fields(record):
            if number == 2:
                step = value
            elif number == 5:
                for _, item in _fields(value):
                    parts = dict(_fields(item))
                    out.append((step, parts[1].decode(), struct.unpack("<f", parts[2])[0]))
    return out
