// A call carried by the SFU (Janus' VideoRoom, behind the server's /sfu/ paths): we send our
// media once, on a publishing connection, and receive each other participant's on a
// connection of its own ("subscribing" to their feed).
//
// Our publication is announced to the others with `call.feed`; Janus lists a feed only once
// its media is up, so whoever is missing someone's feed asks again after a moment. The
// publishing connection has one audio and one video sender from the start, so mute, camera
// on and off, device changes and screen sharing swap tracks on it, as in a mesh.
// Candidates travel inside the descriptions (we wait for gathering), so no trickling.

import { readStats } from "./peer.js";

const GATHER_MS = 3000;
const RETRY_MS = 800;
const SUBSCRIBE_MS = 15000; // a subscription that has not answered by then is tried again
const FRESH_MS = 1000; // how often a feed's video is checked for new frames

// Resolves when the connection has gathered its ICE candidates (or after a while regardless:
// what is gathered by then is sent).
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== "complete") return;
      pc.removeEventListener("icegatheringstatechange", done);
      resolve();
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, GATHER_MS);
  });
}

// Rejects when `promise` takes longer than `ms`, so one lost answer cannot stop the polling.
function withTimeout(promise, ms) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error("the media server did not answer in time")), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

// Another participant's media, received through the SFU. Nothing tells us when their camera
// is off (a mesh has a data channel for that), so the video counts as on while new frames
// keep arriving.
// A subscription that has not connected within SUBSCRIBE_MS, or whose connection failed.
function stalled(sub) {
  const state = sub.pc.connectionState;
  if (state === "failed" || state === "closed") return true;
  return !sub.connectedAt && performance.now() - sub.startedAt > SUBSCRIBE_MS;
}

class Subscription {
  constructor({ key, feed, iceServers, onChange }) {
    this.key = key;
    this.feed = feed;
    this.onChange = onChange;
    this.remote = new MediaStream();
    this.remoteState = { mic: true }; // the SFU does not tell us about their microphone
    this.connectedAt = null;
    this.startedAt = performance.now();
    this.closed = false;
    this.frames = 0;
    this.videoLive = false;
    this.pc = new RTCPeerConnection({ iceServers });
    this.ticker = setInterval(() => this.checkVideo(), FRESH_MS);
    this.pc.addEventListener("track", (e) => {
      const track = e.track;
      this.remote.addTrack(track);
      track.addEventListener("unmute", () => {
        if (track.kind === "video") this.videoLive = true; // the first frames are here
        this.onChange(this);
      });
      this.onChange(this);
    });
    this.pc.addEventListener("connectionstatechange", () => {
      if (this.pc.connectionState === "connected" && !this.connectedAt) this.connectedAt = performance.now();
      this.onChange(this);
    });
  }

  get remoteVideo() {
    return this.videoLive && this.remote.getVideoTracks().length > 0;
  }

  async checkVideo() {
    if (this.closed || this.pc.connectionState !== "connected") return;
    let frames = 0;
    const report = await this.pc.getStats().catch(() => null);
    report?.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") frames += s.framesDecoded || 0;
    });
    const live = frames > this.frames;
    this.frames = frames;
    if (live !== this.videoLive) {
      this.videoLive = live;
      this.onChange(this);
    }
  }

  stats() {
    return readStats(this.pc, this.connectedAt);
  }

  close() {
    this.closed = true;
    clearInterval(this.ticker);
    this.pc.close();
    for (const t of this.remote.getTracks()) t.stop();
  }
}

export class SfuLink {
  constructor(session) {
    this.session = session;
    this.publisher = null;
    this.publishing = null;
    this.wanted = new Set();
    this.polling = false;
    this.again = false;
    this.timer = null;
    this.closed = false;
  }

  path(what) {
    return this.session.endpoint(`sfu/${what}`);
  }

  // `keys`: the other participants in the call, as a notice said. Notices of different
  // requests can arrive out of order, so who to take and who to let go is read afresh from
  // the server each time (see poll).
  sync(keys) {
    const s = this.session;
    if (!this.publishing) {
      this.publishing = this.publish().catch((err) => {
        if (!this.closed) s.view.fail(err.describe ? err.describe() : err.message);
      });
    }
    for (const key of keys) this.wanted.add(key);
    this.poll();
  }

  feed() {
    this.poll();
  }

  async publish() {
    const s = this.session;
    const pc = new RTCPeerConnection({ iceServers: s.iceServers });
    this.publisher = pc;
    const local = s.local;
    pc.addTransceiver(local.mic || "audio", { direction: "sendonly", streams: [local.stream] });
    pc.addTransceiver(local.video || "video", { direction: "sendonly", streams: [local.stream] });
    await pc.setLocalDescription();
    await gathered(pc);
    if (this.closed) return;
    const answer = await s.api.post(this.path("publish"), { sdp: pc.localDescription.sdp });
    if (this.closed) return;
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    await this.refresh(); // a track that changed while we waited
  }

  // Lets go of those who left and subscribes to the feed of everyone else we do not have yet;
  // asks again shortly while someone's feed is still missing (not published yet).
  async poll() {
    if (this.closed) return;
    if (this.polling) {
      this.again = true;
      return;
    }
    this.polling = true;
    const s = this.session;
    try {
      do {
        this.again = false;
        const [state, feeds] = await Promise.all([s.api.get(s.statePath()), s.api.get(this.path("feeds"))]);
        if (this.closed || state.state === "ended") return;
        this.wanted = s.othersIn(state);
        for (const key of [...s.remotes.keys()]) if (!this.wanted.has(key)) s.dropRemote(key);
        for (const f of feeds) {
          if (this.closed) return;
          if (!this.wanted.has(f.participant)) continue;
          const had = s.remotes.get(f.participant);
          if (had && had.feed === f.feed && !stalled(had)) continue;
          if (had) s.dropRemote(f.participant); // they published again, or it never connected
          await withTimeout(this.subscribe(f.participant, f.feed), SUBSCRIBE_MS); // never stuck
        }
      } while (this.again && !this.closed);
    } catch (err) {
      console.warn("call: could not take a feed from the media server", err);
    } finally {
      this.polling = false;
    }
    clearTimeout(this.timer);
    // Asks again while a feed is missing or its connection is not up yet, so one that stalls
    // (an answer lost on the way, media that never arrives) is taken again.
    const waiting = [...this.wanted].some((key) => !s.remotes.get(key)?.connectedAt);
    if (waiting && !this.closed) this.timer = setTimeout(() => this.poll(), RETRY_MS);
  }

  async subscribe(key, feed) {
    const s = this.session;
    const offer = await s.api.post(this.path("subscribe"), { feed });
    if (this.closed || !this.wanted.has(key)) return;
    const sub = new Subscription({ key, feed, iceServers: s.iceServers, onChange: (x) => s.changed(x) });
    s.addRemote(sub);
    await sub.pc.setRemoteDescription({ type: "offer", sdp: offer.sdp });
    await sub.pc.setLocalDescription();
    await gathered(sub.pc);
    if (sub.closed) return;
    await s.api.post(this.path("answer"), { handle: offer.handle, sdp: sub.pc.localDescription.sdp });
  }

  // Points the publishing senders at the current tracks (after mute, device or screen changes).
  async refresh() {
    const pc = this.publisher;
    if (!pc || this.closed) return;
    const local = this.session.local;
    for (const t of pc.getTransceivers()) {
      const kind = t.receiver.track.kind;
      const track = kind === "audio" ? local.mic : local.video;
      if (t.sender.track !== track) await t.sender.replaceTrack(track).catch(() => {});
    }
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.publisher?.close();
  }
}
