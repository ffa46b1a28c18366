// The camera, microphone and screen of this browser during a call. Every track it obtains is
// kept in one list, so the end of a call can stop all of them at once: the camera light and
// the microphone go off the moment the call ends (P-CALL-1).

export class MediaError extends Error {}

const WHY = {
  NotAllowedError: "The browser was not allowed to use your camera or microphone.",
  NotFoundError: "No camera or microphone was found.",
  NotReadableError: "Your camera or microphone is in use by another program.",
  OverconstrainedError: "The chosen camera or microphone is no longer available.",
};

function explain(err) {
  return new MediaError(WHY[err?.name] || "Your camera or microphone could not be started.");
}

export class LocalMedia {
  constructor() {
    this.stream = new MediaStream(); // what the local tile shows and what peers send
    this.mic = null;
    this.cam = null;
    this.screen = null;
    this.obtained = [];
    this.micId = "";
    this.camId = "";
    this.stopped = false;
  }

  // Opens the microphone, and the camera for a video call. A video call whose camera cannot
  // start goes on with sound only rather than failing.
  async open(video) {
    try {
      await this.openMic();
    } catch (err) {
      this.stop();
      throw err;
    }
    if (!video) return "";
    try {
      await this.openCam();
      return "";
    } catch (err) {
      return `${err.message} The call goes on with sound only.`;
    }
  }

  async grab(constraints) {
    if (!navigator.mediaDevices?.getUserMedia) throw new MediaError("This browser cannot make calls.");
    let got;
    try {
      got = await navigator.mediaDevices.getUserMedia(constraints);
    } catch (err) {
      throw explain(err);
    }
    return this.keep(got);
  }

  // A device that opens after the call ended (a slow camera, a late click) closes at once.
  keep(got) {
    if (this.stopped) {
      for (const t of got.getTracks()) t.stop();
      throw new MediaError("The call has ended.");
    }
    this.obtained.push(...got.getTracks());
    return got;
  }

  async openMic() {
    const audio = this.micId ? { deviceId: { exact: this.micId } } : true;
    const [track] = (await this.grab({ audio })).getAudioTracks();
    track.enabled = this.mic ? this.mic.enabled : true;
    this.mic?.stop();
    this.mic = track;
    this.sync();
    return track;
  }

  async openCam() {
    const video = { width: { ideal: 1280 }, height: { ideal: 720 } };
    if (this.camId) video.deviceId = { exact: this.camId };
    const [track] = (await this.grab({ video })).getVideoTracks();
    this.cam?.stop();
    this.cam = track;
    this.sync();
    return track;
  }

  closeCam() {
    this.cam?.stop();
    this.cam = null;
    this.sync();
  }

  async openScreen() {
    if (!navigator.mediaDevices?.getDisplayMedia) throw new MediaError("This browser cannot share its screen.");
    let got;
    try {
      got = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch (err) {
      if (err?.name === "NotAllowedError") return null; // the person chose not to share
      throw new MediaError("Your screen could not be shared.");
    }
    const [track] = this.keep(got).getVideoTracks();
    this.screen = track;
    this.sync();
    return track;
  }

  closeScreen() {
    this.screen?.stop();
    this.screen = null;
    this.sync();
  }

  // The track peers should send as video: the screen while it is shared, else the camera.
  get video() {
    return this.screen || this.cam;
  }

  // The local stream holds the microphone and whichever video is sent.
  sync() {
    const wanted = [this.mic, this.video].filter(Boolean);
    for (const t of this.stream.getTracks()) if (!wanted.includes(t)) this.stream.removeTrack(t);
    for (const t of wanted) if (!this.stream.getTracks().includes(t)) this.stream.addTrack(t);
  }

  // Stops every track this call ever obtained, whatever state it is in.
  stop() {
    this.stopped = true;
    for (const track of this.obtained) track.stop();
    this.obtained = [];
    this.mic = this.cam = this.screen = null;
    for (const t of this.stream.getTracks()) this.stream.removeTrack(t);
  }

  static async devices() {
    const all = await navigator.mediaDevices.enumerateDevices();
    return {
      mics: all.filter((d) => d.kind === "audioinput"),
      cams: all.filter((d) => d.kind === "videoinput"),
    };
  }
}

// What the call record keeps about this client (P-CALL-2): all of it is also visible to the
// person in their call history export.
export function clientFacts(version) {
  const ua = navigator.userAgent;
  const data = navigator.userAgentData;
  const brand = data?.brands?.find((b) => !/Not.?A.?Brand|Chromium/i.test(b.brand));
  const browser = brand ? `${brand.brand} ${brand.version}` : guessBrowser(ua);
  return {
    endpoint_version: `web ${version || "unknown"}`.slice(0, 60),
    device: (data ? data.mobile : /Mobi|Android|iPhone|iPad/i.test(ua)) ? "mobile" : "desktop",
    os: (data?.platform || guessOs(ua)).slice(0, 60),
    browser: browser.slice(0, 60),
    language: (navigator.language || "").slice(0, 35) || null,
  };
}

function guessBrowser(ua) {
  for (const [name, re] of [
    ["Edge", /Edg\/(\d+)/],
    ["Firefox", /Firefox\/(\d+)/],
    ["Chrome", /(?:Chrome|HeadlessChrome|Chromium)\/(\d+)/],
    ["Safari", /Version\/(\d+).*Safari/],
  ]) {
    const m = ua.match(re);
    if (m) return `${name} ${m[1]}`;
  }
  return "unknown";
}

function guessOs(ua) {
  if (/Android/i.test(ua)) return "Android";
  if (/iPhone|iPad|iPod/i.test(ua)) return "iOS";
  if (/Windows/i.test(ua)) return "Windows";
  if (/Mac OS X/i.test(ua)) return "macOS";
  if (/Linux/i.test(ua)) return "Linux";
  return "unknown";
}
