// What a person sees of a call: the call buttons, the ringing dialog, the call itself
// (a tile per participant and the controls) and the device chooser. No call logic here.

import { h } from "../chat/dom.js";
import { copyField } from "../copy.js";

const SVG = "http://www.w3.org/2000/svg";
const PATHS = {
  phone:
    "M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25 11.4 11.4 0 0 0 3.6.57 1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.45.57 3.57a1 1 0 0 1-.25 1z",
  video: "M3 6h11a2 2 0 0 1 2 2v1.5l5-3v11l-5-3V16a2 2 0 0 1-2 2H3a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2z",
  mic: "M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-3.1A7 7 0 0 0 19 11z",
  screen: "M3 4h18a1 1 0 0 1 1 1v11a1 1 0 0 1-1 1h-7v2h3v2H7v-2h3v-2H3a1 1 0 0 1-1-1V5a1 1 0 0 1 1-1z",
  gear: "M12 8a4 4 0 1 0 0 8 4 4 0 0 0 0-8zm9 5.2v-2.4l-2.4-.6-.6-1.4 1.3-2.1-1.7-1.7-2.1 1.3-1.4-.6L13.2 3h-2.4l-.6 2.4-1.4.6-2.1-1.3-1.7 1.7 1.3 2.1-.6 1.4L3 10.8v2.4l2.4.6.6 1.4-1.3 2.1 1.7 1.7 2.1-1.3 1.4.6.6 2.4h2.4l.6-2.4 1.4-.6 2.1 1.3 1.7-1.7-1.3-2.1.6-1.4z",
  link: "M10.6 13.4a1 1 0 0 1 0-1.4l3.5-3.5a1 1 0 1 1 1.4 1.4l-3.5 3.5a1 1 0 0 1-1.4 0zm-2.1 5.3a4 4 0 0 1-5.7-5.7l2.8-2.8a1 1 0 0 1 1.4 1.4l-2.8 2.8a2 2 0 0 0 2.8 2.8l2.8-2.8a1 1 0 0 1 1.4 1.4zm7-5.6a1 1 0 0 1 0-1.4l2.8-2.8a2 2 0 0 0-2.8-2.8l-2.8 2.8a1 1 0 1 1-1.4-1.4l2.8-2.8a4 4 0 0 1 5.7 5.7l-2.8 2.8a1 1 0 0 1-1.5 0z",
  hangup: "M12 9c-3.2 0-6.2.9-8.8 2.5a1 1 0 0 0-.4 1.2l1 2.3a1 1 0 0 0 1.2.6l3-.9a1 1 0 0 0 .7-.9V12a12 12 0 0 1 6.6 0v1.8a1 1 0 0 0 .7.9l3 .9a1 1 0 0 0 1.2-.6l1-2.3a1 1 0 0 0-.4-1.2A16.7 16.7 0 0 0 12 9z",
};

export function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", "icon");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", PATHS[name]);
  svg.append(path);
  return svg;
}

function iconButton(name, label, attrs = {}) {
  const { class: extra = "", text, ...rest } = attrs;
  return h(
    "button",
    { type: "button", ...rest, class: `call-btn ${extra}`.trim(), "aria-label": label, title: label },
    icon(name),
    text ? h("span", { class: "call-btn-text", text }) : null,
  );
}

// -- the call buttons in a conversation's header ----------------------------------------

export function headerButtons({ onAudio, onVideo, onJoin }) {
  const audio = iconButton("phone", "Start a voice call", { class: "secondary small", onclick: onAudio, dataset: { callStart: "audio" } });
  const video = iconButton("video", "Start a video call", { class: "secondary small", onclick: onVideo, dataset: { callStart: "video" } });
  const join = iconButton("phone", "Join the call under way", { class: "small join", onclick: onJoin, hidden: true, text: "Join" });
  return { group: h("div", { class: "call-start", role: "group", "aria-label": "Call" }, join, audio, video), audio, video, join };
}

// -- ringing ------------------------------------------------------------------------------

export class RingDialog {
  constructor({ onAccept, onDecline }) {
    this.title = h("h2", { id: "call-ring-title", text: "" });
    this.detail = h("p", { class: "muted", text: "" });
    this.acceptVideo = h("button", { type: "button", class: "accept", onclick: () => onAccept("video") }, icon("video"), " Accept with video");
    this.acceptAudio = h("button", { type: "button", class: "accept", onclick: () => onAccept("audio") }, icon("phone"), " Accept with sound only");
    this.decline = h("button", { type: "button", class: "danger", onclick: () => onDecline() }, icon("hangup"), " Decline");
    this.el = h(
      "dialog",
      { class: "call-ring", "aria-labelledby": "call-ring-title", "aria-describedby": "call-ring-detail", dataset: { callRing: "" } },
      h("div", { class: "ring-pulse", "aria-hidden": "true" }, icon("phone")),
      this.title,
      h("p", { id: "call-ring-detail", class: "muted" }, this.detail),
      h("div", { class: "actions" }, this.acceptVideo, this.acceptAudio, this.decline),
    );
    this.el.addEventListener("cancel", (e) => {
      e.preventDefault(); // Escape declines rather than just hiding the dialog
      onDecline();
    });
    document.body.append(this.el);
  }

  show(name, media) {
    this.title.textContent = `${name} is calling`;
    this.detail.textContent = media === "video" ? "Video call" : "Voice call";
    this.acceptVideo.hidden = media !== "video";
    this.busy(false);
    if (!this.el.open) this.el.showModal();
    (media === "video" ? this.acceptVideo : this.acceptAudio).focus();
  }

  busy(on) {
    for (const b of [this.acceptVideo, this.acceptAudio, this.decline]) b.disabled = on;
  }

  hide() {
    if (this.el.open) this.el.close();
  }

  get open() {
    return this.el.open;
  }
}

// -- the call -----------------------------------------------------------------------------

export class CallView {
  constructor(handlers) {
    this.handlers = handlers;
    this.tiles = new Map();
    this.title = h("h2", { id: "call-title", class: "call-title", tabindex: "-1", text: "" });
    this.status = h("p", { class: "call-status", role: "status", dataset: { callStatus: "" } });
    this.timer = h("span", { class: "call-timer", "aria-hidden": "true" });
    this.error = h("p", { class: "call-error", role: "alert", hidden: true, dataset: { callError: "" } });
    this.grid = h("div", { class: "tiles", dataset: { count: "1" } });
    this.controls = this.buildControls();
    this.closeButton = h("button", { type: "button", onclick: () => handlers.onClose(), text: "Close" });
    this.overText = h("p", { class: "call-over-text", "aria-hidden": "true" }); // the status says it
    this.over = h("div", { class: "call-over", hidden: true }, this.overText, this.closeButton);
    this.el = h(
      "section",
      { class: "call-view", "aria-labelledby": "call-title", hidden: true, dataset: { callView: "" } },
      h("header", { class: "call-head" }, h("div", {}, this.title, h("div", { class: "call-sub" }, this.status, this.timer))),
      this.error,
      this.grid,
      this.over,
      h("div", { class: "call-controls" }, this.controls.group),
    );
    document.body.append(this.el);
  }

  buildControls() {
    const hd = this.handlers;
    const mic = iconButton("mic", "Mute microphone", { "aria-pressed": "false", onclick: () => hd.onMic(), dataset: { callMic: "" }, text: "Mute" });
    const cam = iconButton("video", "Turn camera off", { "aria-pressed": "false", onclick: () => hd.onCam(), dataset: { callCam: "" }, text: "Camera" });
    const screen = iconButton("screen", "Share your screen", { "aria-pressed": "false", onclick: () => hd.onScreen(), dataset: { callScreen: "" }, text: "Share" });
    const devices = iconButton("gear", "Choose microphone and camera", { onclick: () => hd.onDevices(), dataset: { callDevices: "" }, text: "Devices" });
    const invite = iconButton("link", "Invite a guest by link", { onclick: () => hd.onInvite?.(), "aria-haspopup": "dialog", dataset: { callInvite: "" }, text: "Invite" });
    const hangup = iconButton("hangup", "Hang up", { class: "danger", onclick: () => hd.onHangup(), dataset: { callHangup: "" }, text: "Hang up" });
    if (!navigator.mediaDevices?.getDisplayMedia) screen.hidden = true;
    invite.hidden = !hd.onInvite; // guests cannot invite
    const group = h("div", { class: "call-buttons", role: "toolbar", "aria-label": "Call controls" }, mic, cam, screen, devices, invite, hangup);
    return { group, mic, cam, screen, devices, invite, hangup };
  }

  open(title) {
    this.title.textContent = title;
    this.error.hidden = true;
    this.over.hidden = true;
    this.grid.hidden = false;
    this.controls.group.hidden = false;
    this.el.hidden = false;
    document.body.classList.add("in-call");
    this.title.focus();
  }

  close() {
    this.el.hidden = true;
    document.body.classList.remove("in-call");
    for (const key of [...this.tiles.keys()]) this.removeTile(key);
    this.setTimer(null);
  }

  say(text) {
    this.status.textContent = text;
  }

  fail(text) {
    this.error.textContent = text;
    this.error.hidden = !text;
  }

  // The call is over: the controls go, the reason stays until the person closes it.
  ended(text) {
    this.say(text);
    this.setTimer(null);
    this.controls.group.hidden = true;
    for (const key of [...this.tiles.keys()]) this.removeTile(key);
    this.grid.hidden = true;
    this.overText.textContent = text;
    this.over.hidden = false;
    this.closeButton.focus();
  }

  setTimer(since) {
    clearInterval(this.ticker);
    this.timer.textContent = "";
    if (since === null) return;
    const tick = () => {
      const s = Math.max(0, Math.round((performance.now() - since) / 1000));
      this.timer.textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
    };
    tick();
    this.ticker = setInterval(tick, 1000);
  }

  controlsState({ mic, cam, screen }) {
    const c = this.controls;
    press(c.mic, !mic, mic ? "Mute microphone" : "Unmute microphone", mic ? "Mute" : "Unmute");
    press(c.cam, !cam, cam ? "Turn camera off" : "Turn camera on", cam ? "Camera off" : "Camera on");
    press(c.screen, screen, screen ? "Stop sharing your screen" : "Share your screen", screen ? "Stop sharing" : "Share");
  }

  // -- tiles ------------------------------------------------------------------------------

  tile(key, name, { self = false } = {}) {
    let t = this.tiles.get(key);
    if (t) return t;
    const video = h("video", { autoplay: true, playsinline: true, "aria-hidden": "true" });
    video.muted = self; // never play our own microphone back
    const initials = h("span", { class: "initials", "aria-hidden": "true", text: initialsOf(name) });
    const muted = h("span", { class: "muted-badge", hidden: true }, icon("mic"), h("span", { text: "Muted" }));
    const label = h("span", { class: "tile-name", text: self ? `${name} (you)` : name });
    const state = h("span", { class: "tile-state", text: "" });
    const el = h(
      "figure",
      { class: `tile${self ? " self" : ""}`, dataset: { tile: key }, "aria-label": self ? "You" : name },
      video,
      initials,
      h("figcaption", {}, label, muted, state),
    );
    t = { el, video, initials, muted, state, stream: null };
    this.tiles.set(key, t);
    if (self) this.grid.prepend(el);
    else this.grid.append(el);
    this.grid.dataset.count = String(this.tiles.size);
    return t;
  }

  showTile(key, { stream, video, mic, note }) {
    const t = this.tiles.get(key);
    if (!t) return;
    if (t.video.srcObject !== stream) t.video.srcObject = stream;
    t.el.classList.toggle("has-video", !!video);
    t.muted.hidden = mic !== false;
    t.state.textContent = note || "";
    if (video && t.video.paused) t.video.play().catch(() => {});
  }

  rename(key, name) {
    const t = this.tiles.get(key);
    if (!t) return;
    const self = t.el.classList.contains("self");
    t.el.setAttribute("aria-label", self ? "You" : name);
    t.el.querySelector(".tile-name").textContent = self ? `${name} (you)` : name;
    t.initials.textContent = initialsOf(name);
  }

  removeTile(key) {
    const t = this.tiles.get(key);
    if (!t) return;
    t.video.srcObject = null;
    t.el.remove();
    this.tiles.delete(key);
    this.grid.dataset.count = String(this.tiles.size);
  }
}

function press(button, on, label, text) {
  button.setAttribute("aria-pressed", on ? "true" : "false");
  button.setAttribute("aria-label", label);
  button.title = label;
  const span = button.querySelector(".call-btn-text");
  if (span) span.textContent = text;
}

function initialsOf(name) {
  const parts = (name || "?").trim().split(/\s+/).slice(0, 2);
  return parts.map((p) => p[0] || "").join("").toUpperCase() || "?";
}

// -- devices ------------------------------------------------------------------------------

export class DeviceDialog {
  constructor({ onChoose }) {
    this.mic = h("select", { id: "call-mic" });
    this.cam = h("select", { id: "call-cam" });
    this.note = h("p", { class: "hint", role: "status" });
    this.el = h(
      "dialog",
      { class: "sheet call-devices", "aria-labelledby": "call-devices-title" },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "call-devices-title", text: "Microphone and camera" }),
        h("label", { for: "call-mic", text: "Microphone" }),
        this.mic,
        h("label", { for: "call-cam", text: "Camera" }),
        this.cam,
        this.note,
        h("div", { class: "actions" }, h("button", { type: "submit", text: "Done" })),
      ),
    );
    this.mic.addEventListener("change", () => onChoose("mic", this.mic.value));
    this.cam.addEventListener("change", () => onChoose("cam", this.cam.value));
    document.body.append(this.el);
  }

  show({ mics, cams }, { micId, camId }) {
    fill(this.mic, mics, micId, "Microphone");
    fill(this.cam, cams, camId, "Camera");
    this.cam.disabled = !cams.length;
    this.note.textContent = cams.length ? "" : "No camera found.";
    this.el.showModal();
    this.mic.focus();
  }

  say(text) {
    this.note.textContent = text;
  }
}

function fill(select, devices, current, noun) {
  select.replaceChildren(
    ...devices.map((d, i) => h("option", { value: d.deviceId, text: d.label || `${noun} ${i + 1}`, selected: d.deviceId === current })),
  );
}

// -- inviting a guest ---------------------------------------------------------------------

// Shows a join link for one guest, with a button that copies it.
export class InviteDialog {
  constructor() {
    this.link = h("input", { id: "call-invite-link", type: "text", readonly: true, class: "invite-link", "aria-describedby": "call-invite-hint" });
    this.expiry = h("span", {});
    this.note = h("p", { class: "hint", role: "status", dataset: { inviteStatus: "" } });
    this.copyButton = h("button", { type: "button", onclick: () => this.copy(), dataset: { inviteCopy: "" } }, "Copy link");
    this.el = h(
      "dialog",
      { class: "sheet call-invite", "aria-labelledby": "call-invite-title" },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "call-invite-title", text: "Invite by link" }),
        h(
          "p",
          { id: "call-invite-hint", class: "hint" },
          "Whoever opens this link joins this call as a guest, under a name they type: no account needed. ",
          "Make one link per guest. It stops working when the call ends, or at ",
          this.expiry,
          " at the latest.",
        ),
        h("label", { for: "call-invite-link", text: "Guest link" }),
        h("div", { class: "invite-row" }, this.link, this.copyButton),
        this.note,
        h("div", { class: "actions" }, h("button", { type: "submit", class: "secondary", text: "Done" })),
      ),
    );
    document.body.append(this.el);
  }

  busy() {
    this.link.value = "";
    this.expiry.textContent = "…";
    this.note.textContent = "Making a link…";
    this.copyButton.disabled = true;
    if (!this.el.open) this.el.showModal();
  }

  show({ url, expires_at: expires }) {
    this.link.value = url;
    this.expiry.textContent = new Date(expires).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
    this.note.textContent = "";
    this.copyButton.disabled = false;
    if (!this.el.open) this.el.showModal();
    this.link.focus();
    this.link.select();
  }

  fail(text) {
    this.note.textContent = text;
  }

  copy() {
    return copyField(this.link, this.note);
  }

  hide() {
    if (this.el.open) this.el.close();
  }
}
