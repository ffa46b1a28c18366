// One call this page takes part in: our camera and microphone, the connections that bring the
// others' media (a peer each in a mesh, or a feed each from the SFU), their tiles, and the end
// of it all. The chat page (call.js) and the guest page (guest.js) each drive one; they differ
// in how a call is started, answered and hung up, and in the API paths, not in this.
//
// Privacy: `release()` stops every local track before it reads statistics or sends anything
// (P-CALL-1).

import { LocalMedia } from "./media.js";
import { Mesh } from "./mesh.js";
import { summarise } from "./peer.js";
import { SfuLink } from "./sfu.js";

export const ACTIVE = new Set(["accepted", "connected"]);
const NETWORK_GRACE_MS = 30000;
const NOTES = { new: "Connecting…", connecting: "Connecting…", disconnected: "Reconnecting…", failed: "Connection lost" };

// A participant's key in a call: a member's user id, or "guest:<id>".
export function keyOf(p) {
  return p.key || p.user_id;
}

export class CallSession {
  // me: our participant key; view: the CallView; api: an Api for our own paths;
  // endpoint(what): the API path of this call's `what` ("connected", "sfu/publish", …);
  // statePath(): the API path of the call itself;
  // send(frame): a frame on the stream; nameOf(key): a name when the call state has none;
  // ice(): the ICE servers answer (or null); sfu: whether this page may use the SFU;
  // onNetworkLost(): every connection stayed down for a while.
  // local: media already opened for a preview, if any.
  constructor({ id = null, media, title, me, view, api, endpoint, statePath, send, nameOf, ice, sfu, onNetworkLost, local = null }) {
    Object.assign(this, { id, media, title, me, view, api, endpoint, statePath, send, nameOf, ice, sfu, onNetworkLost });
    this.local = local || new LocalMedia();
    this.remotes = new Map(); // participant key -> Peer (mesh) or Subscription (SFU)
    this.names = new Map(); // participant key -> display name from the call state
    this.link = null; // Mesh or SfuLink, chosen by the call's mode
    this.mode = null;
    this.left = []; // statistics of connections to people who left, for the report
    this.connectedAt = null;
    this.connectedSent = false;
    this.networkTimer = null;
    this.over = false;
  }

  get iceServers() {
    return this.ice()?.ice_servers || [];
  }

  // The connections that receive the others' media (the browser tests read their statistics).
  get pcs() {
    return [...this.remotes.values()].map((r) => r.pc);
  }

  nameFor(key) {
    return this.names.get(key) || this.nameOf(key);
  }

  // -- the others -------------------------------------------------------------------------

  // Makes the connections match the call's active participants.
  sync(state) {
    if (!state || this.over) return;
    for (const p of state.participants) {
      const key = keyOf(p);
      if (!p.display_name) continue;
      this.names.set(key, p.display_name);
      const remote = this.remotes.get(key);
      if (remote && remote.name !== p.display_name) {
        remote.name = p.display_name;
        this.view.rename(key, p.display_name);
      }
    }
    if (!this.linkFor(state.mode)) return;
    this.link.sync(this.othersIn(state));
  }

  // The keys of the other participants who are in the call.
  othersIn(state) {
    return new Set(state.participants.filter((p) => ACTIVE.has(p.state) && keyOf(p) !== this.me).map(keyOf));
  }

  linkFor(mode) {
    if (this.link) return this.link;
    if (mode === "sfu" && !this.sfu) {
      this.view.fail("This call is carried by the media server, which this page cannot join.");
      return null;
    }
    this.mode = mode === "sfu" ? "sfu" : "mesh";
    this.link = this.mode === "sfu" ? new SfuLink(this) : new Mesh(this);
    return this.link;
  }

  // An offer, answer or ICE candidate from another participant (mesh calls only).
  signal(data) {
    if (this.over) return;
    const link = this.link || this.linkFor("mesh");
    link?.signal?.(data);
  }

  // Someone published their media to the SFU (`call.feed`).
  feed(data) {
    if (!this.over) this.link?.feed?.(data);
  }

  addRemote(remote) {
    remote.name = remote.name || this.nameFor(remote.key);
    this.remotes.set(remote.key, remote);
    this.view.tile(remote.key, remote.name);
    this.changed(remote);
  }

  // A participant left: their connection closes, its statistics join the call's report.
  dropRemote(key) {
    const remote = this.remotes.get(key);
    if (!remote) return;
    this.remotes.delete(key);
    const stats = remote.stats().catch(() => null);
    this.left.push(stats);
    stats.finally(() => remote.close());
    this.view.removeTile(key);
  }

  changed(remote) {
    if (this.over || this.remotes.get(remote.key) !== remote) return;
    const state = remote.pc.connectionState;
    this.view.showTile(remote.key, { stream: remote.remote, video: remote.remoteVideo, mic: remote.remoteState.mic, note: NOTES[state] || "" });
    if (state === "connected") this.mediaUp();
    this.watchNetwork();
  }

  // When every connection has been down for a while (ICE restarts included), we leave the
  // call with "network" as the reason rather than sit in a silent call.
  watchNetwork() {
    if (this.over) return;
    const all = [...this.remotes.values()];
    const down = all.length > 0 && all.every((r) => ["failed", "disconnected"].includes(r.pc.connectionState));
    if (!down) {
      clearTimeout(this.networkTimer);
      this.networkTimer = null;
    } else if (!this.networkTimer && this.connectedAt) {
      this.networkTimer = setTimeout(() => !this.over && this.onNetworkLost(), NETWORK_GRACE_MS);
    }
  }

  // Our first connection is up: the server counts the call as connected from here.
  mediaUp() {
    if (this.connectedSent || !this.id) return;
    this.connectedSent = true;
    this.markConnected();
    this.api.post(this.endpoint("connected")).catch((err) => this.view.fail(err.message));
  }

  markConnected() {
    if (this.connectedAt || this.over) return;
    this.connectedAt = performance.now();
    this.view.say("Connected");
    this.view.setTimer(this.connectedAt);
  }

  // -- our own media ----------------------------------------------------------------------

  localState() {
    const local = this.local;
    return { mic: !!local.mic?.enabled, video: !!local.cam, screen: !!local.screen };
  }

  refreshLocal() {
    if (this.over) return;
    const s = this.localState();
    this.view.showTile("me", { stream: this.local.stream, video: s.video || s.screen, mic: s.mic });
    this.view.controlsState({ mic: s.mic, cam: s.video, screen: s.screen });
    this.link?.refresh(s);
  }

  // -- the end ----------------------------------------------------------------------------

  // Releases the camera and microphone first, then reads what each connection received
  // (stopping our tracks leaves those statistics intact) and closes the connections.
  // Returns the quality report, or null when there is nothing to report.
  async release() {
    if (this.over) return null;
    this.over = true;
    this.local.stop();
    clearTimeout(this.networkTimer);
    const remotes = [...this.remotes.values()];
    const stats = await Promise.all(remotes.map((r) => r.stats().catch(() => null)));
    for (const r of remotes) r.close();
    this.remotes.clear();
    this.link?.close();
    const all = [...stats, ...(await Promise.all(this.left))].filter(Boolean);
    return this.connectedAt && all.length ? summarise(all) : null;
  }
}
