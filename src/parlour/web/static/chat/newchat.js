// The "New chat" dialog: a direct chat with one person, a group, or a broadcast list.

import { h } from "./dom.js";

const LEGENDS = {
  direct: "Choose one person",
  group: "Choose the members",
  broadcast: "Choose the recipients",
};

export class NewChat {
  constructor(app, dialog) {
    this.app = app;
    this.dialog = dialog;
    this.form = dialog.querySelector("[data-new-form]");
    this.nameField = dialog.querySelector("[data-name-field]");
    this.name = dialog.querySelector("#new-name");
    this.filter = dialog.querySelector("[data-people-filter]");
    this.list = dialog.querySelector("[data-people]");
    this.legend = dialog.querySelector("[data-people-legend]");
    this.error = dialog.querySelector("[data-new-error]");
    this.selected = new Set();
    this.form.addEventListener("change", (e) => this.changed(e.target));
    this.filter.addEventListener("input", () => this.renderPeople());
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.create();
    });
    dialog.querySelector("[data-new-cancel]").addEventListener("click", () => dialog.close());
  }

  kind() {
    return this.form.elements.kind.value;
  }

  show() {
    this.form.reset();
    this.selected.clear();
    this.showError(null);
    this.kindChanged();
    this.dialog.showModal();
    this.filter.focus();
  }

  changed(target) {
    if (target.name === "kind") this.kindChanged();
    if (target.name !== "person") return;
    if (target.type === "radio") this.selected = new Set([target.value]);
    else if (target.checked) this.selected.add(target.value);
    else this.selected.delete(target.value);
  }

  kindChanged() {
    const kind = this.kind();
    this.nameField.hidden = kind === "direct";
    this.legend.textContent = LEGENDS[kind];
    if (kind === "direct" && this.selected.size > 1) this.selected.clear();
    this.renderPeople();
  }

  renderPeople() {
    const query = this.filter.value.trim().toLowerCase();
    const type = this.kind() === "direct" ? "radio" : "checkbox";
    const people = [...this.app.people.values()]
      .filter((p) => p.id !== this.app.me && p.status === "active")
      .filter((p) => !query || p.name.toLowerCase().includes(query))
      .sort((a, b) => a.name.localeCompare(b.name));
    if (!people.length) {
      this.list.replaceChildren(h("li", { class: "muted", text: query ? "Nobody by that name." : "Nobody else is here yet." }));
      return;
    }
    this.list.replaceChildren(...people.map((p) => this.person(p, type)));
  }

  person(p, type) {
    const about = [p.title, p.department].filter(Boolean).join(", ");
    return h(
      "li",
      {},
      h(
        "label",
        { class: "check" },
        h("input", { type, name: "person", value: p.id, checked: this.selected.has(p.id) }),
        h("span", {}, p.name, about ? h("span", { class: "hint", text: about }) : null),
      ),
    );
  }

  body() {
    const kind = this.kind();
    const ids = [...this.selected];
    if (kind === "direct") {
      if (ids.length !== 1) throw new Error("Choose the person to talk to.");
      return { kind, user_id: ids[0] };
    }
    const name = this.name.value.trim();
    if (!name) throw new Error("Give it a name.");
    if (kind === "broadcast" && !ids.length) throw new Error("Choose at least one recipient.");
    return { kind, name, member_ids: ids };
  }

  async create() {
    let body;
    try {
      body = this.body();
    } catch (err) {
      this.showError(err.message);
      return;
    }
    try {
      const conversation = await this.app.api.post("/conversations", body);
      this.dialog.close();
      this.app.added(conversation);
      this.app.open(conversation.id, { push: true, fromList: true });
    } catch (err) {
      this.showError(err.describe ? err.describe() : err.message);
    }
  }

  showError(text) {
    this.error.hidden = !text;
    this.error.textContent = text || "";
  }
}
