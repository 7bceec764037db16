# SPDX-License-Identifier: BSD-3-Clause
"""Errors of uvfio calls: OSError with the errno the library returned."""
import errno as _errno

from ._lib import lib


class Error(OSError):
    """A uvfio call failed. .errno is the errno (ECONNRESET: the connection
    is dead; ETIMEDOUT: no reply in time; else what the server replied),
    .strerror says which call and why."""


class TimeoutError(Error, TimeoutError):  # noqa: A001 - also the built-in's subclass
    """No reply within the message timeout; the connection stays usable."""


class ConnectionResetError(Error, ConnectionResetError):  # noqa: A001
    """The server disconnected or broke the framing: the connection is dead."""


class ConnectionRefusedError(Error, ConnectionRefusedError):  # noqa: A001
    """Nothing listens on that socket."""


class FileNotFoundError(Error, FileNotFoundError):  # noqa: A001
    """No such socket."""


_BY_ERRNO = {
    _errno.ETIMEDOUT: TimeoutError,
    _errno.ECONNRESET: ConnectionResetError,
    _errno.ECONNREFUSED: ConnectionRefusedError,
    _errno.ENOENT: FileNotFoundError,
}


def error(err, what):
    """The exception for a positive errno from the call named by what."""
    text = lib.uvfio_strerror(-err)
    text = text.decode(errors="replace") if text else _errno.errorcode.get(err, str(err))
    return _BY_ERRNO.get(err, Error)(err, f"{what}: {text}")


def check(r, what):
    """Raise for a negative return; return r otherwise."""
    if r < 0:
        raise error(-r, what)
    return r
