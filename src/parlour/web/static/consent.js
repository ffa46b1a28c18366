// Saves the banner's choice without leaving the page. Without this script the same form posts
// and the server redirects back, so nothing depends on it.
(function () {
  "use strict";
  var banner = document.getElementById("consent-banner");
  if (!banner) { return; }
  var form = banner.querySelector("form[data-consent-form]");
  if (!form) { return; }
  form.addEventListener("submit", function (event) {
    if (form.dataset.plain === "1") { return; }
    event.preventDefault();
    var submitter = event.submitter;
    var data = new FormData(form);
    if (submitter && submitter.name) { data.append(submitter.name, submitter.value); }
    fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(data),
      headers: { "Accept": "application/json" },
      credentials: "same-origin"
    }).then(function (response) {
      if (!response.ok) { throw new Error("status " + response.status); }
      banner.remove();
    }).catch(function () {
      // Fall back to the plain post, which shows any error as a page.
      form.dataset.plain = "1";
      form.requestSubmit(submitter || undefined);
    });
  });
})();
