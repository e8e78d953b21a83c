// Microphone capture, on the audio rendering thread: resample the context's rate to
// 16 kHz (a windowed-sinc low-pass, then linear interpolation) and post PCM16 frames
// of frameMs with their RMS level. Muted: frames of silence (the bridge's clock goes on).
class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = (options && options.processorOptions) || {};
    this.outRate = o.targetRate || 16000;
    this.frameSamples = Math.round(this.outRate * (o.frameMs || 20) / 1000);
    this.step = sampleRate / this.outRate; // input samples per output sample
    // Low-pass below the new Nyquist frequency when downsampling (anti-aliasing).
    const taps = this.step > 1 ? 33 : 1;
    this.h = new Float32Array(taps);
    if (taps === 1) {
      this.h[0] = 1;
    } else {
      const fc = 0.45 / this.step; // cycles per input sample
      const mid = (taps - 1) / 2;
      let sum = 0;
      for (let n = 0; n < taps; n++) {
        const x = n - mid;
        const sinc = x === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * x) / (Math.PI * x);
        const w = 0.54 - 0.46 * Math.cos(2 * Math.PI * n / (taps - 1));
        this.h[n] = sinc * w;
        sum += this.h[n];
      }
      for (let n = 0; n < taps; n++) this.h[n] /= sum;
    }
    this.hist = new Float32Array(taps);
    this.pos = 0;
    this.prev = 0;
    this.next = 0; // where the next output sample lies, in input samples after `prev`
    this.frame = new Int16Array(this.frameSamples);
    this.filled = 0;
    this.sumSquares = 0;
    this.muted = false;
    this.port.onmessage = (e) => { if (e.data && "muted" in e.data) this.muted = !!e.data.muted; };
  }

  emit(v) {
    const s = this.muted ? 0 : Math.max(-1, Math.min(1, v));
    this.frame[this.filled++] = s < 0 ? Math.round(s * 32768) : Math.round(s * 32767);
    this.sumSquares += s * s;
    if (this.filled === this.frameSamples) {
      const rms = Math.sqrt(this.sumSquares / this.frameSamples);
      this.port.postMessage({ pcm: this.frame.buffer, rms }, [this.frame.buffer]);
      this.frame = new Int16Array(this.frameSamples);
      this.filled = 0;
      this.sumSquares = 0;
    }
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    const h = this.h, hist = this.hist, taps = h.length;
    for (let i = 0; i < channel.length; i++) {
      hist[this.pos] = channel[i];
      this.pos = (this.pos + 1) % taps;
      let y = 0;
      for (let k = 0, j = this.pos; k < taps; k++, j = (j + 1) % taps) y += h[k] * hist[j];
      while (this.next <= 1) {
        this.emit(this.prev + this.next * (y - this.prev));
        this.next += this.step;
      }
      this.next -= 1;
      this.prev = y;
    }
    return true;
  }
}

registerProcessor("capture", CaptureProcessor);
