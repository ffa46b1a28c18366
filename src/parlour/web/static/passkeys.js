// Passkeys: adding one on the security page, and using one to finish signing in.
// The server sends WebAuthn options as JSON with base64url bytes; the browser wants buffers.

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

const toBytes = (text) => {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
};
const toText = (buffer) => {
  const bytes = new Uint8Array(buffer);
  let raw = "";
  bytes.forEach((b) => { raw += String.fromCharCode(b); });
  return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
};

const creationOptions = (o) => ({
  ...o,
  challenge: toBytes(o.challenge),
  user: { ...o.user, id: toBytes(o.user.id) },
  excludeCredentials: (o.excludeCredentials || []).map((c) => ({ ...c, id: toBytes(c.id) })),
});
const requestOptions = (o) => ({
  ...o,
  challenge: toBytes(o.challenge),
  allowCredentials: (o.allowCredentials || []).map((c) => ({ ...c, id: toBytes(c.id) })),
});

const credentialJSON = (cred) => {
  const r = cred.response;
  const response = { clientDataJSON: toText(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toText(r.attestationObject);
    response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    response.authenticatorData = toText(r.authenticatorData);
    response.signature = toText(r.signature);
    if (r.userHandle) response.userHandle = toText(r.userHandle);
  }
  return {
    id: cred.id, rawId: toText(cred.rawId), type: cred.type, response,
    clientExtensionResults: cred.getClientExtensionResults(),
    authenticatorAttachment: cred.authenticatorAttachment || undefined,
  };
};

const post = async (url, body) => {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-csrf-token": csrf() },
    body: JSON.stringify(body || {}),
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.detail || "Something went wrong. Try again.");
  return data;
};

const showError = (box, error) => {
  box.textContent = error.name === "NotAllowedError"
    ? "The passkey was not used (cancelled or timed out). Try again."
    : error.message;
  box.hidden = false;
};

const supported = () => Boolean(window.PublicKeyCredential && navigator.credentials);

function setUpAdding(root) {
  if (!supported()) return;
  root.hidden = false;
  document.querySelector("[data-passkey-unsupported]")?.remove();
  const error = root.querySelector("[data-passkey-error]");
  root.querySelector("[data-passkey-create]").addEventListener("click", async (event) => {
    const button = event.currentTarget;
    const name = document.getElementById("f-passkey_name").value.trim() || "Passkey";
    error.hidden = true;
    button.disabled = true;
    try {
      const options = await post("/api/v1/me/second-factor/passkeys/options");
      const cred = await navigator.credentials.create({ publicKey: creationOptions(options) });
      const added = await post("/api/v1/me/second-factor/passkeys",
        { name, credential: credentialJSON(cred) });
      if (added.recovery_codes.length) {
        const box = document.querySelector("[data-passkey-codes]");
        const list = box.querySelector("[data-passkey-code-list]");
        added.recovery_codes.forEach((code) => {
          const item = document.createElement("li");
          const text = document.createElement("code");
          text.textContent = code;
          item.append(text);
          list.append(item);
        });
        root.hidden = true;
        box.hidden = false;
        box.querySelector("h3").scrollIntoView();
      } else {
        window.location.assign("/profile/security?notice=passkey-added");
      }
    } catch (e) {
      showError(error, e);
    } finally {
      button.disabled = false;
    }
  });
}

function setUpSignIn(root) {
  const error = root.querySelector("[data-passkey-error]");
  const button = root.querySelector("[data-passkey-use]");
  if (!supported()) { button.hidden = true; return; }
  button.addEventListener("click", async () => {
    error.hidden = true;
    button.disabled = true;
    try {
      const options = await post("/api/v1/auth/second-step/passkey/options");
      const cred = await navigator.credentials.get({ publicKey: requestOptions(options) });
      const done = await post("/api/v1/auth/second-step/passkey",
        { credential: credentialJSON(cred), next: root.dataset.next });
      window.location.assign(done.redirect);
    } catch (e) {
      showError(error, e);
    } finally {
      button.disabled = false;
    }
  });
}

const adding = document.querySelector("[data-passkey-add]");
if (adding) setUpAdding(adding);
const signingIn = document.querySelector("[data-passkey-signin]");
if (signingIn) setUpSignIn(signingIn);
