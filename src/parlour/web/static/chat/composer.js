// The composer: Enter sends, Shift+Enter is a new line; replies and edits; typing notices.
// A send keeps its Idempotency-Key until it succeeds, so a retry is never a second message.
// Errors are shown beside it and the draft stays.

import { ApiError } from "./api.js";
import { CharCounter } from "./counter.js";
import { plainText, randomKey, snippet } from "./dom.js";

const TYPING_EVERY = 2500;

export class Composer {
  constructor(app, els) {
    this.app = app;
    this.els = els;
    this.thread = null;
    this.mode = null; // {kind: "reply" | "edit", message}
    this.key = null;
    this.busy = false;
    this.lastTyping = 0;
    this.drafts = new Map();
    this.saved = "";
    this.counter = new CharCounter(els.input, els.count);
    els.input.addEventListener("input", () => this.changed());
    els.input.addEventListener("keydown", (e) => this.keydown(e));
    els.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    els.cancel.addEventListener("click", () => {
      this.cancel();
      els.input.focus();
    });
  }

  attach(thread) {
    if (this.thread && this.mode?.kind !== "edit") this.drafts.set(this.thread.c.id, this.els.input.value);
    this.thread = thread;
    this.mode = null;
    this.key = null;
    this.els.context.hidden = true;
    this.showError(null);
    this.els.input.value = thread ? this.drafts.get(thread.c.id) || "" : "";
    this.changed(false);
  }

  changed(typing = true) {
    const over = this.counter.update();
    this.els.send.disabled = this.busy || !this.els.input.value.trim() || over;
    this.els.input.style.height = "auto";
    this.els.input.style.height = `${Math.min(this.els.input.scrollHeight + 2, 200)}px`;
    if (typing) this.typing();
  }

  typing() {
    const now = Date.now();
    if (!this.thread || this.mode?.kind === "edit" || !this.els.input.value.trim()) return;
    if (now - this.lastTyping < TYPING_EVERY) return;
    this.lastTyping = now;
    this.app.stream.send({ type: "typing", conversation_id: this.thread.c.id });
  }

  keydown(e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      if (!this.els.send.disabled) this.submit();
    } else if (e.key === "Escape" && this.mode) {
      e.preventDefault();
      this.cancel();
    }
  }

  replyTo(m) {
    if (this.mode?.kind === "edit") this.cancel();
    this.mode = { kind: "reply", message: m };
    const who = m.sender_id === this.app.me ? "yourself" : this.app.nameOf(m.sender_id);
    this.els.contextText.textContent = `Replying to ${who}: ${snippet(plainText(m), 60)}`;
    this.els.context.hidden = false;
    this.els.input.focus();
  }

  edit(m) {
    if (this.mode?.kind !== "edit") this.saved = this.els.input.value;
    this.mode = { kind: "edit", message: m };
    this.els.contextText.textContent = "Editing your message";
    this.els.context.hidden = false;
    this.els.input.value = m.body || "";
    this.changed(false);
    this.els.input.focus();
  }

  cancel() {
    if (this.mode?.kind === "edit") this.els.input.value = this.saved;
    this.mode = null;
    this.els.context.hidden = true;
    this.showError(null);
    this.changed(false);
  }

  async submit() {
    const text = this.els.input.value;
    if (!text.trim() || this.busy || !this.thread || this.counter.update()) return;
    const thread = this.thread;
    this.busy = true;
    this.changed(false);
    this.showError(null);
    try {
      if (this.mode?.kind === "edit") thread.upsert(await this.app.api.patch(`/messages/${this.mode.message.id}`, { body: text }));
      else this.app.sent(await this.send(thread, text));
      this.clear();
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      this.failed(err, thread, text);
    } finally {
      this.busy = false;
      this.changed(false);
    }
  }

  send(thread, text) {
    this.key = this.key || randomKey();
    const body = { body: text };
    if (this.mode?.kind === "reply") body.reply_to = this.mode.message.id;
    return this.app.api.post(`/conversations/${thread.c.id}/messages`, body, { "Idempotency-Key": this.key });
  }

  failed(err, thread, text) {
    if (err.code === "not_delivered") {
      thread.addFailed(text);
      this.clear();
      this.showError(`${err.message} The person may have blocked you.`);
      return;
    }
    if (err.status === 404 && this.mode?.kind !== "edit") {
      this.app.lost(thread.c.id);
      return;
    }
    // A network failure or a server fault may have sent it: keep the key for the retry.
    if (err.status !== 0 && err.status < 500) this.key = null;
    this.showError(err.describe());
  }

  clear() {
    this.els.input.value = "";
    this.key = null;
    this.mode = null;
    this.lastTyping = 0;
    this.els.context.hidden = true;
    if (this.thread) this.drafts.delete(this.thread.c.id);
  }

  showError(text) {
    this.els.error.hidden = !text;
    this.els.error.textContent = text || "";
    this.els.input.setAttribute("aria-invalid", text ? "true" : "false");
  }
}
