// Server-rendered pages: each <button data-copy="FIELD-ID" data-copy-note="NOTE-ID" hidden> is
// shown and copies its field (see _forms.html copy_field). Without JavaScript it stays hidden.
import { copyField } from "./copy.js";

for (const button of document.querySelectorAll("[data-copy]")) {
  const field = document.getElementById(button.dataset.copy);
  const note = document.getElementById(button.dataset.copyNote);
  if (!field || !note) continue;
  button.hidden = false;
  button.addEventListener("click", () => copyField(field, note));
}
