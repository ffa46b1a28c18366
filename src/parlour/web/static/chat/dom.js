// Small DOM helpers. User text only ever enters the page as text nodes; the server's
// rendered Markdown is re-built from an allow-list, never assigned with innerHTML.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const ALLOWED = new Set(["STRONG", "EM", "DEL", "CODE", "BR", "A"]);

// The server escapes everything and adds only these tags; we check again, in an inert
// document (DOMParser runs no scripts and loads no images).
export function safeFragment(html) {
  const parsed = new DOMParser().parseFromString(`<body>${html}</body>`, "text/html");
  const out = document.createDocumentFragment();
  copyAllowed(parsed.body, out);
  return out;
}

function copyAllowed(from, to) {
  for (const node of from.childNodes) {
    if (node.nodeType === Node.TEXT_NODE) {
      to.append(node.data);
    } else if (node.nodeType === Node.ELEMENT_NODE) {
      if (!ALLOWED.has(node.tagName)) {
        to.append(node.textContent);
        continue;
      }
      const el = document.createElement(node.tagName.toLowerCase());
      if (node.tagName === "A") linkTo(el, node.getAttribute("href") || "");
      copyAllowed(node, el);
      to.append(el);
    }
  }
}

function linkTo(el, href) {
  if (!/^https?:\/\//i.test(href)) return;
  el.href = href;
  el.rel = "noopener noreferrer nofollow";
  el.target = "_blank";
}

// The words of a message without its formatting marks, for previews and quotes.
export function plainText(m) {
  if (m.html === null || m.html === undefined) return m.body || "";
  const parsed = new DOMParser().parseFromString(`<body>${m.html.replace(/<br>/g, " ")}</body>`, "text/html");
  return parsed.body.textContent || "";
}

export function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });

export function shortTime(iso) {
  const when = new Date(iso);
  const today = new Date().toDateString() === when.toDateString();
  return today ? timeFormat.format(when) : dayFormat.format(when);
}

export function clock(iso) {
  return timeFormat.format(new Date(iso));
}

export function snippet(text, length = 80) {
  const flat = (text || "").replace(/\s+/g, " ").trim();
  return flat.length > length ? flat.slice(0, length - 1) + "…" : flat;
}

// "1 member", "3 members", "1,250 characters": a count with its word, never a hedged plural.
export function plural(count, word, many = `${word}s`) {
  return `${new Intl.NumberFormat("en").format(count)} ${count === 1 ? word : many}`;
}
