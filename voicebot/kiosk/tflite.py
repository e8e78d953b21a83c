"""One inference thread for pyopen-wakeword's TFLite interpreters.

pyopen-wakeword (1.1) creates every interpreter with
``TfLiteInterpreterCreate(model, NULL)``: TFLite's default options, under which its
XNNPACK delegate starts worker threads that spin between the tiny per-chunk
inferences. openWakeWord's three models (melspectrogram, embedding, word) then cost
63-67 ms of CPU per second of speech here against 42 ms on one thread, for the same
scores (within ~1e-6 relative: the workers sum in another order). In the whole
kiosk with talk in the room (``scripts/bench_idle.py --only kiosk --speech``) four
such threads took ~1.2 % of a core each beside the capture thread's 2.7 %: 8.1-8.7 %
in all, 5.9 % on one thread. On a Raspberry Pi they also compete with the sound
server. (pymicro-wakeword's streaming model starts none: one thread either way.)

The C API takes a thread count only when an interpreter is created, and the
package passes no options, so :func:`run_on_one_thread` replaces an interpreter the
package made with one made from the same model, on one thread (input tensor
resized as the package resized it). Written here because the package offers no way;
if a future release renames its attributes, the package's own interpreter is kept
and the function says so (the caller logs it).

Runs on whichever thread constructs the engine, before its first inference.
"""

from __future__ import annotations

import ctypes
from typing import Any

__all__ = ["run_on_one_thread"]


def _declare(lib: Any) -> None:
    lib.TfLiteInterpreterOptionsCreate.argtypes = []
    lib.TfLiteInterpreterOptionsCreate.restype = ctypes.c_void_p
    lib.TfLiteInterpreterOptionsSetNumThreads.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    lib.TfLiteInterpreterOptionsSetNumThreads.restype = None
    lib.TfLiteInterpreterOptionsDelete.argtypes = [ctypes.c_void_p]
    lib.TfLiteInterpreterOptionsDelete.restype = None
    lib.TfLiteInterpreterDelete.argtypes = [ctypes.c_void_p]
    lib.TfLiteInterpreterDelete.restype = None


def run_on_one_thread(owner: Any, *, interpreter: str, model: str, input_tensor: str,
                      output_tensor: str, input_shape: tuple[int, ...] | None = None) -> bool:
    """Give ``owner`` (a pyopen-wakeword model object) a one-thread interpreter.

    ``interpreter``, ``model``, ``input_tensor`` and ``output_tensor`` name the
    attributes of ``owner`` that hold them; ``input_shape`` is the shape the package
    resized the input to (None: the model's own). True when replaced; False when
    ``owner`` does not look as expected (its interpreter is left as it was).
    """
    lib = getattr(owner, "lib", None)
    names = (interpreter, model, input_tensor, output_tensor)
    if lib is None or not all(getattr(owner, name, None) for name in names):
        return False
    _declare(lib)
    options = lib.TfLiteInterpreterOptionsCreate()
    if not options:
        return False
    try:
        lib.TfLiteInterpreterOptionsSetNumThreads(options, 1)
        created = lib.TfLiteInterpreterCreate(getattr(owner, model), options)
    finally:
        lib.TfLiteInterpreterOptionsDelete(options)
    if not created:
        return False
    resized = True
    if input_shape is not None:
        dims = (ctypes.c_int32 * len(input_shape))(*input_shape)
        resized = lib.TfLiteInterpreterResizeInputTensor(
            created, ctypes.c_int32(0), dims, ctypes.c_int32(len(input_shape))) == 0
    # A failed resize would leave the model's own input shape: wrong for the package's
    # calls, so the package's interpreter is kept then.
    if not resized or lib.TfLiteInterpreterAllocateTensors(created) != 0:
        lib.TfLiteInterpreterDelete(created)
        return False
    old = getattr(owner, interpreter)
    setattr(owner, interpreter, created)
    setattr(owner, input_tensor, lib.TfLiteInterpreterGetInputTensor(created, ctypes.c_int32(0)))
    setattr(owner, output_tensor,
            lib.TfLiteInterpreterGetOutputTensor(created, ctypes.c_int32(0)))
    lib.TfLiteInterpreterDelete(old)
    return True
