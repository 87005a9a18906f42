/* Every page: keyboard shortcuts with their help, and a loading bar while htmx requests run.
 * Shortcuts never fire while the user types in a field or holds a modifier key. */
(function () {
  "use strict";

  function typing(target) {
    return target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName);
  }

  // The page's own search (the board's filter, the lead list's) or else the top bar's "Find anything".
  function searchField() {
    return document.querySelector("main [data-sf-search]")
      || document.querySelector("main form[role=search] input[type=search], main form[role=search] input[name=q]")
      || document.querySelector("main input[type=search], main input[name=q]")
      || document.getElementById("sf-find-input");
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const help = document.getElementById("sf-shortcuts");
    if (help && help.open) return;
    if (event.key === "/") {
      const field = searchField();
      if (!field) return;
      event.preventDefault();
      if (field.sfFocus) return field.sfFocus();  // the top bar's box: it opens a collapsed menu first
      field.focus();
      if (field.select) field.select();
    } else if (event.key === "n") {
      if (!help || !help.dataset.newDealUrl) return;
      event.preventDefault();
      window.location.assign(help.dataset.newDealUrl);
    } else if (event.key === "?") {
      if (!help) return;
      event.preventDefault();
      help.showModal();
    }
  });

  // One bar for every htmx request in flight (filters, load more, moves, quick-add).
  let inFlight = 0;
  function loading(delta) {
    inFlight = Math.max(0, inFlight + delta);
    document.documentElement.classList.toggle("sf-loading", inFlight > 0);
  }
  document.addEventListener("htmx:beforeRequest", () => loading(1));
  document.addEventListener("htmx:afterRequest", () => loading(-1));

  // Toasts go where they cover nothing: into the navigation bar's free space, between its links
  // and the user menu, when that is at least 18rem wide (not on a phone, where the links fold
  // away and toasts stay at the bottom). There a new toast replaces the one before, so that a
  // stack never grows down over the page.
  const toasts = document.getElementById("sf-toasts");

  function placeToasts() {
    const root = document.documentElement;
    const links = document.querySelector(".sf-navbar .navbar-nav");
    const menu = document.querySelector(".sf-navbar .dropdown");
    const visible = links && menu && links.offsetParent && menu.offsetParent;
    const left = visible ? links.getBoundingClientRect().right + 16 : 0;
    const right = visible ? menu.getBoundingClientRect().left - 12 : 0;
    const rem = parseFloat(getComputedStyle(root).fontSize);
    const top = visible && right - left >= 18 * rem;
    root.classList.toggle("sf-toasts-top", Boolean(top));
    if (top) {
      root.style.setProperty("--sf-toast-right", (root.clientWidth - right) + "px");
      root.style.setProperty("--sf-toast-room", (right - left) + "px");
    }
  }

  if (toasts) {
    placeToasts();
    window.addEventListener("resize", placeToasts);
    new MutationObserver(() => {
      if (!document.documentElement.classList.contains("sf-toasts-top")) return;
      const shown = toasts.querySelectorAll(":scope > .toast");
      for (let i = 0; i < shown.length - 1; i++) {
        if (!shown[i].contains(document.activeElement)) shown[i].remove();
      }
    }).observe(toasts, {childList: true});
  }

  // A refused request (a form with errors, a permission refusal) answers 4xx with the fragment
  // that says why, marked X-Stageflow-Refusal: show it instead of dropping it as htmx does with
  // error responses. (A permission refusal also sends HX-Reswap: none, so only its toast shows.)
  document.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.xhr.getResponseHeader("X-Stageflow-Refusal")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // "Copy" buttons (data-sf-copy="#field"): copy the field's value and say so on the button.
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-sf-copy]");
    if (!button) return;
    const field = document.querySelector(button.dataset.sfCopy);
    if (!field) return;
    const done = () => {
      button.textContent = button.dataset.sfCopied || button.textContent;
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done);
    } else {  // plain HTTP on an intranet: the older way still works there
      field.select();
      if (document.execCommand("copy")) done();
    }
  });
})();
