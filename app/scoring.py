"""Score the API's micro-batches in a forked process, so the event loop keeps serving HTTP.

Tokenizing holds the GIL, so a thread cannot overlap it with request handling; a process can.
The process is forked once the model is loaded (and ``gc.freeze()``-d, so parent and child share
its memory) and inherits it: only the texts and the probabilities cross, as length-prefixed
messages (plain bytes, no pickle) over a socket pair that the event loop reads without blocking
and without helper threads.
(``ProcessPoolExecutor`` moves results through a management thread, whose fight with the event
loop for the GIL cost more than the scoring it took off the loop.)

A scoring process that dies (killed, out of memory) is replaced, and the batch it held is scored
again by the new one.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import socket
import struct
from collections.abc import Sequence
from itertools import pairwise
from multiprocessing.process import BaseProcess

import numpy as np

from imdb_sentiment.bundle import SentimentModel

logger = logging.getLogger("uvicorn.error.imdb_sentiment")

_LENGTH = struct.Struct("!Q")
_SCORES, _FAILURE = b"S", b"F"


class ScoringProcessError(RuntimeError):
    """The scoring process could not score a batch."""


class ScoringProcess:
    """One forked child that answers ``model.predict_proba`` calls, one batch at a time."""

    def __init__(self, model: SentimentModel) -> None:
        self._model = model
        self._process: BaseProcess | None = None
        self._socket: socket.socket | None = None
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    def start(self) -> None:
        """Fork the child now: call it before the server has threads."""
        ours, theirs = socket.socketpair()
        process = multiprocessing.get_context("fork").Process(
            target=_serve,
            args=(self._model, theirs, ours),
            name="imdb-sentiment-scoring",
            daemon=True,
        )
        process.start()
        theirs.close()
        self._process, self._socket, self._streams = process, ours, None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    async def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Score one batch; the caller (ScoringPool) never sends a second before the first returns."""
        try:
            return await self._round_trip(texts)
        except (ConnectionError, asyncio.IncompleteReadError):
            logger.error("the scoring process died; starting a new one to score the batch")
            self.close()
            self.start()
            return await self._round_trip(texts)

    async def _round_trip(self, texts: Sequence[str]) -> np.ndarray:
        if self._socket is None:
            raise ScoringProcessError("the scoring process is not running")
        if self._streams is None:
            self._streams = await asyncio.open_connection(sock=self._socket)
        reader, writer = self._streams
        payload = _encode(texts)
        writer.write(_LENGTH.pack(len(payload)) + payload)
        await writer.drain()
        (size,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
        answer = await reader.readexactly(size)
        if answer[:1] == _FAILURE:
            raise ScoringProcessError(answer[1:].decode())
        return np.frombuffer(answer, dtype=np.float64, offset=1)

    def close(self) -> None:
        """Stop the child (SIGTERM: it holds no state worth a graceful exit) and the socket."""
        if self._process is not None:
            self._process.terminate()
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
        closed = False
        if self._streams is not None:
            try:
                self._streams[1].close()  # the transport owns the socket now
                closed = True
            except RuntimeError:  # its event loop is already closed
                pass
        if self._socket is not None and not closed:
            self._socket.close()
        self._process = self._socket = self._streams = None


class ScoringPool:
    """``count`` scoring processes; each batch goes to an idle one."""

    def __init__(self, model: SentimentModel, count: int) -> None:
        if count < 1:
            raise ValueError(f"a scoring pool needs at least one process, got {count}")
        self.processes = [ScoringProcess(model) for _ in range(count)]
        self._idle: asyncio.Queue[ScoringProcess] | None = None

    def start(self) -> None:
        for process in self.processes:
            process.start()

    async def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if self._idle is None:  # made on first use, inside the server's event loop
            self._idle = asyncio.Queue()
            for process in self.processes:
                self._idle.put_nowait(process)
        process = await self._idle.get()
        try:
            return await process.predict_proba(texts)
        finally:
            self._idle.put_nowait(process)

    def close(self) -> None:
        for process in self.processes:
            process.close()


def _serve(model: SentimentModel, connection: socket.socket, parents_end: socket.socket) -> None:
    """The child's loop: read a batch, score it, answer; exit when the server closes the socket."""
    parents_end.close()
    # The server owns Ctrl-C and shutdown; the child must not run its signal handlers (they
    # would write to the server's event-loop wake-up descriptor, which the fork shares).
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with connection:
        while header := _receive(connection, _LENGTH.size):
            (size,) = _LENGTH.unpack(header)
            texts = _decode(_receive(connection, size))
            try:
                answer = _SCORES + model.predict_proba(texts).astype(np.float64).tobytes()
            except Exception as error:  # the server turns it into an error response
                answer = _FAILURE + f"{type(error).__name__}: {error}".encode()
            connection.sendall(_LENGTH.pack(len(answer)) + answer)


def _encode(texts: Sequence[str]) -> bytes:
    """Texts as their count, their UTF-8 byte lengths and their bytes (plain data, no pickle)."""
    encoded = [text.encode("utf-8", "surrogatepass") for text in texts]
    lengths = np.fromiter(map(len, encoded), dtype=np.uint32, count=len(encoded))
    return _LENGTH.pack(len(encoded)) + lengths.tobytes() + b"".join(encoded)


def _decode(payload: bytes) -> list[str]:
    (count,) = _LENGTH.unpack_from(payload)
    ends = np.cumsum(np.frombuffer(payload, np.uint32, count, _LENGTH.size), dtype=np.int64)
    data = memoryview(payload)[_LENGTH.size + 4 * count :]
    bounds = [0, *ends.tolist()]
    return [str(data[start:end], "utf-8", "surrogatepass") for start, end in pairwise(bounds)]


def _receive(connection: socket.socket, size: int) -> bytes:
    chunks, missing = [], size
    while missing:
        chunk = connection.recv(min(missing, 1 << 20))
        if not chunk:
            return b""
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)
