// The top menu on a phone: the links fold behind a "Menu" button (a disclosure) so the bar stays
// one line and Sign out stays where it is. Without this script the links scroll sideways instead.
(() => {
  const bar = document.querySelector("[data-topbar]");
  const toggle = bar?.querySelector("[data-menu-toggle]");
  if (!bar || !toggle) return;
  const setOpen = (open) => {
    bar.classList.toggle("menu-open", open);
    toggle.setAttribute("aria-expanded", String(open));
  };
  toggle.hidden = false;
  bar.classList.add("menu-ready");
  toggle.addEventListener("click", () => setOpen(toggle.getAttribute("aria-expanded") !== "true"));
  bar.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || toggle.getAttribute("aria-expanded") !== "true") return;
    setOpen(false);
    toggle.focus();
  });
})();
