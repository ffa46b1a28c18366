// The "Details" dialog of a group or broadcast list: its name, its members with their role
// and presence, and what the group's admins may change (rename, add, remove, make admin).
// Anyone may leave. Every change goes through the API; the stream's membership events then
// refresh the conversation in every member's window, this dialog included.

import { h } from "./dom.js";

const WORDS = {
  group: {
    noun: "group",
    people: "Members",
    leave: "Leave group",
    nameHint: "Everyone in this group sees its name, and so will anyone added later.",
  },
  broadcast: {
    noun: "broadcast list",
    people: "People on this list",
    leave: "Leave this list",
    nameHint: "Everyone on this list sees its name, and so will anyone added later.",
  },
};
const PRESENCE = { online: "online", idle: "away" };

export class Details {
  constructor(app, dialog) {
    this.app = app;
    this.dialog = dialog;
    this.id = null;
    this.selected = new Set();
    this.busy = false;
    const $ = (name) => dialog.querySelector(`[data-${name}]`);
    this.els = {
      title: $("details-title"), error: $("details-error"), rename: $("rename-form"),
      renameNote: $("rename-note"), hint: $("details-name-hint"), heading: $("members-heading"),
      members: $("members"), addSection: $("add-section"), filter: $("add-filter"),
      people: $("add-people"), add: $("add"), leave: $("leave"), confirm: $("leave-confirm"),
      question: $("leave-question"), yes: $("leave-yes"), no: $("leave-no"),
    };
    this.name = dialog.querySelector("#details-name");
    this.bind();
  }

  bind() {
    const els = this.els;
    this.dialog.querySelector("[data-details-close]").addEventListener("click", () => this.dialog.close());
    this.dialog.addEventListener("close", () => {
      this.id = null;
      this.app.els.details?.focus();
    });
    els.rename.addEventListener("submit", (e) => {
      e.preventDefault();
      this.rename();
    });
    els.filter.addEventListener("input", () => this.renderPeople());
    els.people.addEventListener("change", (e) => {
      if (e.target.checked) this.selected.add(e.target.value);
      else this.selected.delete(e.target.value);
    });
    els.add.addEventListener("click", () => this.addSelected());
    els.leave.addEventListener("click", () => this.askLeave(true));
    els.no.addEventListener("click", () => this.askLeave(false));
    els.yes.addEventListener("click", () => this.leave());
  }

  get c() {
    return this.id ? this.app.conversations.get(this.id) : null;
  }

  isOpen(id) {
    return this.dialog.open && this.id === id;
  }

  show(c) {
    this.id = c.id;
    this.selected.clear();
    this.els.filter.value = "";
    this.name.value = c.name || "";
    this.askLeave(false, false);
    this.showError(null);
    this.render();
    this.dialog.showModal();
  }

  // The conversation is gone from this window (left, or removed by an admin).
  closeFor(id) {
    if (this.isOpen(id)) this.dialog.close();
  }

  // Live changes: a rename, someone added or removed, a role, presence.
  update(c) {
    if (!this.isOpen(c.id)) return;
    if (document.activeElement !== this.name && !this.busy) this.name.value = c.name || "";
    this.render();
  }

  words() {
    return WORDS[this.c.kind] || WORDS.group;
  }

  admin() {
    return this.c.role === "admin";
  }

  render() {
    const c = this.c;
    if (!c) return;
    const words = this.words();
    this.els.title.textContent = this.app.titleOf(c);
    this.els.rename.hidden = !this.admin();
    this.els.renameNote.hidden = this.admin();
    this.els.renameNote.textContent = `Only the ${words.noun}'s admins can rename it or change who is in it.`;
    this.els.hint.textContent = words.nameHint;
    this.els.heading.textContent = `${words.people} (${c.members.length})`;
    this.els.leave.textContent = words.leave;
    this.els.question.textContent = `Leave “${this.app.titleOf(c)}”? Its new messages no longer reach you, and only an admin can add you back.`;
    this.keepFocus(this.els.members, () => this.els.members.replaceChildren(...this.sortedMembers().map((m) => this.member(m))));
    this.els.addSection.hidden = !this.admin();
    if (this.admin()) this.keepFocus(this.els.people, () => this.renderPeople());
  }

  // Re-rendering a list keeps keyboard focus on the same control.
  keepFocus(container, renderFn) {
    const key = container.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    renderFn();
    if (key) (container.querySelector(`[data-key="${CSS.escape(key)}"]`) || this.els.heading).focus();
  }

  sortedMembers() {
    const rank = (m) => (m.user_id === this.app.me ? 0 : m.role === "admin" ? 1 : 2);
    return [...this.c.members].sort(
      (a, b) => rank(a) - rank(b) || this.app.nameOf(a.user_id).localeCompare(this.app.nameOf(b.user_id)),
    );
  }

  member(m) {
    const me = m.user_id === this.app.me;
    const name = this.app.nameOf(m.user_id);
    const state = me ? "online" : this.app.online.get(m.user_id) || "offline";
    const about = h(
      "span",
      { class: "member-main" },
      h("span", { class: "dot " + state, "aria-hidden": "true" }),
      h("span", { class: "member-name", text: me ? `${name} (you)` : name }),
      m.role === "admin" ? h("span", { class: "tag", text: "admin" }) : null,
      h("span", { class: "member-presence muted", text: PRESENCE[state] || "offline" }),
    );
    return h("li", { class: "member", dataset: { userId: m.user_id } }, about, me ? null : this.memberActions(m, name));
  }

  memberActions(m, name) {
    if (!this.admin()) return null;
    const admin = m.role === "admin";
    const noun = this.words().noun;
    return h(
      "span",
      { class: "member-actions" },
      h("button", {
        type: "button",
        class: "secondary small",
        text: admin ? "Remove admin" : "Make admin",
        "aria-label": admin ? `Remove ${name} as an admin` : `Make ${name} an admin`,
        dataset: { key: `role-${m.user_id}` },
        onclick: () => this.run(() => this.app.api.patch(this.path(`/members/${m.user_id}`), { role: admin ? "member" : "admin" })),
      }),
      h("button", {
        type: "button",
        class: "secondary small danger-text",
        text: "Remove",
        "aria-label": `Remove ${name} from the ${noun}`,
        dataset: { key: `remove-${m.user_id}` },
        onclick: () => this.run(() => this.app.api.del(this.path(`/members/${m.user_id}`)), `${name} was removed.`),
      }),
    );
  }

  // People of the organisation who are not in the conversation, as in the new-chat dialog.
  renderPeople() {
    const inside = new Set(this.c.members.map((m) => m.user_id));
    const query = this.els.filter.value.trim().toLowerCase();
    const people = [...this.app.people.values()]
      .filter((p) => !inside.has(p.id) && p.status === "active")
      .filter((p) => !query || p.name.toLowerCase().includes(query))
      .sort((a, b) => a.name.localeCompare(b.name));
    for (const id of this.selected) if (inside.has(id)) this.selected.delete(id);
    this.els.add.hidden = !people.length;
    if (!people.length) {
      const text = query ? "Nobody by that name." : "Everyone in your organisation is already here.";
      this.els.people.replaceChildren(h("li", { class: "muted", text }));
      return;
    }
    this.els.people.replaceChildren(...people.map((p) => this.person(p)));
  }

  person(p) {
    const about = [p.title, p.department].filter(Boolean).join(", ");
    return h(
      "li",
      {},
      h(
        "label",
        { class: "check" },
        h("input", { type: "checkbox", value: p.id, checked: this.selected.has(p.id), dataset: { key: `add-${p.id}` } }),
        h("span", {}, p.name, about ? h("span", { class: "hint", text: about }) : null),
      ),
    );
  }

  path(suffix = "") {
    return `/conversations/${this.id}${suffix}`;
  }

  // -- changes ---------------------------------------------------------------------------

  async run(request, done) {
    if (this.busy || !this.id) return false;
    const id = this.id;
    this.busy = true;
    this.showError(null);
    try {
      await request();
    } catch (err) {
      this.showError(err.describe ? err.describe() : err.message);
      return false;
    } finally {
      this.busy = false;
    }
    if (done) this.app.announce(done);
    await this.app.refreshConversation(id);
    return true;
  }

  async rename() {
    const name = this.name.value.trim();
    if (!name) {
      this.showError("Give it a name.");
      return;
    }
    await this.run(async () => this.app.added(await this.app.api.patch(this.path(), { name })), "Renamed.");
  }

  async addSelected() {
    const ids = [...this.selected];
    if (!ids.length) {
      this.showError("Choose the people to add.");
      return;
    }
    if (await this.run(() => this.app.api.post(this.path("/members"), { user_ids: ids }), "Added.")) {
      this.selected.clear();
      this.els.filter.value = "";
      this.render();
    }
  }

  askLeave(asking, focus = true) {
    this.els.confirm.hidden = !asking;
    this.els.leave.hidden = asking;
    if (focus) (asking ? this.els.no : this.els.leave).focus();
  }

  async leave() {
    const id = this.id;
    const title = this.app.titleOf(this.c);
    this.app.leaving = id;
    const ok = await this.run(() => this.app.api.del(this.path(`/members/${this.app.me}`)));
    if (!ok) {
      this.app.leaving = null;
      return;
    }
    this.dialog.close();
    this.app.removed(id);
    this.app.announce(`You left ${title}.`);
  }

  showError(text) {
    this.els.error.hidden = !text;
    this.els.error.textContent = text || "";
  }
}
