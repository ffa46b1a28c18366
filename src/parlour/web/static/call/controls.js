// The controls of our own media during a call: microphone, camera, screen, device choice.
// Each change swaps tracks in `LocalMedia`; the controller then points every peer's senders at
// the new tracks and tells the others what changed.

import { LocalMedia } from "./media.js";
import { DeviceDialog } from "./ui.js";

// The call view's buttons, wired to `owner`'s controls, hang-up and close: the same on the
// chat page and the guest page.
export function viewHandlers(owner) {
  return {
    onMic: () => owner.controls.toggleMic(),
    onCam: () => owner.controls.toggleCam(),
    onScreen: () => owner.controls.toggleScreen(),
    onDevices: () => owner.controls.chooseDevices(),
    onHangup: () => owner.hangup(),
    onClose: () => owner.closeView(),
  };
}

export class Controls {
  constructor(calls) {
    this.calls = calls;
    this.dialog = new DeviceDialog({ onChoose: (kind, id) => this.switchDevice(kind, id) });
  }

  toggleMic() {
    const mic = this.calls.call?.local.mic;
    if (!mic) return;
    mic.enabled = !mic.enabled;
    this.calls.refreshLocal();
  }

  async toggleCam() {
    const local = this.calls.call?.local;
    if (!local) return;
    if (local.cam) local.closeCam();
    else await this.attempt(() => local.openCam());
    this.calls.refreshLocal();
  }

  async toggleScreen() {
    const local = this.calls.call?.local;
    if (!local) return;
    if (local.screen) local.closeScreen();
    else {
      const track = await this.attempt(() => local.openScreen());
      track?.addEventListener("ended", () => {
        if (local.screen === track) {
          local.closeScreen();
          this.calls.refreshLocal();
        }
      });
    }
    this.calls.refreshLocal();
  }

  async chooseDevices() {
    const local = this.calls.call?.local;
    if (!local) return;
    const found = await this.attempt(() => LocalMedia.devices());
    if (!found) return;
    const micId = local.mic?.getSettings().deviceId || local.micId;
    const camId = local.cam?.getSettings().deviceId || local.camId;
    this.dialog.show(found, { micId, camId });
  }

  async switchDevice(kind, id) {
    const local = this.calls.call?.local;
    if (!local) return;
    if (kind === "mic") {
      local.micId = id;
      await this.attempt(() => local.openMic());
    } else {
      local.camId = id;
      if (local.cam) await this.attempt(() => local.openCam());
    }
    this.dialog.say(kind === "mic" ? "Microphone changed." : "Camera changed.");
    this.calls.refreshLocal();
  }

  async attempt(fn) {
    try {
      this.calls.view.fail("");
      return await fn();
    } catch (err) {
      this.calls.view.fail(err.message);
      return null;
    }
  }
}
