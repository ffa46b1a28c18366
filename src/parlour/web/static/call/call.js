// The call controller of the chat page: starts, answers, declines and ends calls over the
// JSON API and applies the call frames of the stream; the call itself (our media, the
// connections to the others through a mesh or the SFU, the tiles) is a CallSession. The chat
// app hands it every frame whose type starts with "call." and tells it when a conversation
// opens or closes.
//
// Privacy: the camera and microphone are opened when a call starts or is answered, and every
// track is stopped the moment it ends, before anything else is sent (P-CALL-1).

import { Controls, viewHandlers } from "./controls.js";
import { HistoryPanel, Timeline } from "./history.js";
import { clientFacts } from "./media.js";
import { Ringer } from "./ringer.js";
import { ACTIVE, CallSession, keyOf } from "./session.js";
import { CallView, headerButtons, InviteDialog, RingDialog } from "./ui.js";
import { endReason } from "./words.js";

const WAITING = new Set(["invited", "ringing"]);
const STOP_RINGING = {
  "call.answered_elsewhere": "Answered on another device.",
  "call.cancelled": "The caller hung up.",
  "call.missed": "Missed call.",
  "call.stop_ringing": "Declined.",
};
const AUTO_CLOSE_MS = 4000;

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
    this.view = new CallView({ ...viewHandlers(this), onInvite: () => this.invite() });
    this.inviteDialog = new InviteDialog();
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

  // The connections that receive the others' media (the browser tests read their statistics).
  get peers() {
    return this.call ? this.call.pcs : [];
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
    if (this.call) return this.reconnected();
    if (this.ringing) return;
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
        return call.signal(data);
      case "call.feed":
        return call.feed(data);
      case "call.ringing":
        if (!call.connectedAt) this.view.say("Ringing…");
        return;
      case "call.accepted":
      case "call.joined":
        if (!call.connectedAt) this.view.say("Connecting…");
        return this.sync(data.call);
      case "call.left":
        this.app.announce(`${call.nameFor(data.by)} left the call.`);
        return this.sync(data.call);
      case "call.declined":
        return this.sync(data.call);
      case "call.connected":
        return call.markConnected();
      case "call.ended":
        return this.ended(data.outcome || data.call?.outcome);
    }
  }

  // -- starting and answering ----------------------------------------------------------------

  begin({ id = null, media, conversationId, title }) {
    const call = new CallSession({
      id,
      media,
      title,
      me: this.me,
      view: this.view,
      api: this.api,
      endpoint: (what) => `/calls/${call.id}/${what}`,
      statePath: () => `/calls/${call.id}`,
      send: (frame) => this.app.stream.send(frame),
      nameOf: (key) => this.app.nameOf(key),
      ice: () => this.ice,
      sfu: true,
      onNetworkLost: () => this.call === call && this.hangup("network"),
    });
    call.conversationId = conversationId;
    call.early = []; // frames of our own call, before the server told us its id
    this.call = call;
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
    call.deviceId = deviceId;
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
      await this.abort(call, err.describe ? err.describe() : err.message);
      this.offerLeave(call, err.problem?.call_id);
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
    if (this.call?.over) this.closeView(); // the last call's end notice gives way to a new one
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
      call.deviceId = this.app.stream.deviceId;
      const body = { device_id: call.deviceId, client: clientFacts(this.version) };
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

  // The stream came back on a new connection (a network change, a server restart): the
  // call's signalling moves to it, and the server keeps our place. If we were taken out of
  // the call while away (gone too long), the call is over here too.
  async reconnected() {
    const call = this.call;
    const deviceId = this.app.stream.deviceId;
    if (!call?.id || call.over || !deviceId || call.deviceId === deviceId) return;
    call.deviceId = deviceId;
    try {
      await this.api.post(`/calls/${call.id}/device`, { device_id: deviceId });
    } catch (err) {
      if (err.code === "call_state_conflict" && this.call === call) await this.hangup("network");
    }
  }

  // Starting was refused because we are still in another call (on another device, or one
  // whose page is gone): the way out is to leave that call from here.
  offerLeave(call, otherId) {
    if (!otherId || this.call !== call) return;
    this.view.offerLeave(async () => {
      try {
        await this.api.post(`/calls/${otherId}/hangup`, { reason: "hangup" });
      } catch (err) {
        if (err.code !== "call_state_conflict") return this.view.fail(err.describe ? err.describe() : err.message);
      }
      this.closeView();
      this.app.announce("You left that call. You can start a new one now.");
    });
  }

  // -- the call's connections ----------------------------------------------------------

  // Makes the connections match the call's active participants.
  sync(state) {
    const call = this.call;
    if (!call) return;
    call.sync(state);
    this.view.controls.invite.hidden = call.mode === "sfu"; // guests cannot use the SFU yet
  }

  refreshLocal() {
    this.call?.refreshLocal();
  }

  // Makes a join link for a guest and shows it with a copy button.
  async invite() {
    const call = this.call;
    if (!call?.id || call.over) return;
    this.inviteDialog.busy();
    try {
      this.inviteDialog.show(await this.api.post(`/calls/${call.id}/guest-links`));
    } catch (err) {
      this.inviteDialog.fail(err.describe ? err.describe() : err.message);
    }
  }

  // -- ending -------------------------------------------------------------------------------

  // Stops our media and closes the connections; returns the quality report, if any.
  async release() {
    const call = this.call;
    if (!call || call.over) return null;
    this.ringer.stop();
    this.inviteDialog.hide();
    return call.release();
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
