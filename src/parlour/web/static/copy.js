// Copies a link from a read-only field and says so in a status note. Where the browser refuses
// the clipboard, the link is selected for the person to copy. The call's guest link and the
// organisation's invitation link both use this.

export async function copyField(field, note) {
  try {
    await navigator.clipboard.writeText(field.value);
  } catch {
    field.select();
    note.textContent = "Copying was not allowed: the link is selected, copy it yourself.";
    return false;
  }
  note.textContent = "Link copied.";
  return true;
}
