// At most one message menu is open; Escape or a click elsewhere closes it.

export class Menus {
  constructor() {
    this.open = null;
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && this.open) {
        e.preventDefault();
        this.close(true);
      }
    });
    document.addEventListener("click", (e) => {
      if (!this.open) return;
      const { toggle, menu } = this.open;
      if (!toggle.contains(e.target) && !menu.contains(e.target)) this.close(false);
    });
  }

  toggle(toggle, menu) {
    if (this.open && this.open.menu === menu) {
      this.close(true);
      return;
    }
    this.close(false);
    menu.classList.remove("down");
    menu.hidden = false;
    place(menu);
    toggle.setAttribute("aria-expanded", "true");
    this.open = { toggle, menu };
    menu.querySelector("button")?.focus();
  }

  close(refocus) {
    if (!this.open) return;
    const { toggle, menu } = this.open;
    this.open = null;
    menu.hidden = true;
    toggle.setAttribute("aria-expanded", "false");
    if (refocus && toggle.isConnected) toggle.focus();
  }
}

// Opens upwards unless that would leave the scrolling area; then downwards, in view.
function place(menu) {
  const area = menu.closest("[data-scroller]");
  if (!area) return;
  if (menu.getBoundingClientRect().top < area.getBoundingClientRect().top) menu.classList.add("down");
  menu.scrollIntoView({ block: "nearest" });
}
