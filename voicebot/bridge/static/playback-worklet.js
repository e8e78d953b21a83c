// Reply playback at 24 kHz, on the audio rendering thread, with a small jitter buffer:
// start once prebufferMs is queued (or the stream paused: a short reply's end), play
// in real time, and report what was played: `played` counts every sample received
// that was played or dropped by a flush (the bridge's `played` report), `audible`
// those actually heard, `hash` an FNV-1a of the heard samples (tests compare it).
class PlaybackProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = (options && options.processorOptions) || {};
    this.capacity = sampleRate * (o.bufferSeconds || 120);
    this.ring = new Int16Array(this.capacity);
    this.prebuffer = Math.round(sampleRate * (o.prebufferMs || 100) / 1000);
    this.startAfterQuietFrames = Math.round(sampleRate * 0.15);
    this.written = 0; // samples received (ring write position, absolute)
    this.read = 0; // samples played or dropped (ring read position, absolute)
    this.audible = 0;
    this.dropped = 0; // received while the ring was full
    this.runsDry = 0;
    this.playing = false;
    this.lastPush = 0;
    this.fadeLeft = 0;
    this.fadeLength = Math.round(sampleRate * 0.005);
    this.hash = 2166136261;
    this.quanta = 0;
    this.postedRead = 0;
    this.postedWritten = 0;
    this.port.onmessage = (e) => {
      if (e.data instanceof ArrayBuffer) this.push(new Int16Array(e.data));
      else if (e.data && e.data.type === "flush") this.flush();
    };
  }

  push(samples) {
    for (let i = 0; i < samples.length; i++) {
      if (this.written - this.read >= this.capacity) { this.dropped++; continue; }
      this.ring[this.written % this.capacity] = samples[i];
      this.written++;
    }
    this.lastPush = currentFrame;
  }

  flush() {
    // Barge-in: fade out over 5 ms, drop the rest (it counts as played).
    this.fadeLeft = Math.min(this.fadeLength, this.written - this.read);
    this.fadeEnd = this.read + this.fadeLeft;
    if (this.fadeLeft === 0) {
      this.read = this.written;
      this.fadeEnd = undefined;
      this.playing = false;
    }
  }

  process(inputs, outputs) {
    const out = outputs[0][0];
    const available = this.written - this.read;
    if (!this.playing && available > 0 &&
        (available >= this.prebuffer || currentFrame - this.lastPush > this.startAfterQuietFrames)) {
      this.playing = true;
    }
    for (let i = 0; i < out.length; i++) {
      if ((this.playing || this.fadeLeft > 0) && this.read < this.written) {
        let gain = 1;
        if (this.fadeLeft > 0) gain = this.fadeLeft-- / this.fadeLength;
        const s = this.ring[this.read % this.capacity];
        out[i] = gain * s / 32768;
        this.hash = Math.imul(this.hash ^ (s & 0xffff), 16777619) >>> 0;
        this.read++;
        this.audible++;
        if (this.fadeEnd !== undefined && this.fadeLeft === 0) {
          this.read = this.written; // the rest of the interrupted reply is dropped
          this.fadeEnd = undefined;
          this.playing = false;
        }
      } else {
        out[i] = 0;
        if (this.playing) { this.playing = false; this.runsDry++; }
      }
    }
    // Report about every 43 ms while something changes, and at once when all is played.
    const changed = this.read !== this.postedRead || this.written !== this.postedWritten;
    if (changed && (++this.quanta % 8 === 0 || this.read === this.written)) {
      this.postedRead = this.read;
      this.postedWritten = this.written;
      this.port.postMessage({ played: this.read, received: this.written, audible: this.audible,
                              hash: this.hash, runsDry: this.runsDry, dropped: this.dropped });
    }
    return true;
  }
}

registerProcessor("playback", PlaybackProcessor);
