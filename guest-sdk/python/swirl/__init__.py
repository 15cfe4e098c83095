"""swirl's guest SDK for Python: write a swirl function as ``handle(input, ctx)``.

A function is a module ``app`` (the file ``app.py`` next to the function's
``swirl.toml`` entry) that defines::

    import swirl

    def handle(input, ctx):
        swirl.log.info(f"greeting {input['name']}")
        return {"message": f"Hello, {input['name']}!"}

``input`` is the call's JSON input as Python values (dicts, lists, str, int,
float, bool, None); the return value is encoded as the call's JSON output.
``ctx`` carries the call's context: ``invocation_id``, ``function_name``,
``function_version``, ``workflow_id``, ``instance_id``, ``state_name``
(``None`` outside a workflow), ``attempt`` and ``deadline_ms``.

- ``raise swirl.Failure(code, message, details=None)`` fails the call with a
  named error that a workflow's ``retry`` and ``onError`` match on.
- Any other uncaught exception fails the call with ``SYS.Fail`` naming the
  exception and its message.
- ``swirl.log.info/warn/error/debug/trace`` write log lines of the call;
  ``print`` goes to the log too.
- ``swirl.config(key, default=None)`` reads the manifest's ``config`` table.
- ``swirl.kv.get/set/delete`` use the function's durable key-value store with
  JSON values; writes become durable when the call succeeds.
- ``swirl.emit(type, data=None, source=None, subject=None, extensions=None)``
  publishes a CloudEvent into the runtime.

Build with componentize-py against ``wit/function.wit``, world ``function``,
with this module as the app (``componentize-py -d wit -w function
componentize swirl -p . -p <this directory> -o app.wasm``): the module that
componentize-py wraps must define the world's class, which is this one.
"""

import importlib
import json

from componentize_py_types import Err
import wit_world
from wit_world.imports import host as _host
from wit_world.imports import kv as _kv
from wit_world.imports import types as _types

__all__ = ["Failure", "log", "config", "kv", "emit"]

INVALID_PARAMETER = "SYS.InvalidParameter"
FAIL = "SYS.Fail"


class Failure(Exception):
    """A named failure of the call: ``code`` is what workflows match on."""

    def __init__(self, code, message, details=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class _Log:
    """Log lines attached to the current call."""

    def trace(self, message):
        _host.log(_types.Level.TRACE, str(message))

    def debug(self, message):
        _host.log(_types.Level.DEBUG, str(message))

    def info(self, message):
        _host.log(_types.Level.INFO, str(message))

    def warn(self, message):
        _host.log(_types.Level.WARN, str(message))

    def error(self, message):
        _host.log(_types.Level.ERROR, str(message))


log = _Log()


def config(key, default=None):
    """The value of ``key`` in the function's ``config`` table, or ``default``."""
    value = _host.config(key)
    return default if value is None else value


class _Kv:
    """The function's durable key-value store; values are JSON."""

    def get(self, key, default=None):
        raw = _kv.get(key)
        return default if raw is None else json.loads(raw)

    def set(self, key, value):
        _kv.set(key, _encode(value))

    def delete(self, key):
        _kv.delete(key)


kv = _Kv()

# The context of the call in progress, for emit's default source.
_current = None


def emit(type, data=None, source=None, subject=None, extensions=None):
    """Publishes a CloudEvent; raises ``RuntimeError`` when the runtime refuses it.

    ``source`` defaults to ``/functions/<function name>``; ``extensions`` is a
    dict of extension attributes.
    """
    if source is None:
        name = _current.function_name if _current is not None else "unknown"
        source = f"/functions/{name}"
    event = _types.Event(
        type=type,
        source=source,
        subject=subject,
        data=None if data is None else _encode(data),
        extensions=list((extensions or {}).items()),
    )
    try:
        _host.emit(event)
    except Err as refused:
        raise RuntimeError(f"emit refused: {refused.value}") from None


def _encode(value):
    return json.dumps(value, separators=(",", ":")).encode()


def _failure(code, message, details=None):
    return Err(
        _types.Failure(
            code=code,
            message=message,
            details=None if details is None else _encode(details),
        )
    )


def _describe(error):
    text = str(error)
    name = type(error).__name__
    return f"{name}: {text}" if text else name


class WitWorld(wit_world.WitWorld):
    """The world's export: decodes the input, calls ``app.handle``, encodes the output."""

    def handle(self, ctx, input):
        global _current
        try:
            value = json.loads(input)
        except ValueError as error:
            raise _failure(INVALID_PARAMETER, f"the input is not JSON: {error}")
        _current = ctx
        try:
            output = _app.handle(value, ctx)
            return _encode(output)
        except Failure as failure:
            raise _failure(str(failure.code), str(failure.message), failure.details)
        except Exception as error:
            # Named here rather than left to the interpreter, whose traceback
            # would look for source files the sandbox does not have.
            raise _failure(FAIL, f"uncaught {_describe(error)}")
        finally:
            _current = None


# Imported last: the app imports this module, which by now is complete. The
# import runs when componentize-py builds the component, not on every call.
_app = importlib.import_module("app")
if not callable(getattr(_app, "handle", None)):
    raise ImportError("app.py must define handle(input, ctx)")
