// The conversation list: newest activity first, unread counts, last message, presence.

import { h, plainText, plural, shortTime, snippet } from "./dom.js";

export function renderList(app, target, empty) {
  const conversations = [...app.conversations.values()].sort(byActivity);
  target.replaceChildren(...conversations.map((c) => item(app, c)));
  empty.hidden = conversations.length > 0;
}

function byActivity(a, b) {
  return activity(b) - activity(a);
}

function activity(c) {
  return c.last_event_id || 0;
}

function item(app, c) {
  const title = app.titleOf(c);
  const unread =
    c.unread > 0 ? h("span", { class: "unread" }, String(c.unread), h("span", { class: "sr-only", text: " unread" })) : null;
  const link = h(
    "a",
    {
      href: `/chat/${c.id}`,
      class: "conversation",
      "aria-current": app.current === c.id ? "page" : null,
      dataset: { conversationId: c.id },
      onclick: (e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey) return;
        e.preventDefault();
        app.open(c.id, { push: true, fromList: true });
      },
    },
    app.presenceDot(c),
    h(
      "span",
      { class: "conversation-main" },
      h("span", { class: "conversation-title" }, h("span", { class: "name", text: title }), kindTag(c)),
      h("span", { class: "preview", text: preview(app, c) }),
    ),
    h(
      "span",
      { class: "conversation-side" },
      c.last_message ? h("time", { datetime: c.last_message.created_at, text: shortTime(c.last_message.created_at) }) : null,
      unread,
    ),
  );
  return h("li", {}, link);
}

function kindTag(c) {
  if (c.kind === "group") return h("span", { class: "tag", text: "group" });
  if (c.kind === "broadcast") return h("span", { class: "tag", text: "broadcast" });
  return null;
}

function preview(app, c) {
  const m = c.last_message;
  if (!m) return c.kind === "direct" ? "No messages yet" : plural(c.members.length, "member");
  const who = m.sender_id === app.me ? "You: " : c.kind === "direct" ? "" : `${app.nameOf(m.sender_id)}: `;
  return who + (m.deleted ? "Message deleted" : snippet(plainText(m), 60));
}

export function renderResults(app, target, results, query) {
  if (!results.length) {
    target.replaceChildren(h("li", { class: "muted", text: `Nothing found for “${query}”.` }));
    return;
  }
  target.replaceChildren(
    ...results.map((m) => {
      const c = app.conversations.get(m.conversation_id);
      const where = c ? app.titleOf(c) : "A conversation";
      return h(
        "li",
        {},
        h(
          "a",
          {
            href: `/chat/${m.conversation_id}`,
            class: "result",
            onclick: (e) => {
              e.preventDefault();
              app.open(m.conversation_id, { push: true, fromList: true });
            },
          },
          h("span", { class: "name", text: where }),
          h("span", { class: "preview", text: `${app.nameOf(m.sender_id)}: ${snippet(plainText(m), 90)}` }),
        ),
      );
    }),
  );
}
