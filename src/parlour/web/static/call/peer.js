// One RTCPeerConnection to one other participant of a call (a mesh has one per pair).
//
// Offers never cross: of the two participants, the one whose key sorts first makes every
// offer; the other only answers, and asks for a fresh offer ("renegotiate") when its side
// needs one, for an ICE restart. Each side negotiates one audio and one video transceiver up
// front, so muting, turning the camera off and on, switching devices and sharing the screen
// are all `replaceTrack` on a negotiated sender: no renegotiation during the call.
// A small data channel carries what the other side shows about us (microphone muted,
// camera off, screen shared).

const STATE_CHANNEL = { negotiated: true, id: 0, ordered: true };

export class Peer {
  constructor({ me, key, iceServers, media, send, onChange }) {
    this.key = key;
    this.offerer = me < key;
    this.media = media;
    this.send = send; // (kind, payload) => void
    this.onChange = onChange; // (peer) => void
    this.remote = new MediaStream();
    this.remoteState = { mic: true, video: true, screen: false };
    this.pendingIce = [];
    this.prepared = false;
    this.connectedAt = null;
    this.closed = false;
    this.queue = Promise.resolve(); // signals are applied one at a time, in order
    this.localState = null;
    this.pc = new RTCPeerConnection({ iceServers });
    this.channel = this.pc.createDataChannel("state", STATE_CHANNEL);
    this.bind();
    if (this.offerer) this.prepare();
  }

  bind() {
    const pc = this.pc;
    pc.addEventListener("track", (e) => {
      this.remote.addTrack(e.track);
      e.track.addEventListener("unmute", () => this.onChange(this));
      e.track.addEventListener("mute", () => this.onChange(this));
      this.onChange(this);
    });
    pc.addEventListener("icecandidate", (e) => {
      if (e.candidate) this.send("ice", e.candidate.toJSON());
    });
    pc.addEventListener("connectionstatechange", () => this.stateChanged());
    pc.addEventListener("negotiationneeded", () => this.offer());
    this.channel.addEventListener("open", () => this.share(this.localState));
    this.channel.addEventListener("message", (e) => this.received(e.data));
  }

  // The offerer's transceivers (or the answerer's, once the offer made them) get our tracks.
  prepare() {
    if (this.prepared) return;
    this.prepared = true;
    const stream = this.media.stream;
    if (this.offerer) {
      this.pc.addTransceiver(this.media.mic || "audio", { direction: "sendrecv", streams: [stream] });
      this.pc.addTransceiver(this.media.video || "video", { direction: "sendrecv", streams: [stream] });
      return;
    }
    for (const t of this.pc.getTransceivers()) {
      const kind = t.receiver.track.kind;
      t.direction = "sendrecv";
      t.sender.setStreams?.(stream);
      t.sender.replaceTrack(kind === "audio" ? this.media.mic : this.media.video);
    }
  }

  stateChanged() {
    const state = this.pc.connectionState;
    if (state === "connected" && !this.connectedAt) this.connectedAt = performance.now();
    if (state === "failed") this.restart();
    this.onChange(this);
  }

  restart() {
    if (this.closed) return;
    if (this.offerer) this.pc.restartIce();
    else this.send("renegotiate", { ice_restart: true });
  }

  async offer() {
    if (!this.offerer || this.closed || this.pc.signalingState !== "stable") return;
    try {
      await this.pc.setLocalDescription();
      this.send("offer", { type: "offer", sdp: this.pc.localDescription.sdp });
    } catch (err) {
      console.warn("call: could not make an offer", err);
    }
  }

  // A signal from the other participant: an offer, an answer, an ICE candidate, or a request
  // for a new offer.
  handle(kind, payload) {
    this.queue = this.queue.then(() => this.apply(kind, payload)).catch((err) => {
      console.warn(`call: a ${kind} from the other side failed`, err);
    });
    return this.queue;
  }

  async apply(kind, payload) {
    if (this.closed) return;
    if (kind === "offer" && !this.offerer) await this.answer(payload);
    else if (kind === "answer" && this.offerer) await this.accepted(payload);
    else if (kind === "ice") await this.candidate(payload);
    else if (kind === "renegotiate" && this.offerer) this.pc.restartIce();
  }

  async answer(description) {
    await this.pc.setRemoteDescription({ type: "offer", sdp: description.sdp });
    this.prepare();
    await this.pc.setLocalDescription();
    this.send("answer", { type: "answer", sdp: this.pc.localDescription.sdp });
    await this.flushIce();
  }

  async accepted(description) {
    if (this.pc.signalingState !== "have-local-offer") return;
    await this.pc.setRemoteDescription({ type: "answer", sdp: description.sdp });
    await this.flushIce();
  }

  async candidate(candidate) {
    if (!this.pc.remoteDescription) {
      this.pendingIce.push(candidate);
      return;
    }
    try {
      await this.pc.addIceCandidate(candidate);
    } catch (err) {
      console.warn("call: an ICE candidate was refused", err);
    }
  }

  async flushIce() {
    for (const c of this.pendingIce.splice(0)) await this.candidate(c);
  }

  // Points the negotiated senders at the current tracks (after mute, device or screen changes).
  async refreshTracks() {
    for (const t of this.pc.getTransceivers()) {
      if (!t.sender || t.currentDirection === "stopped") continue;
      const kind = t.receiver.track.kind;
      const track = kind === "audio" ? this.media.mic : this.media.video;
      if (this.prepared && t.sender.track !== track) await t.sender.replaceTrack(track);
    }
  }

  share(state) {
    this.localState = state;
    if (state && this.channel.readyState === "open") this.channel.send(JSON.stringify(state));
  }

  received(text) {
    try {
      const state = JSON.parse(text);
      this.remoteState = { mic: !!state.mic, video: !!state.video, screen: !!state.screen };
    } catch {
      return;
    }
    this.onChange(this);
  }

  get remoteVideo() {
    const track = this.remote.getVideoTracks()[0];
    return !!track && !track.muted && (this.remoteState.video || this.remoteState.screen);
  }

  // What the network did for this peer, for the quality report (P-ANA-2).
  stats() {
    return readStats(this.pc, this.connectedAt);
  }

  close() {
    this.closed = true;
    this.pc.close();
    for (const t of this.remote.getTracks()) t.stop();
  }
}

// What one connection received, for the quality report (P-ANA-2): a mesh peer's, or one feed
// taken from the SFU.
export async function readStats(pc, connectedAt) {
  const out = { lost: 0, received: 0, jitter: [], rtt: null, bytes: 0, frames: 0, seconds: 0 };
  if (pc.connectionState === "closed") return out;
  const report = await pc.getStats();
  report.forEach((s) => {
    if (s.type === "inbound-rtp") {
      out.lost += Math.max(0, s.packetsLost || 0);
      out.received += s.packetsReceived || 0;
      out.bytes += s.bytesReceived || 0;
      if (typeof s.jitter === "number") out.jitter.push(s.jitter * 1000);
      if (s.kind === "video") out.frames += s.framesDecoded || 0;
    } else if (s.type === "candidate-pair" && s.nominated && typeof s.currentRoundTripTime === "number") {
      out.rtt = s.currentRoundTripTime * 1000;
    }
  });
  if (connectedAt) out.seconds = (performance.now() - connectedAt) / 1000;
  return out;
}

// One report for the whole call from this participant: loss and bitrate over every peer,
// the worst jitter and round trip.
export function summarise(all) {
  const lost = all.reduce((n, s) => n + s.lost, 0);
  const received = all.reduce((n, s) => n + s.received, 0);
  const jitter = all.flatMap((s) => s.jitter);
  const rtts = all.map((s) => s.rtt).filter((r) => r !== null);
  const kbps = all.reduce((n, s) => n + (s.seconds > 0 ? (s.bytes * 8) / 1000 / s.seconds : 0), 0);
  const round = (x) => Math.round(x * 10) / 10;
  return {
    packet_loss_pct: lost + received > 0 ? round((100 * lost) / (lost + received)) : null,
    jitter_ms: jitter.length ? round(Math.max(...jitter)) : null,
    round_trip_ms: rtts.length ? round(Math.max(...rtts)) : null,
    bitrate_kbps: kbps > 0 ? round(kbps) : null,
    frames_decoded: all.reduce((n, s) => n + s.frames, 0),
  };
}
