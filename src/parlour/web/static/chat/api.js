// The JSON API with the session cookie and the CSRF header; failures become ApiError
// carrying the problem details (code, detail, field messages).

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || `The request failed (${status}).`);
    this.status = status;
    this.code = problem.code || "unknown";
    this.fields = problem.errors || [];
    this.problem = problem; // its other members, such as the call to leave (call_id)
  }

  // A sentence for people: the detail, plus any field messages that add to it.
  describe() {
    const extra = this.fields.map((f) => f.message).filter((m) => !this.message.includes(m));
    return [this.message, ...extra].join(" ");
  }
}

export class Api {
  constructor(csrf) {
    this.csrf = csrf;
  }

  async request(method, path, { body, headers = {} } = {}) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json", ...headers } };
    if (method !== "GET") init.headers["X-CSRF-Token"] = this.csrf;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch("/api/v1" + path, init);
    } catch {
      throw new ApiError(0, { code: "network", detail: "No connection right now. Try again in a moment." });
    }
    if (response.status === 401) this.unauthenticated();
    if (response.status === 204) return null;
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  // The session ended: on to the sign-in page, back here afterwards.
  unauthenticated() { signIn(); }

  get(path) { return this.request("GET", path); }
  post(path, body, headers) { return this.request("POST", path, { body, headers }); }
  patch(path, body) { return this.request("PATCH", path, { body }); }
  put(path) { return this.request("PUT", path); }
  del(path) { return this.request("DELETE", path); }
}

export function signIn() {
  location.assign("/signin?next=" + encodeURIComponent(location.pathname));
}
