// One open conversation: its messages, history paged in on scroll up, and per-message
// actions (reply, react, edit, delete). Messages are keyed by id, so a message that arrives
// twice (history and live, or a replay) is shown once, updated in place.

import { clock, h, plainText, safeFragment, snippet } from "./dom.js";
import { renderReceipts } from "./receipts.js";

const PAGE = 40;
const QUICK = ["👍", "❤️", "😂", "🎉", "😮", "🙏"];

export class Thread {
  constructor(app, conversation, els) {
    this.app = app;
    this.c = conversation;
    this.els = els;
    this.messages = new Map();
    this.oldest = null;
    this.hasMore = true;
    this.loading = false;
    this.closed = false;
    this.readSent = conversation.read_message_id || 0;
    this.readTimer = null;
    els.list.replaceChildren();
    els.state.textContent = "";
    this.stuck = true; // following the newest message
    this.onScroll = () => {
      this.stuck = this.atBottom();
      if (els.scroller.scrollTop < 150) this.loadOlder();
    };
    els.scroller.addEventListener("scroll", this.onScroll, { passive: true });
    // When the view shrinks (a reply bar, a phone's keyboard), the newest stays in sight.
    this.resized = new ResizeObserver(() => {
      if (this.stuck) els.scroller.scrollTop = els.scroller.scrollHeight;
    });
    this.resized.observe(els.scroller);
  }

  close() {
    this.closed = true;
    clearTimeout(this.readTimer);
    this.resized.disconnect();
    this.els.scroller.removeEventListener("scroll", this.onScroll);
  }

  atBottom() {
    const s = this.els.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 120;
  }

  // -- history ---------------------------------------------------------------------------

  async loadOlder() {
    if (this.loading || !this.hasMore || this.closed) return;
    this.loading = true;
    this.els.state.textContent = "Loading earlier messages…";
    const before = this.oldest ? `&before=${this.oldest}` : "";
    let page;
    try {
      page = await this.app.api.get(`/conversations/${this.c.id}/messages?limit=${PAGE}${before}`);
    } catch (err) {
      this.loading = false;
      this.els.state.textContent = err.message;
      return;
    }
    if (this.closed) return;
    this.hasMore = page.length === PAGE;
    this.prepend(page);
    this.loading = false;
    this.els.state.textContent = this.hasMore ? "" : "This is the beginning of the conversation.";
    const s = this.els.scroller;
    if (this.hasMore && s.scrollHeight <= s.clientHeight + 150) this.loadOlder();
  }

  prepend(page) {
    const s = this.els.scroller;
    const fromBottom = s.scrollHeight - s.scrollTop;
    const items = document.createDocumentFragment();
    for (const m of [...page].reverse()) {
      if (this.oldest === null || m.id < this.oldest) this.oldest = m.id;
      if (this.messages.has(m.id)) continue;
      this.messages.set(m.id, m);
      items.append(this.render(m));
    }
    this.els.list.prepend(items);
    s.scrollTop = s.scrollHeight - fromBottom;
    this.refreshQuotes();
    this.receipts();
    this.scheduleRead();
  }

  // -- live ------------------------------------------------------------------------------

  upsert(m) {
    const known = this.messages.has(m.id);
    if (!known && this.oldest !== null && m.id < this.oldest) return false; // not paged in yet
    this.messages.set(m.id, m);
    if (known) {
      this.replace(m);
      return false;
    }
    const s = this.els.scroller;
    const atBottom = this.atBottom();
    this.insert(this.render(m), m.id);
    this.receipts();
    if (atBottom || m.sender_id === this.app.me) s.scrollTop = s.scrollHeight;
    this.scheduleRead();
    return true;
  }

  insert(li, id) {
    let after = this.els.list.lastElementChild;
    while (after && Number(after.dataset.id) > id) after = after.previousElementSibling;
    if (after) after.after(li);
    else this.els.list.prepend(li);
  }

  // Re-renders a changed message, keeping keyboard focus on the same control.
  replace(m) {
    const old = document.getElementById(`m-${m.id}`);
    if (!old) return;
    const focusKey = old.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    const li = this.render(m);
    old.replaceWith(li);
    if (focusKey) (li.querySelector(`[data-key="${CSS.escape(focusKey)}"]`) || li).focus();
    this.refreshQuotes();
    this.receipts();
  }

  // "Seen" under my last message the others have read; redrawn when a read marker moves.
  receipts() {
    if (!this.closed) renderReceipts(this);
  }

  // A message the server refused to deliver stays visible to its sender, marked as such.
  addFailed(body) {
    const last = Math.max(0, ...this.messages.keys());
    const li = h(
      "li",
      { class: "msg mine failed", dataset: { id: String(last + 0.5), local: "1" } },
      h(
        "div",
        { class: "bubble" },
        h("div", { class: "text", text: body }),
        h("p", { class: "meta" }, h("span", { class: "not-delivered", text: "Not delivered" })),
      ),
    );
    this.els.list.append(li);
    this.els.scroller.scrollTop = this.els.scroller.scrollHeight;
  }

  // -- reading ---------------------------------------------------------------------------

  scheduleRead() {
    clearTimeout(this.readTimer);
    this.readTimer = setTimeout(() => this.markRead(), 200);
  }

  async markRead() {
    if (this.closed || document.visibilityState !== "visible" || !this.messages.size) return;
    const newest = Math.max(...this.messages.keys());
    if (newest <= this.readSent) return;
    this.readSent = newest;
    try {
      await this.app.api.post(`/conversations/${this.c.id}/read`, { message_id: newest });
    } catch {
      this.readSent = 0; // try again with the next message or visit
    }
  }

  // -- rendering -------------------------------------------------------------------------

  render(m) {
    const mine = m.sender_id === this.app.me;
    const classes = ["msg", mine ? "mine" : "theirs", m.deleted ? "deleted" : ""].join(" ");
    const li = h("li", { class: classes.trim(), id: `m-${m.id}`, tabindex: "-1", dataset: { id: String(m.id) } });
    const bubble = h("div", { class: "bubble" }, this.sender(m, mine));
    if (m.reply_to) bubble.append(this.quote(m.reply_to));
    if (m.deleted) bubble.append(h("p", { class: "tombstone", text: "This message was deleted." }));
    else bubble.append(h("div", { class: "text" }, m.html === null ? m.body : safeFragment(m.html)));
    bubble.append(
      h(
        "p",
        { class: "meta" },
        h("time", { datetime: m.created_at, text: clock(m.created_at) }),
        m.edited && !m.deleted ? h("span", { class: "edited", text: "edited" }) : null,
      ),
    );
    if (m.reactions.length && !m.deleted) bubble.append(this.reactions(m));
    li.append(bubble);
    if (!m.deleted) li.append(this.actions(m, mine));
    return li;
  }

  sender(m, mine) {
    const name = mine ? "You" : this.app.nameOf(m.sender_id);
    if (mine || this.c.kind === "direct") return h("span", { class: "sr-only", text: `${name}:` });
    return h("p", { class: "sender", text: name });
  }

  quote(id) {
    const target = this.messages.get(id);
    let text = "An earlier message";
    if (target) text = target.deleted ? "A deleted message" : snippet(plainText(target), 100);
    return h(
      "button",
      {
        type: "button",
        class: "quote",
        dataset: { replyTo: String(id) },
        "aria-label": `In reply to ${target ? this.app.nameOf(target.sender_id) : "a message"}: ${text}. Show it.`,
        onclick: () => this.reveal(id),
      },
      target ? h("strong", { text: this.app.nameOf(target.sender_id) }) : null,
      h("span", { text }),
    );
  }

  refreshQuotes() {
    for (const old of this.els.list.querySelectorAll(".quote")) {
      old.replaceWith(this.quote(Number(old.dataset.replyTo)));
    }
  }

  reveal(id) {
    const li = document.getElementById(`m-${id}`);
    if (!li) return;
    li.scrollIntoView({ block: "center" });
    li.focus();
  }

  reactions(m) {
    return h(
      "ul",
      { class: "reactions", "aria-label": "Reactions" },
      m.reactions.map((r) => {
        const mine = r.user_ids.includes(this.app.me);
        const who = r.user_ids.map((id) => (id === this.app.me ? "you" : this.app.nameOf(id))).join(", ");
        return h(
          "li",
          {},
          h(
            "button",
            {
              type: "button",
              class: "reaction",
              title: who,
              "aria-pressed": mine ? "true" : "false",
              dataset: { key: `r-${r.emoji}` },
              onclick: () => this.react(m, r.emoji, !mine),
            },
            `${r.emoji} ${r.user_ids.length}`,
          ),
        );
      }),
    );
  }

  actions(m, mine) {
    const menuId = `menu-${m.id}`;
    const toggle = h(
      "button",
      {
        type: "button",
        class: "menu-button",
        "aria-expanded": "false",
        "aria-controls": menuId,
        "aria-label": "Message actions",
        dataset: { key: "actions" },
      },
      "⋯",
    );
    const mayDelete = mine || this.c.role === "admin";
    const menu = h(
      "div",
      { class: "msg-menu", id: menuId, hidden: true, role: "group", "aria-label": "Message actions" },
      h(
        "div",
        { class: "quick" },
        QUICK.map((e) => h("button", { type: "button", "aria-label": `React with ${e}`, onclick: () => this.quickReact(m, e) }, e)),
      ),
      this.app.canPost(this.c) ? h("button", { type: "button", onclick: () => this.act(() => this.app.composer.replyTo(m)) }, "Reply") : null,
      mine ? h("button", { type: "button", onclick: () => this.act(() => this.app.composer.edit(m)) }, "Edit") : null,
      mayDelete ? h("button", { type: "button", class: "danger-text", onclick: () => this.act(() => this.confirmDelete(m)) }, "Delete for everyone") : null,
    );
    toggle.addEventListener("click", () => this.app.menus.toggle(toggle, menu));
    return h("div", { class: "msg-actions" }, toggle, menu);
  }

  act(fn) {
    this.app.menus.close(false);
    fn();
  }

  quickReact(m, emoji) {
    const current = this.messages.get(m.id) || m;
    const mine = current.reactions.some((r) => r.emoji === emoji && r.user_ids.includes(this.app.me));
    this.act(() => this.react(current, emoji, !mine));
  }

  async react(m, emoji, on) {
    const path = `/messages/${m.id}/reactions/${encodeURIComponent(emoji)}`;
    try {
      this.upsert(on ? await this.app.api.put(path) : await this.app.api.del(path));
    } catch (err) {
      this.app.flash(err.message);
    }
  }

  confirmDelete(m) {
    const dialog = this.app.deleteDialog;
    dialog.returnValue = "";
    dialog.addEventListener(
      "close",
      async () => {
        if (dialog.returnValue !== "delete") return;
        try {
          this.upsert(await this.app.api.del(`/messages/${m.id}`));
          document.getElementById(`m-${m.id}`)?.focus();
        } catch (err) {
          this.app.flash(err.message);
        }
      },
      { once: true },
    );
    dialog.showModal();
  }
}
