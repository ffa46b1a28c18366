// The ring of an incoming call, made with Web Audio (no sound file to fetch): two short
// tones every three seconds until it is stopped. Browsers may keep audio silent until the
// person has interacted with the page; the ringing dialog shows the call either way.

const PATTERN_MS = 3000;

export class Ringer {
  constructor() {
    this.context = null;
    this.timer = null;
  }

  start() {
    this.stop();
    try {
      this.context = new AudioContext();
      this.context.resume().catch(() => {});
    } catch {
      return;
    }
    const ring = () => this.tones();
    ring();
    this.timer = setInterval(ring, PATTERN_MS);
  }

  tones() {
    const ctx = this.context;
    if (!ctx || ctx.state !== "running") return;
    const gain = ctx.createGain();
    gain.gain.value = 0.08;
    gain.connect(ctx.destination);
    for (const [at, freq] of [
      [0, 440],
      [0.45, 480],
    ]) {
      const tone = ctx.createOscillator();
      tone.frequency.value = freq;
      tone.connect(gain);
      tone.start(ctx.currentTime + at);
      tone.stop(ctx.currentTime + at + 0.35);
    }
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    if (this.context) this.context.close().catch(() => {});
    this.context = null;
  }

  get ringing() {
    return this.timer !== null;
  }
}
