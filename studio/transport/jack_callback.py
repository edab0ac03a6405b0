"""Ending a JACK client whose process callback is Python without freezing the process.

jack2 ends an active client's real-time thread in ``jack_deactivate`` (and so in
``jack_client_close``) with ``pthread_cancel``, asynchronous, right after the server has taken
the client out of the graph; and the server does that at the next cycle whether or not the
client's last callback has returned. A callback still waiting for the GIL then (another Python
thread holding it for a whole period) is cancelled inside CPython's ``take_gil`` with the GIL's
mutex locked, and every later request for the GIL blocks for good: the whole process hangs (a
fresh-clone CI run did, closing the MIDI output beside a busy Python thread).

JACK has a way out that never cancels anything: a process callback that returns non-zero makes
the real-time thread deactivate the client itself and exit, after the callback has returned
and let go of the GIL (``JackClient::End``). So :meth:`CallbackExit.end` asks the callback to
return that (JACK-Client's ``jack.CallbackExit``; :meth:`CallbackExit.check` at the callback's
start raises it), waits until the thread has exited, and only then is the client deactivated
and closed: ``jack_deactivate`` finds no thread to cancel.
"""
from __future__ import annotations

import os
import threading
import time


class CallbackExit:
    """One client's way out: :meth:`check` first thing in its process callback,
    :meth:`activated` once ``activate()`` returned, :meth:`end` before deactivating it."""

    def __init__(self) -> None:
        self.requested = False
        self.active = False  # the client was activated: its callback runs (or is about to)
        self._returned = threading.Event()
        self._tid: int | None = None  # the real-time thread's id (Linux task id)

    def check(self, silence=None) -> None:
        """In the process callback, before anything else: once :meth:`end` asked, ``silence()``
        (the ports' last buffers are what the graph reads until the client is out) and raise
        ``jack.CallbackExit``, which JACK-Client turns into the non-zero return."""
        if self._tid is None:
            self._tid = threading.get_native_id()
        if self.requested:
            import jack

            if silence is not None:
                silence()
            self._returned.set()
            raise jack.CallbackExit

    def activated(self) -> None:
        self.active = True

    def end(self, timeout_s: float = 1.0) -> bool:
        """Ask the callback to end, wait up to ``timeout_s`` for it to return and as long again
        for its thread to exit; True when it did or when the client was never activated: the
        client may then be deactivated and closed. False when the callback did not come back in
        time (a stalled server, or the thread starved of the GIL): leave the client alone then;
        should the callback run again, it ends it itself. (After the server shut down there is
        no cycle left to cancel anything: the owner need not ask.)"""
        self.requested = True
        if not self.active:  # never activated: no thread to end
            return True
        if not self._returned.wait(timeout_s):
            return False
        deadline = time.monotonic() + timeout_s
        task = f"/proc/self/task/{self._tid}"
        if not os.path.isdir("/proc/self/task"):  # not Linux: the thread's exit cannot be seen
            time.sleep(0.05)
            return True
        while os.path.exists(task):  # JACK's End(): the server's answer, then the thread exits
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True


def open_client(name: str):
    """A JACK client ``name`` (never starting a server); DeviceError when there is none to be had.
    Its ports are registered once it is active: JACK refuses to connect a port of a client not
    active yet, and a patchbay connects one the moment it is listed."""
    import jack

    from studio.errors import DeviceError

    try:
        return jack.Client(name, no_start_server=True)
    except jack.JackError as exc:
        raise DeviceError(f"cannot open a JACK client {name!r}: {exc}") from None


def close_client(client, way_out: CallbackExit, lease, timeout_s: float, thread_name: str,
                 server_gone: bool = False) -> bool:
    """Close an activated ``client`` whose process callback checks ``way_out``: end the callback
    (unless the server is gone: no cycle is left to cancel anything), then deactivate and close
    the client on a thread of its own, waited for at most ``timeout_s`` (libjack waits for the
    server's answer unbounded: a fresh-clone CI run once sat ~20 min in deactivate() on the dummy
    server). ``lease`` (realtime.Lease) is given back either way. True when it hung: the
    callback did not come back (the client is left; it ends itself should the callback run
    again) or the server did not answer."""
    from studio.transport import devices

    if not server_gone and not way_out.end():
        lease.give_back()
        return True

    def deactivate_and_close() -> None:
        try:
            client.deactivate()
            client.close()
        except Exception:
            pass
        finally:  # the short switch interval helps the callback until the client is really gone
            lease.give_back()

    return not devices.returns_within(deactivate_and_close, timeout_s, thread_name)
