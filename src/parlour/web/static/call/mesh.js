// A call carried browser to browser: one Peer per other participant, signalled over the
// stream (`call.signal`). Who offers to whom is settled inside Peer.

import { Peer } from "./peer.js";

export class Mesh {
  constructor(session) {
    this.session = session;
  }

  // `keys`: the other participants in the call now.
  sync(keys) {
    const s = this.session;
    for (const key of keys) this.peer(key);
    for (const key of [...s.remotes.keys()]) if (!keys.has(key)) s.dropRemote(key);
  }

  peer(key) {
    const s = this.session;
    const known = s.remotes.get(key);
    if (known) return known;
    const peer = new Peer({
      me: s.me,
      key,
      iceServers: s.iceServers,
      media: s.local,
      send: (kind, payload) => s.send({ type: "call.signal", call_id: s.id, to: key, kind, payload }),
      onChange: (p) => s.changed(p),
    });
    peer.share(s.localState());
    s.addRemote(peer);
    return peer;
  }

  signal(data) {
    this.peer(data.from).handle(data.kind, data.payload || {});
  }

  refresh(state) {
    for (const peer of this.session.remotes.values()) {
      peer.refreshTracks();
      peer.share(state);
    }
  }

  close() {}
}
