"""WebRTC noise suppression and automatic gain on the capture stream (``webrtc-noise-gain``).

A capture processor: PCM16 16 kHz mono in, the same out, to put after conversion
(and after echo cancellation) and before the VAD and the wake word, so both hear
the cleaned, levelled signal. Settings: ``noise_suppression`` 0 (off) to 4 (most),
``auto_gain_dbfs`` 0 (off) to 31 (target level, dB below full scale).

The library works on exact 10 ms frames; :meth:`NoiseGain.process` keeps the
remainder (fewer than 160 samples) for the next call, so output lags input by at
most 10 ms and is always whole frames. Capture thread (one instance per stream).
"""

from __future__ import annotations

from ..audio import VAD_SAMPLE_RATE
from ..errors import ConfigError

__all__ = ["NoiseGain"]

_FRAME_BYTES = VAD_SAMPLE_RATE // 100 * 2


class NoiseGain:
    """``process(pcm16_16k, at) -> pcm16_16k``: the capture-processor shape (``at``,
    the capture time of the first sample, is not needed here)."""

    def __init__(self, auto_gain_dbfs: int = 0, noise_suppression: int = 0) -> None:
        if not 0 <= auto_gain_dbfs <= 31:
            raise ConfigError(f"auto_gain_dbfs must be 0-31, not {auto_gain_dbfs}")
        if not 0 <= noise_suppression <= 4:
            raise ConfigError(f"noise_suppression must be 0-4, not {noise_suppression}")
        try:
            from webrtc_noise_gain import AudioProcessor
        except ImportError:
            raise ConfigError("noise suppression needs webrtc-noise-gain: "
                              "pip install 'voicebot[kiosk]'") from None
        self.auto_gain_dbfs = auto_gain_dbfs
        self.noise_suppression = noise_suppression
        self._processor = AudioProcessor(auto_gain_dbfs, noise_suppression)
        self._rest = b""

    @property
    def enabled(self) -> bool:
        return bool(self.auto_gain_dbfs or self.noise_suppression)

    def process(self, pcm16_16k: bytes, at: float = 0.0) -> bytes:
        data = self._rest + pcm16_16k
        whole = len(data) - len(data) % _FRAME_BYTES
        self._rest = data[whole:]
        run = self._processor.Process10ms
        return b"".join(run(data[i:i + _FRAME_BYTES]).audio
                        for i in range(0, whole, _FRAME_BYTES))

    @property
    def pending_bytes(self) -> int:
        """Bytes held for the next call (less than one 10 ms frame)."""
        return len(self._rest)
