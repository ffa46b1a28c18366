// The call controller of the chat page: starts, answers, declines and ends calls over the
// JSON API, keeps a mesh of peer connections (one per other participant) and applies the
// call frames of the stream. The chat app hands it every frame whose type starts with
// "call." and tells it when a conversation opens or closes.
//
// Privacy: the camera and microphone are opened when a call starts or is answered, and every
// track is stopped the moment it ends, before anything else is sent (P-CALL-1).

import { Controls } from "./controls.js";
import { HistoryPanel, Timeline } from "./history.js";
import { clientFacts, LocalMedia } from "./media.js";
import { Peer, summarise } from "./peer.js";
import { Ringer } from "./ringer.js";
import { CallView, headerButtons, RingDialog } from "./ui.js";
import { endReason } from "./words.js";

const ACTIVE = new Set(["accepted", "connected"]);
const WAITING = new Set(["invited", "ringing"]);
const STOP_RINGING = {
  "call.answered_elsewhere": "Answered on another device.",
  "call.cancelled": "The caller hung up.",
  "call.missed": "Missed call.",
  "call.stop_ringing": "Declined.",
};
const AUTO_CLOSE_MS = 4000;
const NETWORK_GRACE_MS = 30000;

function keyOf(p) {
  return p.key || p.user_id;
}

export class Calls {
  constructor(app) {
    this.app = app;
    this.api = app.api;
    this.me = app.me;
    this.call = null; // the call this page takes part in
    this.ringing = null; // an incoming call, not yet answered
    this.ice = null;
    this.version = new URL(document.querySelector('script[type="module"][src*="chat.js"]')?.src || location.href).searchParams.get("v");
    this.ringer = new Ringer();
    this.controls = new Controls(this);
    this.view = new CallView({
      onMic: () => this.controls.toggleMic(),
      onCam: () => this.controls.toggleCam(),
      onScreen: () => this.controls.toggleScreen(),
      onDevices: () => this.controls.chooseDevices(),
      onHangup: () => this.hangup(),
      onClose: () => this.closeView(),
    });
    this.ring = new RingDialog({ onAccept: (media) => this.accept(media), onDecline: () => this.decline() });
    this.timeline = new Timeline(app);
    this.history = new HistoryPanel(app);
    this.ongoing = null; // a call under way in the open conversation that we are not in
    this.buttons = headerButtons({ onAudio: () => this.start("audio"), onVideo: () => this.start("video"), onJoin: () => this.join() });
    document.querySelector("[data-block]")?.before(this.buttons.group);
    document.querySelector("[data-new-chat]")?.before(this.history.button());
    window.addEventListener("pagehide", () => this.leaving());
    window.parlourCall = this; // for people debugging calls, and for the browser tests
  }

  // The page is closing mid-call: say so to the server (a keepalive request survives the page)
  // so the others are not left waiting for us.
  leaving() {
    const call = this.call;
    if (!call || call.over) return;
    call.over = true;
    call.local.stop();
    if (!call.id) return;
    fetch(`/api/v1/calls/${call.id}/hangup`, {
      method: "POST",
      keepalive: true,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": this.api.csrf },
      body: JSON.stringify({ reason: "hangup" }),
    }).catch(() => {});
  }

  // The open peer connections (the browser tests read their statistics).
  get peers() {
    return this.call ? [...this.call.peers.values()].map((p) => p.pc) : [];
  }

  // -- the chat's hooks ---------------------------------------------------------------------

  async opened(c) {
    this.buttons.group.hidden = c.kind === "broadcast";
    this.renderButtons();
    const calls = await this.timeline.opened(c.id);
    if (this.app.current !== c.id) return;
    const live = calls.find((x) => x.state !== "ended" && x.state !== "ringing");
    if (live) this.noteOngoing(live);
    else if (this.ongoing?.conversationId === c.id) this.ongoing = null;
    this.renderButtons();
  }

  closed() {
    this.timeline.entries.clear();
  }

  // The stream is (again) live: a call that rang while this page was not listening still
  // rings here, until it is answered, declined or runs out of time.
  async ready() {
    if (this.call || this.ringing) return;
    let calls;
    try {
      calls = await this.api.get("/calls?limit=10");
    } catch {
      return;
    }
    for (const c of calls) {
      const mine = c.participants.find((p) => keyOf(p) === this.me);
      if (c.state !== "ended" && mine && WAITING.has(mine.state)) {
        this.incoming({ call_id: c.id, media: c.media, caller: c.caller_id, call: c });
        return;
      }
    }
  }

  renderButtons() {
    const busy = !!(this.call || this.ringing);
    this.buttons.audio.disabled = busy;
    this.buttons.video.disabled = busy;
    const o = this.ongoing;
    this.buttons.join.hidden = busy || !o || o.conversationId !== this.app.current;
  }

  // A call under way in a conversation we are not in (we declined, missed it, or joined the
  // group later): the header offers to join it.
  noteOngoing(state) {
    const mine = state.participants.find((p) => keyOf(p) === this.me);
    if (mine && ACTIVE.has(mine.state)) return;
    this.ongoing = { id: state.id, media: state.media, conversationId: state.conversation_id, caller: state.caller_id };
    this.renderButtons();
  }

  event(frame) {
    if (typeof frame.id === "number") {
      if (frame.type === "call.ended") this.timeline.fromEvent(frame);
      return;
    }
    if (frame.type === "error") {
      if (this.call && !this.call.over && frame.call_id === this.call.id) this.view.fail(frame.detail);
      return;
    }
    const data = frame.data || {};
    if (this.call && !this.call.id) {
      this.call.early.push(frame); // our own call, before the server told us its id
      return;
    }
    this.apply(frame.type, data);
  }

  apply(type, data) {
    if (type === "call.incoming") return this.incoming(data);
    if (STOP_RINGING[type] && this.ringing?.id === data.call_id) return this.stopRinging(STOP_RINGING[type]);
    if (type === "call.ended" && this.ringing?.id === data.call_id) this.stopRinging("");
    if (type === "call.ended" && this.ongoing?.id === data.call_id) {
      this.ongoing = null;
      this.renderButtons();
    } else if (data.call && data.call.state !== "ringing" && !this.call && !this.ringing) {
      this.noteOngoing(data.call);
    }
    const call = this.call;
    if (!call || data.call_id !== call.id) return;
    switch (type) {
      case "call.signal":
        return this.signal(data);
      case "call.ringing":
        if (!call.connectedAt) this.view.say("Ringing…");
        return;
      case "call.accepted":
      case "call.joined":
        if (!call.connectedAt) this.view.say("Connecting…");
        return this.sync(data.call);
      case "call.left":
        this.app.announce(`${this.app.nameOf(data.by)} left the call.`);
        return this.sync(data.call);
      case "call.declined":
        return this.sync(data.call);
      case "call.connected":
        return this.connected();
      case "call.ended":
        return this.ended(data.outcome || data.call?.outcome);
    }
  }

  // -- starting and answering ----------------------------------------------------------------

  begin({ id = null, media, conversationId, title }) {
    this.call = {
      id,
      media,
      conversationId,
      title,
      peers: new Map(),
      local: new LocalMedia(),
      early: [],
      left: [],
      connectedAt: null,
      connectedSent: false,
      over: false,
    };
    this.renderButtons();
    this.view.open(title);
    this.view.tile("me", this.app.nameOf(this.me), { self: true });
    this.view.fail("");
    this.refreshLocal();
    return this.call;
  }

  async start(media) {
    const c = this.app.conversations.get(this.app.current);
    if (!c || this.call || this.ringing) return;
    const deviceId = this.app.stream.deviceId;
    if (!deviceId) {
      this.app.flash("Not connected yet: try again in a moment.");
      return;
    }
    const call = this.begin({ media, conversationId: c.id, title: `Call with ${this.app.titleOf(c)}` });
    this.view.say(media === "video" ? "Starting your camera…" : "Starting your microphone…");
    if (!(await this.openMedia(call, media))) return;
    let answer;
    try {
      await this.loadIce();
      answer = await this.api.post("/calls", {
        conversation_id: c.id,
        media,
        device_id: deviceId,
        client: clientFacts(this.version),
      });
    } catch (err) {
      this.abort(call, err.describe ? err.describe() : err.message);
      return;
    }
    if (call.over) {
      this.api.post(`/calls/${answer.id}/hangup`, { reason: "hangup" }).catch(() => {});
      return;
    }
    call.id = answer.id;
    if (answer.state === "ended") return this.ended(answer.outcome);
    this.view.say("Calling…");
    this.sync(answer);
    for (const frame of call.early.splice(0)) this.apply(frame.type, frame.data || {});
  }

  async openMedia(call, media) {
    try {
      const warning = await call.local.open(media === "video");
      if (warning) this.view.fail(warning);
    } catch (err) {
      this.abort(call, err.message);
      return false;
    }
    if (call.over) {
      call.local.stop();
      return false;
    }
    this.refreshLocal();
    return true;
  }

  async loadIce() {
    if (!this.ice) this.ice = await this.api.get("/calls/ice");
    return this.ice;
  }

  incoming(data) {
    if (this.call || this.ringing) return; // the server marks us busy; nothing to ring
    const call = data.call || {};
    this.ringing = { id: data.call_id, media: data.media, caller: data.caller, conversationId: call.conversation_id };
    const c = this.app.conversations.get(call.conversation_id);
    const name = this.app.nameOf(data.caller);
    const where = c && c.kind !== "direct" ? ` in ${this.app.titleOf(c)}` : "";
    this.ring.show(`${name}${where}`, data.media);
    this.ringer.start();
    this.renderButtons();
    this.app.announce(`${name} is calling${where}.`);
    this.api.post(`/calls/${data.call_id}/ringing`).catch(() => {});
  }

  stopRinging(text) {
    this.ringer.stop();
    this.ring.hide();
    this.ringing = null;
    this.renderButtons();
    if (text) this.app.announce(text);
  }

  async accept(media) {
    const r = this.ringing;
    if (!r || !this.app.stream.deviceId) return;
    this.stopRinging("");
    await this.answer(r, media, { ringing: true });
  }

  async join() {
    const o = this.ongoing;
    if (!o || this.call || this.ringing || !this.app.stream.deviceId) return;
    this.ongoing = null;
    await this.answer(o, o.media);
  }

  // Answers a ringing call, or joins one under way: the same request for the server.
  async answer(r, media, { ringing = false } = {}) {
    const c = this.app.conversations.get(r.conversationId);
    const title = `Call with ${c ? this.app.titleOf(c) : this.app.nameOf(r.caller)}`;
    const call = this.begin({ id: r.id, media, conversationId: r.conversationId, title });
    this.view.say("Answering…");
    if (!(await this.openMedia(call, media))) {
      if (ringing) this.api.post(`/calls/${r.id}/decline`).catch(() => {});
      return;
    }
    try {
      await this.loadIce();
      const body = { device_id: this.app.stream.deviceId, client: clientFacts(this.version) };
      const answer = await this.api.post(`/calls/${r.id}/accept`, body);
      if (call.over) return;
      this.view.say("Connecting…");
      this.sync(answer);
    } catch (err) {
      this.abort(call, err.describe ? err.describe() : err.message);
    }
  }

  async decline() {
    const r = this.ringing;
    if (!r) return;
    this.stopRinging("You declined the call.");
    try {
      await this.api.post(`/calls/${r.id}/decline`);
    } catch (err) {
      this.app.flash(err.message);
    }
  }

  // -- the mesh ---------------------------------------------------------------------------

  // Makes the peers match the call's active participants.
  sync(state) {
    const call = this.call;
    if (!state || !call || call.over) return;
    const active = state.participants.filter((p) => ACTIVE.has(p.state) && keyOf(p) !== this.me);
    const limit = this.ice?.mesh_limit || 4;
    if (active.length + 1 > limit) {
      // Larger calls go through the server's SFU, which this page does not join yet.
      this.view.fail(`This call has more than ${limit} people and runs through the media server, which the web app cannot join yet.`);
      return;
    }
    for (const p of active) this.peer(keyOf(p), p.display_name);
    const keys = new Set(active.map(keyOf));
    for (const key of [...call.peers.keys()]) if (!keys.has(key)) this.drop(key);
  }

  peer(key, name) {
    const call = this.call;
    let peer = call.peers.get(key);
    if (peer) return peer;
    const callId = call.id;
    peer = new Peer({
      me: this.me,
      key,
      iceServers: this.ice?.ice_servers || [],
      media: call.local,
      send: (kind, payload) => this.app.stream.send({ type: "call.signal", call_id: callId, to: key, kind, payload }),
      onChange: (p) => this.peerChanged(p),
    });
    peer.name = name || this.app.nameOf(key);
    peer.share(this.localState());
    call.peers.set(key, peer);
    this.view.tile(key, peer.name);
    this.peerChanged(peer);
    return peer;
  }

  // A participant left: their connection closes, its statistics join the call's report.
  drop(key) {
    const call = this.call;
    const peer = call?.peers.get(key);
    if (!peer) return;
    call.peers.delete(key);
    const stats = peer.stats().catch(() => null);
    call.left.push(stats);
    stats.finally(() => peer.close());
    this.view.removeTile(key);
  }

  signal(data) {
    const call = this.call;
    if (call.over) return;
    const peer = call.peers.get(data.from) || this.peer(data.from, null);
    peer.handle(data.kind, data.payload || {});
  }

  peerChanged(peer) {
    const state = peer.pc.connectionState;
    const notes = { new: "Connecting…", connecting: "Connecting…", disconnected: "Reconnecting…", failed: "Connection lost" };
    this.view.showTile(peer.key, { stream: peer.remote, video: peer.remoteVideo, mic: peer.remoteState.mic, note: notes[state] || "" });
    if (state === "connected") this.mediaUp();
    this.watchNetwork();
  }

  // When every connection has been down for a while (ICE restarts included), we leave the
  // call with "network" as the reason rather than sit in a silent call.
  watchNetwork() {
    const call = this.call;
    if (!call || call.over) return;
    const peers = [...call.peers.values()];
    const down = peers.length > 0 && peers.every((p) => ["failed", "disconnected"].includes(p.pc.connectionState));
    if (!down) {
      clearTimeout(call.networkTimer);
      call.networkTimer = null;
    } else if (!call.networkTimer && call.connectedAt) {
      call.networkTimer = setTimeout(() => this.call === call && this.hangup("network"), NETWORK_GRACE_MS);
    }
  }

  // Our first peer connection is up: the server counts the call as connected from here.
  mediaUp() {
    const call = this.call;
    if (!call || call.connectedSent || !call.id) return;
    call.connectedSent = true;
    this.connected();
    this.api.post(`/calls/${call.id}/connected`).catch((err) => this.view.fail(err.message));
  }

  connected() {
    const call = this.call;
    if (!call || call.connectedAt) return;
    call.connectedAt = performance.now();
    this.view.say("Connected");
    this.view.setTimer(call.connectedAt);
  }

  // -- our own media ----------------------------------------------------------------------

  localState() {
    const local = this.call?.local;
    return { mic: !!local?.mic?.enabled, video: !!local?.cam, screen: !!local?.screen };
  }

  refreshLocal() {
    const call = this.call;
    if (!call || call.over) return;
    const s = this.localState();
    this.view.showTile("me", { stream: call.local.stream, video: s.video || s.screen, mic: s.mic });
    this.view.controlsState({ mic: s.mic, cam: s.video, screen: s.screen });
    for (const peer of call.peers.values()) {
      peer.refreshTracks();
      peer.share(s);
    }
  }

  // -- ending -------------------------------------------------------------------------------

  // Releases the camera and microphone first, then reads what each connection received
  // (stopping our tracks leaves those statistics intact) and closes the connections.
  async release() {
    const call = this.call;
    if (!call || call.over) return null;
    call.over = true;
    call.local.stop();
    clearTimeout(call.networkTimer);
    const peers = [...call.peers.values()];
    const stats = await Promise.all(peers.map((p) => p.stats().catch(() => null)));
    for (const p of peers) p.close();
    call.peers.clear();
    this.ringer.stop();
    const all = [...stats, ...(await Promise.all(call.left))].filter(Boolean);
    return call.connectedAt && all.length ? summarise(all) : null;
  }

  async hangup(reason = "hangup") {
    const call = this.call;
    if (!call || call.over) return;
    const quality = await this.release();
    if (!call.id) {
      this.finish(null); // the server has not made it yet; start() hangs it up when it does
      return;
    }
    let after = null;
    try {
      after = await this.api.post(`/calls/${call.id}/hangup`, { reason });
    } catch (err) {
      if (err.code !== "call_state_conflict") this.app.flash(err.message); // already over
    }
    await this.report(call, quality);
    this.finish(reason === "network" ? "The connection was lost, so you left the call." : null);
    if (after && after.state !== "ended") this.noteOngoing(after); // a group goes on: rejoin
  }

  async ended(outcome) {
    const call = this.call;
    if (!call || call.over) return; // we ended it ourselves: hangup() or abort() finishes
    const quality = await this.release();
    await this.report(call, quality);
    if (this.call === call) this.finish(endReason(outcome, this.directPartner(call)));
  }

  async report(call, quality) {
    if (!quality || !call.id) return;
    try {
      await this.api.post(`/calls/${call.id}/quality`, quality);
    } catch {
      // A lost quality report loses nothing of the call.
    }
  }

  directPartner(call) {
    const c = this.app.conversations.get(call.conversationId);
    return c?.kind === "direct" ? this.app.titleOf(c) : null;
  }

  // A call that could not start: the reason stays on screen.
  async abort(call, text) {
    await this.release();
    if (call.id) this.api.post(`/calls/${call.id}/hangup`, { reason: "hangup" }).catch(() => {});
    if (this.call !== call) return;
    this.view.fail(text);
    this.finish("The call did not start.");
  }

  finish(text) {
    const call = this.call;
    if (!text) {
      this.closeView();
      return;
    }
    this.view.ended(text);
    this.app.announce(text);
    if (text === "Call ended.") call.closeTimer = setTimeout(() => this.call === call && this.closeView(), AUTO_CLOSE_MS);
  }

  closeView() {
    const call = this.call;
    if (call && !call.over) return;
    clearTimeout(call?.closeTimer);
    this.call = null;
    this.view.close();
    this.renderButtons();
    document.querySelector("[data-conv-title]")?.focus();
  }
}
