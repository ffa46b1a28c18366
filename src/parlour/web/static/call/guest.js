// The guest's page of a call opened from a link (P-ACC-7). The server has taken the guest's
// name and set their cookie; here they choose camera or sound only (with a preview), join,
// and take part like anyone else: the same CallSession, controls and view as the chat page,
// over the guest API (/api/v1/guest/…) and the guest stream.
//
// Privacy: the camera opens only when the guest asks for a preview or joins, and every
// track stops as soon as the call ends for them (P-CALL-1).

import { Api } from "../chat/api.js";
import { Stream } from "../chat/stream.js";
import { Controls, viewHandlers } from "./controls.js";
import { clientFacts, LocalMedia } from "./media.js";
import { ACTIVE, CallSession, keyOf } from "./session.js";
import { CallView } from "./ui.js";
import { endReason } from "./words.js";

const READY_MS = 15000;
const SFU_CALL = "This call is carried by the media server, which guests cannot join yet. Ask to be invited to a smaller call.";

// The guest's requests: their own CSRF token, and no sign-in page to send them to when the
// pass runs out (the call ended): the error says so instead.
class GuestApi extends Api {
  unauthenticated() {}
}

// The chat's stream, pointed at the guest's: one call's notices and signalling only.
class GuestStream extends Stream {
  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/api/v1/guest/stream`;
  }
}

class GuestCall {
  constructor(root) {
    this.root = root;
    this.callId = root.dataset.callId;
    this.me = root.dataset.guestKey;
    this.api = new GuestApi(root.dataset.guestCsrf);
    this.version = new URL(import.meta.url).searchParams.get("v");
    this.ice = null; // STUN and TURN, fetched once when joining
    this.call = null; // the CallSession once joined
    this.state = null; // the call as the server last described it
    this.preview = null; // LocalMedia opened before joining
    this.done = false;
    this.els = {
      who: root.querySelector("[data-guest-who]"),
      form: root.querySelector("[data-guest-join]"),
      join: root.querySelector("[data-guest-join-button]"),
      previewButton: root.querySelector("[data-guest-preview-button]"),
      previewTile: root.querySelector("[data-guest-preview]"),
      previewNote: root.querySelector("[data-preview-note]"),
      error: root.querySelector("[data-guest-error]"),
      doneCard: document.querySelector("[data-guest-done]"),
      doneText: document.querySelector("[data-guest-done-text]"),
    };
    this.controls = new Controls(this);
    this.view = new CallView(viewHandlers(this));
    this.ready = new Promise((resolve) => {
      this.stream = new GuestStream({
        onEvent: (frame) => this.event(frame),
        onReady: () => {
          resolve();
          this.reconnected();
        },
        onStatus: () => {},
        onSignedOut: () => this.passGone(),
      });
    });
    this.els.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.join();
    });
    this.els.previewButton.addEventListener("click", () => this.togglePreview());
    for (const radio of this.els.form.elements.media) radio.addEventListener("change", () => this.mediaChosen());
    window.addEventListener("pagehide", () => this.leaving());
    window.parlourCall = this; // for people debugging calls, and for the browser tests
    this.stream.start();
    this.describe();
  }

  // The connections that receive the others' media (the browser tests read their statistics).
  get peers() {
    return this.call ? this.call.pcs : [];
  }

  // Who is in the call, for the lobby; a call that ended meanwhile says so.
  async describe() {
    try {
      this.state = await this.api.get("/guest/call");
    } catch (err) {
      if (err.status === 401) return this.passGone();
      this.els.who.textContent = err.describe();
      return;
    }
    const names = this.state.participants.filter((p) => ACTIVE.has(p.state) && keyOf(p) !== this.me).map((p) => p.display_name);
    const media = this.state.media === "video" ? "video call" : "voice call";
    this.els.who.textContent = names.length ? `A ${media} with ${list(names)}.` : `A ${media}. Nobody has answered yet.`;
    if (this.state.media !== "video") this.els.form.elements.media.value = "audio";
    if (this.state.mode === "sfu") this.fail(SFU_CALL);
  }

  chosenMedia() {
    return this.els.form.elements.media.value === "audio" ? "audio" : "video";
  }

  // -- before joining -----------------------------------------------------------------------

  async togglePreview() {
    this.fail("");
    const local = (this.preview ||= new LocalMedia());
    if (local.cam) local.closeCam();
    else {
      try {
        await local.openCam();
      } catch (err) {
        this.fail(err.message);
      }
    }
    this.showPreview();
  }

  mediaChosen() {
    if (this.chosenMedia() === "audio" && this.preview?.cam) {
      this.preview.closeCam();
      this.showPreview();
    }
  }

  showPreview() {
    const on = !!this.preview?.cam;
    const video = this.els.previewTile.querySelector("video");
    video.srcObject = on ? this.preview.stream : null;
    this.els.previewTile.classList.toggle("has-video", on);
    this.els.previewNote.textContent = on ? "Your camera" : "Camera off";
    this.els.previewButton.textContent = on ? "Stop preview" : "Preview camera";
    if (on) this.els.form.elements.media.value = "video";
  }

  fail(text) {
    this.els.error.textContent = text;
    this.els.error.hidden = !text;
  }

  // -- joining -------------------------------------------------------------------------------

  async join() {
    if (this.call || this.done) return;
    if (this.state?.mode === "sfu") return this.fail(SFU_CALL);
    const media = this.chosenMedia();
    this.fail("");
    this.els.join.disabled = true;
    const local = (this.preview ||= new LocalMedia());
    this.preview = null;
    const call = new CallSession({
      id: this.callId,
      media,
      title: "Call",
      me: this.me,
      view: this.view,
      api: this.api,
      endpoint: (what) => `/guest/call/${what}`,
      statePath: () => "/guest/call",
      send: (frame) => this.stream.send(frame),
      nameOf: () => "Someone",
      ice: () => this.ice,
      sfu: false,
      local,
      onNetworkLost: () => this.call === call && this.hangup("network"),
    });
    this.call = call;
    try {
      this.ice ||= await this.api.get("/guest/call/ice"); // STUN and TURN, as members get
      const warning = await this.openMedia(call, media);
      await Promise.race([this.ready, wait(READY_MS)]);
      if (!this.stream.deviceId) throw new Error("No connection to the call right now. Try again in a moment.");
      if (call.over) return;
      this.els.previewTile.querySelector("video").srcObject = null; // the call's own tile shows it now
      this.view.open(this.titleOf(this.state));
      this.view.tile("me", "You", { self: true });
      this.view.fail(warning);
      this.view.say("Joining…");
      call.refreshLocal();
      call.deviceId = this.stream.deviceId;
      const answer = await this.api.post("/guest/call/accept", { device_id: call.deviceId, client: clientFacts(this.version) });
      if (call.over) return;
      this.state = answer;
      this.view.title.textContent = this.titleOf(answer);
      const mine = answer.participants.find((p) => keyOf(p) === this.me);
      if (mine?.display_name) this.view.rename("me", mine.display_name);
      this.view.say("Connecting…");
      call.sync(answer);
    } catch (err) {
      await this.abort(call, err.describe ? err.describe() : err.message);
    }
  }

  // Sound, and the camera for video; a camera opened for the preview is kept. A camera that
  // will not open leaves a warning (returned) and the guest joins with sound.
  async openMedia(call, media) {
    const local = call.local;
    if (media === "audio" && local.cam) local.closeCam();
    if (!local.mic) await local.openMic();
    if (media === "video" && !local.cam) {
      try {
        await local.openCam();
      } catch (err) {
        return `${err.message} You join with sound only.`;
      }
    }
    return "";
  }

  titleOf(state) {
    const names = (state?.participants || []).filter((p) => ACTIVE.has(p.state) && keyOf(p) !== this.me).map((p) => p.display_name);
    return names.length ? `Call with ${list(names)}` : "Call";
  }

  // A call that could not be joined: back to the lobby with the reason.
  async abort(call, text) {
    await call.release();
    if (this.call !== call) return;
    this.call = null;
    this.view.close();
    document.body.classList.remove("in-call");
    this.els.join.disabled = false;
    this.showPreview();
    this.fail(text);
    this.root.querySelector("[data-guest-heading]").focus();
  }

  // -- during the call -------------------------------------------------------------------------

  refreshLocal() {
    this.call?.refreshLocal();
  }

  event(frame) {
    const data = frame.data || {};
    const call = this.call;
    if (frame.type === "error") {
      if (call && !call.over) this.view.fail(frame.detail);
      return;
    }
    if (data.call_id !== this.callId) return;
    if (data.call) this.state = data.call;
    if (!call || !call.id) return;
    switch (frame.type) {
      case "call.signal":
        return call.signal(data);
      case "call.feed":
        return call.feed(data);
      case "call.accepted":
      case "call.joined":
      case "call.left":
      case "call.declined":
        this.view.title.textContent = this.titleOf(data.call);
        return call.sync(data.call);
      case "call.connected":
        return call.markConnected();
      case "call.ended":
        return this.ended(data.outcome || data.call?.outcome);
    }
  }

  // The stream came back on a new connection: the call's signalling moves to it, and the
  // server keeps our place (a place whose connection stays gone is given up after a while).
  async reconnected() {
    const call = this.call;
    const deviceId = this.stream.deviceId;
    if (!call || call.over || !call.deviceId || !deviceId || call.deviceId === deviceId) return;
    call.deviceId = deviceId;
    try {
      await this.api.post("/guest/call/device", { device_id: deviceId });
    } catch {
      if (!call.over) await this.hangup("network"); // we were taken out while away
    }
  }

  // -- the end ---------------------------------------------------------------------------------

  // We hang up: our media stops first. No quality report: the server keeps none for guests,
  // who have no way to object to it.
  async hangup(reason = "hangup") {
    const call = this.call;
    if (!call || call.over) return;
    await call.release();
    await this.api.post("/guest/call/hangup", { reason }).catch(() => {});
    this.finish(reason === "network" ? "The connection was lost, so you left the call." : "You hung up.");
  }

  // The call ended around us.
  async ended(outcome) {
    const call = this.call;
    if (!call || call.over) return;
    await call.release();
    this.finish(endReason(outcome, null));
  }

  // The pass stopped working (the call ended, or the link expired).
  passGone() {
    if (this.call && !this.call.over) return this.ended("completed");
    if (!this.call) this.finish("The call has ended, or this link has expired.");
  }

  // The page is closing mid-call: a keepalive request tells the others we left.
  leaving() {
    const call = this.call;
    this.preview?.stop();
    if (!call || call.over) return;
    call.over = true;
    call.local.stop();
    fetch("/api/v1/guest/call/hangup", {
      method: "POST",
      keepalive: true,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": this.api.csrf },
      body: JSON.stringify({ reason: "hangup" }),
    }).catch(() => {});
  }

  finish(text) {
    this.done = true;
    this.preview?.stop();
    this.preview = null;
    this.stream.stopped = true;
    this.stream.drop("ended");
    this.view.close();
    this.root.hidden = true;
    this.els.doneText.textContent = text;
    this.els.doneCard.hidden = false;
    this.els.doneCard.querySelector("h1").focus();
  }

  closeView() {
    this.view.close();
  }
}

function list(names) {
  if (names.length < 2) return names.join("");
  return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

function wait(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const root = document.getElementById("guest-call");
if (root) new GuestCall(root);
