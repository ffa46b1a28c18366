// The chat controller: state (conversations, people, presence, blocks), routing between
// the list and a conversation, and the events of the stream applied to both.

import { Calls } from "../call/call.js";
import { Api, signIn } from "./api.js";
import { Composer } from "./composer.js";
import { Details } from "./details.js";
import { h, plainText, snippet } from "./dom.js";
import { renderList, renderResults } from "./list.js";
import { Menus } from "./menus.js";
import { NewChat } from "./newchat.js";
import { Stream } from "./stream.js";
import { Thread } from "./thread.js";

const STATUS = {
  connecting: "Connecting…",
  live: "Connected",
  reconnecting: "Reconnecting…",
  offline: "Offline: new messages arrive when you are back",
  "signed-out": "Signed out",
};
const PRESENCE = { online: "online", idle: "away" };
const TYPING_SHOWN_MS = 5000;

function wait(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function noun(c) {
  return { group: "group", broadcast: "broadcast list" }[c?.kind] || "conversation";
}

function pick(root, names) {
  const els = {};
  for (const name of names) els[name] = root.querySelector(`[data-${name}]`);
  return els;
}

export class App {
  constructor(root) {
    this.root = root;
    this.me = root.dataset.userId;
    this.orgId = root.dataset.orgId;
    this.api = new Api(document.querySelector('meta[name="csrf-token"]').content);
    this.conversations = new Map();
    this.people = new Map();
    this.online = new Map();
    this.blocked = new Set();
    this.typers = new Map();
    this.refreshing = new Map();
    this.current = null;
    this.thread = null;
    this.loaded = false;
    this.pending = [];
    this.els = pick(document, [
      "conn", "search", "search-results", "results", "list-nav", "conversations", "list-empty",
      "placeholder", "conv", "back", "conv-title", "conv-sub", "block", "blocked-note", "scroller",
      "history-state", "messages", "typing", "readonly", "composer", "announcer", "new-chat",
      "details", "left-note",
    ]);
    this.menus = new Menus();
    this.deleteDialog = document.querySelector("[data-delete-dialog]");
    this.composer = new Composer(this, {
      form: this.els.composer,
      input: document.querySelector("[data-input]"),
      send: document.querySelector("[data-send]"),
      error: document.querySelector("[data-composer-error]"),
      context: document.querySelector("[data-context]"),
      contextText: document.querySelector("[data-context-text]"),
      cancel: document.querySelector("[data-context-cancel]"),
      count: document.querySelector("[data-char-count]"),
    });
    this.stream = new Stream({
      onEvent: (frame) => this.event(frame),
      onReady: () => this.ready(),
      onStatus: (state) => this.status(state),
      onSignedOut: signIn,
    });
    this.newChat = new NewChat(this, document.querySelector("[data-new-dialog]"));
    this.details = new Details(this, document.querySelector("[data-details-dialog]"));
    this.leaving = null; // the conversation this window is leaving on purpose
    this.calls = new Calls(this);
  }

  async start() {
    this.bind();
    const ready = new Promise((resolve) => {
      this.firstReady = resolve;
    });
    this.stream.start();
    await Promise.race([ready, wait(4000)]); // load after the stream's start: no gap
    try {
      await this.loadAll();
    } catch (err) {
      this.els.placeholder.textContent = `Could not load your conversations: ${err.message}`;
      return;
    }
    const initial = this.root.dataset.conversationId;
    history.replaceState({ chat: initial || null }, "", location.pathname);
    if (initial) await this.open(initial);
    else this.showList();
  }

  // Presence is not replayed after a drop, so it is asked for again.
  ready() {
    this.firstReady?.();
    if (this.loaded) this.loadPresence();
    if (this.loaded) this.calls.ready();
  }

  bind() {
    this.els.back.addEventListener("click", () => this.back());
    this.els["new-chat"].addEventListener("click", () => this.newChat.show());
    this.els.block.addEventListener("click", () => this.toggleBlock());
    this.els.details.addEventListener("click", () => {
      const c = this.conversations.get(this.current);
      if (c) this.details.show(c);
    });
    window.addEventListener("popstate", () => this.route());
    document.addEventListener("visibilitychange", () => this.visibility());
    const search = this.els.search.querySelector("input");
    let timer = null;
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.search(search.value), 250);
    });
    search.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && search.value) {
        e.preventDefault();
        search.value = "";
        this.search("");
      }
    });
    this.els.search.addEventListener("submit", (e) => {
      e.preventDefault();
      this.search(search.value);
    });
  }

  // -- loading ---------------------------------------------------------------------------

  async loadAll() {
    const [list, people, blocks] = await Promise.all([
      this.api.get("/conversations"),
      this.api.get(`/orgs/${this.orgId}/members`),
      this.api.get("/me/blocks"),
    ]);
    for (const person of people) this.people.set(person.id, person);
    this.conversations = new Map(list.map((c) => [c.id, c]));
    this.blocked = new Set(blocks.map((b) => b.user_id));
    this.loaded = true;
    for (const frame of this.pending.splice(0)) this.event(frame);
    this.renderList();
    this.loadPresence();
    this.calls.ready();
  }

  async loadPresence() {
    const ids = [...this.people.keys()].filter((id) => id !== this.me).slice(0, 500);
    if (!ids.length) return;
    const query = ids.map((id) => `user_id=${encodeURIComponent(id)}`).join("&");
    try {
      const { online } = await this.api.get(`/presence?${query}`);
      for (const id of online) if (!this.online.has(id)) this.online.set(id, "online");
      this.renderList();
      this.renderHeader();
    } catch {
      // Presence is a nicety: the chat works without it.
    }
  }

  async refreshPeople() {
    const people = await this.api.get(`/orgs/${this.orgId}/members`);
    for (const person of people) this.people.set(person.id, person);
  }

  // One request per conversation at a time, however many events ask for it.
  refreshConversation(id) {
    if (this.refreshing.has(id)) return this.refreshing.get(id);
    const task = wait(50)
      .then(() => this.api.get(`/conversations/${id}`))
      .then((c) => this.added(c))
      .catch((err) => {
        if (err.status === 404) this.removed(id); // left it, or it is gone
      })
      .finally(() => this.refreshing.delete(id));
    this.refreshing.set(id, task);
    return task;
  }

  added(c) {
    const known = this.conversations.get(c.id);
    if (known && known.last_message && (!c.last_message || known.last_message.id > c.last_message.id)) {
      c.last_message = known.last_message;
    }
    this.conversations.set(c.id, c);
    if (c.members.some((m) => !this.people.has(m.user_id))) this.refreshPeople().then(() => this.renderList());
    if (this.thread && this.current === c.id) this.thread.c = c;
    this.renderList();
    if (this.current === c.id) this.renderHeader();
  }

  // Gone from this window: left here, or removed by an admin (or left on another device).
  // Someone removed while reading it keeps the messages in view, says so, and cannot send.
  removed(id, why = null) {
    this.conversations.delete(id);
    this.details.closeFor(id);
    if (this.current === id && this.leaving === id) this.showList();
    else if (this.current === id) this.showLeft(why);
    if (this.leaving === id) this.leaving = null;
    this.renderList();
  }

  showLeft(why) {
    const text = why || `You are no longer in this ${noun(this.thread?.c)}: you cannot send or receive its messages here.`;
    this.els["left-note"].textContent = text;
    this.els["left-note"].hidden = false;
    this.els.composer.hidden = true;
    this.els.readonly.hidden = true;
    this.els.details.hidden = true;
    this.els.conv.classList.add("left");
    this.els["conv-sub"].textContent = "No longer a member";
    this.announce(text);
  }

  // A send refused with "not found": this window missed that we left or were removed.
  lost(id) {
    const c = this.conversations.get(id) || this.thread?.c;
    this.removed(id, `Your message was not sent: you are no longer in this ${noun(c)}.`);
  }

  // -- names -----------------------------------------------------------------------------

  nameOf(id) {
    if (!id) return "Someone";
    return this.people.get(id)?.name || "Someone";
  }

  other(c) {
    return c.kind === "direct" ? c.members.find((m) => m.user_id !== this.me)?.user_id || null : null;
  }

  titleOf(c) {
    if (c.name) return c.name;
    const other = this.other(c);
    return other ? this.nameOf(other) : "Direct chat";
  }

  canPost(c) {
    return c.kind !== "broadcast" || c.role === "admin";
  }

  presenceDot(c) {
    const other = this.other(c);
    if (!other) return h("span", { class: "dot none", "aria-hidden": "true" });
    const state = this.online.get(other) || "offline";
    return h(
      "span",
      { class: `dot ${state}`, title: PRESENCE[state] || "offline" },
      h("span", { class: "sr-only", text: `(${PRESENCE[state] || "offline"})` }),
    );
  }

  // -- routing ---------------------------------------------------------------------------

  route() {
    const match = location.pathname.match(/^\/chat\/([^/]+)$/);
    if (match) this.open(decodeURIComponent(match[1]));
    else this.showList();
  }

  async open(id, { push = false, fromList = false } = {}) {
    let c = this.conversations.get(id);
    if (!c) {
      try {
        c = await this.api.get(`/conversations/${id}`);
        this.conversations.set(id, c);
      } catch (err) {
        this.showList();
        this.els.placeholder.textContent = err.message;
        return;
      }
    }
    if (push) history.pushState({ chat: id, fromList }, "", `/chat/${id}`);
    this.thread?.close();
    this.menus.close(false);
    this.typers.clear();
    this.current = id;
    this.thread = new Thread(this, c, {
      scroller: this.els.scroller,
      list: this.els.messages,
      state: this.els["history-state"],
    });
    this.composer.attach(this.thread);
    this.root.classList.add("has-conversation");
    this.els.placeholder.hidden = true;
    this.els.conv.hidden = false;
    this.renderHeader();
    this.calls.opened(c);
    this.renderTyping();
    this.renderList();
    this.focusConversation(fromList);
    await this.thread.loadOlder();
  }

  focusConversation(fromList) {
    const narrow = window.matchMedia("(max-width: 700px)").matches;
    const input = document.querySelector("[data-input]");
    if ((fromList && narrow) || !this.canPost(this.thread.c)) this.els["conv-title"].focus();
    else input.focus();
  }

  showList({ push = false } = {}) {
    const was = this.current;
    this.thread?.close();
    this.thread = null;
    this.current = null;
    this.calls.closed();
    this.composer.attach(null);
    this.root.classList.remove("has-conversation");
    this.els.placeholder.hidden = false;
    this.els.conv.hidden = true;
    if (push) history.pushState({ chat: null }, "", "/chat");
    this.renderList();
    if (was) this.els.conversations.querySelector(`[data-conversation-id="${CSS.escape(was)}"]`)?.focus();
  }

  back() {
    if (history.state && history.state.fromList) history.back();
    else this.showList({ push: true });
  }

  // -- events ----------------------------------------------------------------------------

  event(frame) {
    if (!this.loaded) {
      this.pending.push(frame);
      return;
    }
    if (frame.type.startsWith("call.") || frame.call_id) this.calls.event(frame);
    const handlers = {
      "message.created": () => this.messageCreated(frame),
      "message.updated": () => this.messageUpdated(frame),
      "read.updated": () => this.readUpdated(frame),
      "member.added": () => this.memberChanged(frame),
      "member.removed": () => this.memberChanged(frame),
      "member.updated": () => this.refreshConversation(frame.data.conversation_id),
      "conversation.updated": () => this.renamed(frame),
      typing: () => this.typingFrom(frame),
      presence: () => this.presenceOf(frame),
    };
    handlers[frame.type]?.();
  }

  messageCreated(frame) {
    const m = frame.data.message;
    const c = this.conversations.get(m.conversation_id);
    if (!c) {
      this.refreshConversation(m.conversation_id);
      return;
    }
    c.last_event_id = Math.max(c.last_event_id, frame.id);
    const isNew = !c.last_message || m.id > c.last_message.id;
    if (isNew) c.last_message = m;
    const viewing = this.thread !== null && this.current === c.id;
    if (viewing && this.thread.upsert(m) && m.sender_id !== this.me) {
      this.announce(`${this.nameOf(m.sender_id)}: ${m.deleted ? "deleted message" : snippet(plainText(m), 140)}`);
      this.stopTyping(m.sender_id);
    }
    const seen = viewing && document.visibilityState === "visible";
    if (isNew && m.sender_id !== this.me && !m.deleted && !seen) {
      c.unread += 1;
      if (!viewing) this.announce(`New message in ${this.titleOf(c)}`);
    }
    this.renderList();
  }

  messageUpdated(frame) {
    const m = frame.data.message;
    const c = this.conversations.get(m.conversation_id);
    if (!c) return;
    if (c.last_message && c.last_message.id === m.id) c.last_message = m;
    if (this.thread && this.current === c.id) this.thread.upsert(m);
    if (m.deleted && m.sender_id !== this.me && m.id > c.read_message_id) this.refreshConversation(c.id);
    this.renderList();
  }

  readUpdated(frame) {
    const { user_id: userId, message_id: messageId } = frame.data;
    const c = this.conversations.get(frame.data.conversation_id);
    if (!c) return;
    const member = c.members.find((m) => m.user_id === userId);
    if (member) member.read_message_id = Math.max(member.read_message_id, messageId);
    if (this.thread && this.current === c.id) this.thread.receipts();
    if (userId !== this.me) return;
    c.read_message_id = Math.max(c.read_message_id, messageId);
    if (!c.last_message || messageId >= c.last_message.id) c.unread = 0;
    else this.refreshConversation(c.id);
    this.renderList();
  }

  memberChanged(frame) {
    const { user_id: userId, conversation_id: id } = frame.data;
    if (userId === this.me && frame.type === "member.removed") this.removed(id);
    else this.refreshConversation(id);
  }

  renamed(frame) {
    const c = this.conversations.get(frame.data.conversation_id);
    if (!c) return;
    c.name = frame.data.name;
    c.last_event_id = Math.max(c.last_event_id, frame.id);
    this.renderList();
    if (this.current === c.id) this.renderHeader();
  }

  typingFrom(frame) {
    const userId = frame.data.user_id;
    if (frame.conversation_id !== this.current || userId === this.me) return;
    clearTimeout(this.typers.get(userId));
    this.typers.set(userId, setTimeout(() => this.stopTyping(userId), TYPING_SHOWN_MS));
    this.renderTyping();
  }

  stopTyping(userId) {
    clearTimeout(this.typers.get(userId));
    this.typers.delete(userId);
    this.renderTyping();
  }

  presenceOf(frame) {
    const { user_id: userId, state } = frame.data;
    if (state === "offline") this.online.delete(userId);
    else this.online.set(userId, state);
    this.renderList();
    this.renderHeader();
  }

  // Called by the composer with the server's answer to a send.
  sent(m) {
    const c = this.conversations.get(m.conversation_id);
    if (this.thread && this.current === m.conversation_id) this.thread.upsert(m);
    if (c && (!c.last_message || m.id > c.last_message.id)) c.last_message = m;
    this.renderList();
  }

  visibility() {
    const visible = document.visibilityState === "visible";
    this.stream.send({ type: "presence", state: visible ? "active" : "idle" });
    if (visible && this.thread) this.thread.scheduleRead();
  }

  // -- rendering -------------------------------------------------------------------------

  renderList() {
    renderList(this, this.els.conversations, this.els["list-empty"]);
    let elsewhere = 0;
    for (const c of this.conversations.values()) if (c.id !== this.current) elsewhere += c.unread;
    this.els.back.textContent = elsewhere ? `‹ Chats (${elsewhere})` : "‹ Chats";
    this.els.back.setAttribute("aria-label", `Back to conversations${elsewhere ? `, ${elsewhere} unread` : ""}`);
    this.renderTitle();
  }

  // The window's title leads with the unread total, as in "(3) Chat · Parlour".
  renderTitle() {
    let total = 0;
    for (const c of this.conversations.values()) total += c.unread;
    const c = this.current && this.conversations.get(this.current);
    const title = `${c ? this.titleOf(c) : "Chat"} · Parlour`;
    document.title = total ? `(${total}) ${title}` : title;
  }

  renderHeader() {
    const c = this.current && this.conversations.get(this.current);
    if (!c) return;
    this.els["conv-title"].textContent = this.titleOf(c);
    this.els["conv-sub"].textContent = this.subtitle(c);
    const other = this.other(c);
    const blocked = other !== null && this.blocked.has(other);
    this.els.block.hidden = other === null;
    this.els.block.textContent = blocked ? "Unblock" : "Block";
    this.els.block.setAttribute("aria-label", `${blocked ? "Unblock" : "Block"} ${this.nameOf(other)}`);
    this.els["blocked-note"].hidden = !blocked;
    this.els["blocked-note"].textContent = blocked
      ? `You blocked ${this.nameOf(other)}: their messages and calls no longer reach you.`
      : "";
    const canPost = this.canPost(c);
    this.els.composer.hidden = !canPost;
    this.els.readonly.hidden = canPost;
    this.els["left-note"].hidden = true;
    this.els.conv.classList.remove("left");
    this.els.details.hidden = c.kind === "direct";
    this.details.update(c);
    this.thread?.receipts();
  }

  subtitle(c) {
    if (c.kind === "direct") {
      const other = this.other(c);
      return other ? (PRESENCE[this.online.get(other)] || "offline").replace(/^./, (x) => x.toUpperCase()) : "";
    }
    const others = c.members.filter((m) => m.user_id !== this.me).map((m) => this.nameOf(m.user_id));
    const names = others.length > 4 ? `${others.slice(0, 4).join(", ")} and ${others.length - 4} more` : others.join(", ");
    if (c.kind === "broadcast") return `Broadcast list to ${names || "nobody yet"}`;
    return `Group with you${names ? ", " + names : ""}`;
  }

  renderTyping() {
    const names = [...this.typers.keys()].map((id) => this.nameOf(id));
    let text = "";
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length > 1) text = `${names.join(", ")} are typing…`;
    this.els.typing.textContent = text;
  }

  status(state) {
    this.els.conn.textContent = STATUS[state] || state;
    this.els.conn.dataset.state = state;
  }

  announce(text) {
    this.els.announcer.textContent = text;
  }

  flash(text) {
    this.composer.showError(text);
  }

  // -- actions ---------------------------------------------------------------------------

  async toggleBlock() {
    const c = this.conversations.get(this.current);
    const other = c && this.other(c);
    if (!other) return;
    const blocking = !this.blocked.has(other);
    try {
      if (blocking) await this.api.put(`/me/blocks/${other}`);
      else await this.api.del(`/me/blocks/${other}`);
    } catch (err) {
      this.flash(err.message);
      return;
    }
    if (blocking) this.blocked.add(other);
    else this.blocked.delete(other);
    this.renderHeader();
  }

  async search(value) {
    const query = value.trim();
    const results = this.els["search-results"];
    if (!query) {
      results.hidden = true;
      this.els["list-nav"].hidden = false;
      return;
    }
    try {
      const found = await this.api.get(`/search?q=${encodeURIComponent(query)}`);
      renderResults(this, this.els.results, found, query);
    } catch (err) {
      this.els.results.replaceChildren(h("li", { class: "muted", text: err.message }));
    }
    results.hidden = false;
    this.els["list-nav"].hidden = true;
  }
}
