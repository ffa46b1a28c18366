// The one WebSocket to /api/v1/stream. It remembers the last event id it saw and resumes
// from it after any drop, so events are neither lost nor repeated; reconnects back off.

const CLOSE_UNAUTHENTICATED = 4401;
const CLOSE_BAD_REQUEST = 1008;
const MAX_DELAY = 30000;

export class Stream {
  constructor({ onEvent, onReady, onStatus, onSignedOut }) {
    this.onEvent = onEvent;
    this.onReady = onReady;
    this.onStatus = onStatus;
    this.onSignedOut = onSignedOut;
    this.lastId = null;
    this.deviceId = null; // this connection's device, which a call is answered on
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
  }

  start() {
    window.addEventListener("online", () => this.connect());
    window.addEventListener("offline", () => this.drop("offline"));
    this.connect();
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const since = this.lastId === null ? "" : `?since=${this.lastId}`;
    return `${scheme}//${location.host}/api/v1/stream${since}`;
  }

  connect() {
    clearTimeout(this.timer);
    if (this.stopped || this.ws) return;
    if (!navigator.onLine) {
      this.onStatus("offline");
      return;
    }
    const ws = new WebSocket(this.url());
    this.ws = ws;
    this.onStatus(this.attempt ? "reconnecting" : "connecting");
    ws.addEventListener("message", (e) => this.receive(JSON.parse(e.data)));
    ws.addEventListener("close", (e) => {
      if (this.ws === ws) this.closed(e.code);
    });
  }

  // Closes the socket on purpose (the browser went offline); "online" brings it back.
  drop(status) {
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close();
    this.onStatus(status);
  }

  closed(code) {
    this.ws = null;
    if (code === CLOSE_UNAUTHENTICATED) {
      this.stopped = true;
      this.onStatus("signed-out");
      this.onSignedOut();
      return;
    }
    if (code === CLOSE_BAD_REQUEST) this.lastId = null;
    if (!navigator.onLine) {
      this.onStatus("offline");
      return;
    }
    const delay = Math.min(MAX_DELAY, 500 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt += 1;
    this.onStatus("reconnecting");
    this.timer = setTimeout(() => this.connect(), delay);
  }

  receive(frame) {
    if (typeof frame.id === "number") {
      if (this.lastId !== null && frame.id <= this.lastId) return;
      this.lastId = frame.id;
      this.onEvent(frame);
      return;
    }
    switch (frame.type) {
      case "hello": // where the server starts: our resume point, or now
        this.lastId = frame.last_event_id;
        this.deviceId = frame.device_id || null;
        break;
      case "ready":
        this.attempt = 0;
        this.onStatus("live");
        this.onReady();
        break;
      case "resync": // we fell behind; the server closes next and we resume from here
        this.lastId = frame.last_event_id;
        this.attempt = 0;
        break;
      case "error":
        if (frame.call_id) this.onEvent(frame); // a call's signalling failed
        break;
      case "heartbeat":
      case "pong":
        break;
      default:
        this.onEvent(frame);
    }
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }
}
