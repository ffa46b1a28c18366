// The characters left before the server's limit on one message (features/chat/messages.py
// MAX_CHARS, handed over in the textarea's data-max-chars). Counted in code points, as the
// server counts them. It warns near the limit; over it, the composer disables Send.

import { plural } from "./dom.js";

const WARN_LEFT = 500;

export class CharCounter {
  constructor(input, out) {
    this.input = input;
    this.out = out;
    this.limit = Number(input.dataset.maxChars) || 0;
  }

  // Shows the count and says whether the text is over the limit.
  update() {
    if (!this.limit || !this.out) return false;
    const used = [...this.input.value].length;
    const left = this.limit - used;
    const state = left < 0 ? "over" : left <= WARN_LEFT ? "warn" : "ok";
    this.out.hidden = used === 0;
    this.out.dataset.state = state;
    this.out.setAttribute("aria-live", state === "ok" ? "off" : "polite");
    this.out.textContent =
      state === "over"
        ? `${plural(-left, "character")} too many: shorten the message to send it.`
        : `${plural(left, "character")} left`;
    return state === "over";
  }
}
