// Calls as a record: an entry in the conversation's timeline for each call that ended there
// (from the durable `call.ended` event, and from the call history when a conversation
// opens), and the call history panel.

import { h } from "../chat/dom.js";
import { icon } from "./ui.js";
import { describe } from "./words.js";

const whenFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const clockFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

function missed(call, me) {
  return call.caller_id !== me && ["missed", "cancelled", "busy"].includes(call.outcome);
}

// -- in the conversation ------------------------------------------------------------------

export class Timeline {
  constructor(app) {
    this.app = app;
    this.entries = new Map(); // call id -> { call, el } for the open conversation
    this.list = document.querySelector("[data-messages]");
    new MutationObserver(() => this.placeAll()).observe(this.list, { childList: true });
  }

  // Shows the conversation's past calls; returns its recent calls (for a call under way).
  async opened(conversationId) {
    this.entries.clear();
    let calls;
    try {
      calls = await this.app.api.get(`/calls?conversation_id=${encodeURIComponent(conversationId)}&limit=50`);
    } catch {
      return []; // the conversation works without its call entries
    }
    if (this.app.current !== conversationId) return [];
    for (const c of calls) if (c.state === "ended") this.add(c);
    return calls;
  }

  // From the durable event: the same fields as the history, under other names.
  fromEvent(frame) {
    if (frame.conversation_id !== this.app.current) return;
    const d = frame.data;
    const call = { id: d.call_id, caller_id: d.caller_id, media: d.media, outcome: d.outcome, duration_seconds: d.duration_seconds, ended_at: frame.at };
    const s = this.app.els.scroller;
    const atBottom = s.scrollHeight - s.scrollTop - s.clientHeight < 120;
    this.add(call);
    if (atBottom) s.scrollTop = s.scrollHeight;
  }

  add(call) {
    if (this.entries.has(call.id)) return;
    const at = call.ended_at || call.created_at;
    const text = describe(call, this.app.me, (id) => this.app.nameOf(id));
    const el = h(
      "li",
      { class: `call-entry${missed(call, this.app.me) ? " missed" : ""}`, id: `call-${call.id}`, dataset: { callEntry: call.id, outcome: call.outcome || "" } },
      h(
        "p",
        {},
        icon(call.media === "video" ? "video" : "phone"),
        h("span", { class: "call-entry-text", text }),
        h("time", { datetime: at, text: clockFormat.format(new Date(at)) }),
      ),
    );
    const when = Date.parse(at) || 0; // a time that cannot be read sorts first, not never
    this.entries.set(call.id, { at: when, el });
    this.place(el, when);
  }

  // Entries sit among the messages by time, and move when the thread adds messages.
  // Moving an entry that is already in place is skipped, so the observer settles at once.
  // Entries that ended at the same time are ordered by call id: were each placed after
  // the other, every move would wake the observer again and the page would hang.
  placeAll() {
    for (const { at, el } of this.entries.values()) if (el.isConnected) this.place(el, at);
  }

  place(el, at) {
    let before = null;
    let previousId = 0;
    for (const li of this.list.children) {
      if (li === el) continue;
      const entry = li.classList.contains("call-entry");
      const time = entry ? Number(li.dataset.at) : Date.parse(li.querySelector("time")?.getAttribute("datetime"));
      if (time > at || (entry && time === at && li.dataset.callEntry > el.dataset.callEntry)) {
        before = li;
        break;
      }
      if (!entry) previousId = Number(li.dataset.id) || previousId;
    }
    // The thread places new messages by numeric id: this keeps the entry between its neighbours.
    el.dataset.id = String(previousId + 0.25);
    el.dataset.at = String(at);
    if (el.parentNode === this.list && el.nextElementSibling === before) return;
    if (before) before.before(el);
    else this.list.append(el);
  }
}

// -- the history panel --------------------------------------------------------------------

export class HistoryPanel {
  constructor(app) {
    this.app = app;
    this.listEl = h("ul", { class: "call-history", dataset: { callHistory: "" } });
    this.state = h("p", { class: "muted", role: "status" });
    this.el = h(
      "dialog",
      { class: "sheet call-history-dialog", "aria-labelledby": "call-history-title" },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "call-history-title", text: "Calls" }),
        h("p", { class: "hint", text: "Who took part, when and for how long. Each record is deleted when its retention period ends." }),
        this.state,
        this.listEl,
        h("div", { class: "actions" }, h("button", { type: "submit", text: "Close" })),
      ),
    );
    document.body.append(this.el);
  }

  button() {
    return h("button", { type: "button", class: "small secondary", onclick: () => this.show(), dataset: { callHistoryOpen: "" } }, "Calls");
  }

  async show() {
    this.listEl.replaceChildren();
    this.state.textContent = "Loading…";
    this.el.showModal();
    try {
      const calls = await this.app.api.get("/calls?limit=100");
      this.render(calls);
    } catch (err) {
      this.state.textContent = err.message;
    }
  }

  render(calls) {
    this.state.textContent = calls.length ? "" : "No calls yet.";
    this.listEl.replaceChildren(...calls.map((c) => this.row(c)));
  }

  row(call) {
    const me = this.app.me;
    const conversation = call.conversation_id && this.app.conversations.get(call.conversation_id);
    const others = call.participants.filter((p) => (p.key || p.user_id) !== me).map((p) => p.display_name);
    const title = conversation ? this.app.titleOf(conversation) : others.join(", ") || "Call";
    const took = call.participants.filter((p) => ["left", "connected", "accepted"].includes(p.state));
    const who = took.length > 1 ? `${took.length} took part: ${took.map((p) => ((p.key || p.user_id) === me ? "you" : p.display_name)).join(", ")}` : "";
    const open = conversation
      ? h("button", { type: "button", class: "link", onclick: () => this.goTo(call.conversation_id), text: title, "aria-label": `Open the conversation ${title}` })
      : h("strong", { text: title });
    return h(
      "li",
      { class: `call-row${missed(call, me) ? " missed" : ""}`, dataset: { callRow: call.id, outcome: call.outcome || call.state } },
      icon(call.media === "video" ? "video" : "phone"),
      h(
        "div",
        { class: "call-row-main" },
        open,
        h("span", { class: "call-row-text", text: describe(call, me, (id) => this.app.nameOf(id)) }),
        who ? h("span", { class: "call-row-who muted", text: who }) : null,
      ),
      h("time", { class: "muted", datetime: call.created_at, text: whenFormat.format(new Date(call.created_at)) }),
    );
  }

  goTo(conversationId) {
    this.el.close();
    this.app.open(conversationId, { push: true });
  }
}
