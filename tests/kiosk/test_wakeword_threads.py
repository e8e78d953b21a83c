"""openWakeWord's interpreters on one thread (voicebot/kiosk/tflite.py).

The engine replaces pyopen-wakeword's default interpreters (TFLite's thread pool)
with one-thread ones: the scores must be the package's own (to within the float
rounding of another summation order: the pool splits the sums differently, ~1e-6
relative), and no worker thread may start. Speech from eSpeak NG.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from speech import compose

pytest.importorskip("pyopen_wakeword")

from pyopen_wakeword import Model, OpenWakeWord, OpenWakeWordFeatures  # noqa: E402

from voicebot.kiosk.engines import OpenWakeWordEngine  # noqa: E402
from voicebot.kiosk.tflite import run_on_one_thread  # noqa: E402

CHUNK = 1280


def _speech() -> np.ndarray:
    x, _ = compose([0.5, "the kettle is on,", 0.3, "hey jarvis,", 0.05,
                    "what time is it?", 1.0], voice="en-us", wpm=170, noise="fan",
                   noise_dbfs=-45.0, seed=5)
    return (np.clip(x, -1.0, 1.0) * 32767).astype(np.int16)


def test_one_thread_scores_are_the_packages_own() -> None:
    pcm = _speech()
    engine = OpenWakeWordEngine("hey_jarvis")
    assert engine.one_thread
    model = OpenWakeWord.from_builtin(Model.HEY_JARVIS)
    features = OpenWakeWordFeatures.from_builtin()
    features.new_audio_samples = 0  # as the engine starts: no 8 s of zeros
    ours, theirs = [], []
    try:
        for i in range(0, len(pcm) - CHUNK + 1, CHUNK):
            chunk = pcm[i:i + CHUNK]
            ours.append(engine.score(chunk))
            last = None
            for embedding in features.process_streaming(chunk.tobytes()):
                for probability in model.process_streaming(embedding):
                    last = float(probability)
            theirs.append(last)
    finally:
        engine.close()
        model.close()
        features.close()
    assert [s is None for s in ours] == [s is None for s in theirs]
    np.testing.assert_allclose([s for s in ours if s is not None],
                               [s for s in theirs if s is not None], rtol=1e-4, atol=1e-7)
    scored = [s for s in ours if s is not None]
    assert len(scored) > 20 and max(scored) > 0.5  # the wake word was said: it scored


_THREADS = textwrap.dedent("""
    import os, sys
    import numpy as np
    from voicebot.kiosk.engines import OpenWakeWordEngine
    before = len(os.listdir("/proc/self/task"))
    engine = OpenWakeWordEngine("hey_jarvis")
    rng = np.random.default_rng(0)
    for _ in range(40):
        engine.score((rng.standard_normal(1280) * 3000).astype(np.int16))
    print(before, len(os.listdir("/proc/self/task")))
""")


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux's /proc")
def test_no_inference_thread_starts() -> None:
    # A process of its own: the test process may hold other interpreters' pools.
    out = subprocess.run([sys.executable, "-c", _THREADS], capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    before, after = int(out[0]), int(out[1])
    assert after == before


def test_an_unknown_object_is_left_alone() -> None:
    class Other:
        lib = None
        interpreter = model = input_tensor = output_tensor = object()

    other = Other()
    kept = other.interpreter
    assert not run_on_one_thread(other, interpreter="interpreter", model="model",
                                 input_tensor="input_tensor", output_tensor="output_tensor")
    assert other.interpreter is kept
