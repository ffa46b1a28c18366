// Read receipts under the last of my messages that others have read, from each member's
// read marker (read_message_id, kept current by the stream's read.updated events).
// A direct chat says "Seen"; a group says "Seen by N", naming them on hover or focus.
// A broadcast list has none: its recipients read it in their direct chats.

import { h } from "./dom.js";

export function renderReceipts(thread) {
  for (const old of thread.els.list.querySelectorAll(".receipt")) old.remove();
  const c = thread.c;
  if (c.kind === "broadcast") return;
  const others = c.members.filter((m) => m.user_id !== thread.app.me);
  const mine = [...thread.messages.values()]
    .filter((m) => m.sender_id === thread.app.me && !m.deleted)
    .map((m) => m.id)
    .sort((a, b) => b - a);
  const newestRead = Math.max(0, ...others.map((m) => m.read_message_id));
  const target = mine.find((id) => id <= newestRead);
  const li = target && document.getElementById(`m-${target}`);
  if (!li) return;
  const readers = others.filter((m) => m.read_message_id >= target);
  li.append(c.kind === "direct" ? seen() : seenBy(thread, target, readers));
}

function seen() {
  return h("p", { class: "receipt", text: "Seen" });
}

function seenBy(thread, id, readers) {
  const names = readers.map((m) => thread.app.nameOf(m.user_id)).sort((a, b) => a.localeCompare(b));
  const tipId = `seen-${id}`;
  return h(
    "p",
    { class: "receipt" },
    h("span", { class: "seen-by", tabindex: "0", "aria-describedby": tipId, text: `Seen by ${readers.length}` }),
    h("span", { class: "seen-names", id: tipId, role: "tooltip", text: names.join(", ") }),
  );
}
