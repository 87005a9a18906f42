/* "Find anything", the top bar's search box. Ctrl+K (⌘K on a Mac) focuses it from anywhere, "/"
 * does where the page has no search of its own (static/js/stageflow.js). Typing asks /search/ for
 * the dropdown (htmx); in it ↑ and ↓ choose a result, Enter opens it (or, with none chosen, the
 * results page), Escape closes it. The dropdown is an ARIA listbox of the combobox input. */
(function () {
  "use strict";

  const input = document.getElementById("sf-find-input");
  const box = document.getElementById("sf-find-results");
  if (!input || !box) return;

  const options = () => Array.from(box.querySelectorAll("[role=option]"));

  // On a Mac the shortcut is ⌘K: the hint in the box says so.
  const hint = document.querySelector(".sf-find-key");
  if (hint && /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent)) hint.textContent = "⌘ K";

  function choose(option) {
    for (const each of options()) each.setAttribute("aria-selected", each === option ? "true" : "false");
    if (option) {
      input.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({block: "nearest"});
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function show(open) {
    open = open && options().length > 0;
    box.hidden = !open;
    input.setAttribute("aria-expanded", open ? "true" : "false");
    if (!open) choose(null);
  }

  // Focus the box; on a narrow screen it is in the collapsed menu, which opens first.
  function focusBox() {
    const menu = input.closest(".collapse:not(.show)");
    if (menu && window.bootstrap && input.offsetParent === null) {
      menu.addEventListener("shown.bs.collapse", () => { input.focus(); input.select(); }, {once: true});
      window.bootstrap.Collapse.getOrCreateInstance(menu).show();
      return;
    }
    input.focus();
    input.select();
  }
  input.sfFocus = focusBox;  // for "/" (static/js/stageflow.js)

  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && !event.shiftKey && event.key.toLowerCase() === "k") {
      event.preventDefault();
      focusBox();
    }
  });

  input.addEventListener("keydown", (event) => {
    const all = options();
    const current = all.findIndex((option) => option.getAttribute("aria-selected") === "true");
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!all.length) return;
      event.preventDefault();
      show(true);
      const step = event.key === "ArrowDown" ? 1 : -1;
      const next = current < 0 ? (step > 0 ? 0 : all.length - 1) : (current + step + all.length) % all.length;
      choose(all[next]);
    } else if (event.key === "Enter" && current >= 0 && !box.hidden) {
      event.preventDefault();
      window.location.assign(all[current].href);
    } else if (event.key === "Escape" && !box.hidden) {
      event.preventDefault();
      show(false);
    }
  });

  // A new answer replaces the dropdown: nothing is chosen in it yet.
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target === box) show(document.activeElement === input);
  });
  input.addEventListener("focus", () => show(true));
  document.addEventListener("click", (event) => {
    if (!event.target.closest(".sf-find")) show(false);
  });
  document.addEventListener("focusin", (event) => {
    if (!event.target.closest(".sf-find")) show(false);
  });
})();
