/* Stageflow board: drag and drop (SortableJS) that moves deals through one htmx POST each.
 *
 * The server answers every move with out-of-band swaps rendered from the database: the card,
 * the column headers and a toast. A refused move (400) or a stale one (409) puts the card back
 * where it was before those swaps apply; on 409 the server's swaps then show the deal's current
 * state. Nothing is computed here: totals always come from the server.
 */
(function () {
  "use strict";

  // Card element -> where it came from, while its request is in flight.
  const origins = new WeakMap();
  // Elements already wired up. Not a data attribute: htmx's history snapshots copy attributes
  // but not listeners, so restored elements must be wired up again.
  const ready = new WeakSet();
  let lostPending = null;

  function boardState() {
    const form = document.getElementById("sf-board-state");
    return form ? Object.fromEntries(new FormData(form)) : {};
  }

  function restore(card) {
    const origin = origins.get(card);
    origins.delete(card);
    if (!origin || !origin.from.isConnected) return;
    origin.from.insertBefore(card, origin.from.children[origin.index] || null);
  }

  // A card's address (its title links to the deal page), id and the moves it offers: the card
  // carries only its id and version; the rest is the page's or the column's.
  function dealUrl(card) {
    return card.querySelector(".sf-card-title").getAttribute("href");
  }

  function cardDealId(card) {
    return card.id.replace(/^deal-/, "");
  }

  // --- A card's "Move to…" menu: the WAI-ARIA menu button pattern --------------------------------
  //
  // The button opens the menu with the focus on the first stage after the card's own (a move
  // forward, the usual one), or on the first entry when there is none. In the menu, ↓ and ↑ move
  // (round the ends), Home and End go to the first and last entry, a letter to the next entry that
  // starts with it, Enter or Space choose, Escape closes it and gives the focus back to the button;
  // Tab, a click elsewhere or the focus leaving it close it too. On the button, ↓ opens the menu as
  // Enter does and ↑ opens it on its last entry.

  // The column's menu (a <template>, the same for every card of the column), copied into the card
  // the first time it opens, with the card's address and version.
  function moveMenu(card) {
    const wrapper = card.querySelector(".sf-move");
    if (!wrapper) return null;  // a read-only card has no moves
    const existing = wrapper.querySelector(".sf-move-menu");
    if (existing) return existing;
    const template = card.closest(".sf-column")?.querySelector("template.sf-move-template");
    if (!template) return null;
    const button = wrapper.querySelector(".sf-move-button");
    const menu = template.content.firstElementChild.cloneNode(true);
    const url = dealUrl(card);
    const form = menu.querySelector("form");
    form.setAttribute("action", url + "move/");
    form.setAttribute("hx-post", url + "move/");
    form.elements.version.value = card.dataset.version;
    const lost = menu.querySelector(".sf-move-lost");
    if (lost && card.classList.contains("is-won")) lost.remove();
    else if (lost) lost.setAttribute("href", url + "#lose");
    menu.id = "deal-" + cardDealId(card) + "-menu";
    menu.setAttribute("aria-labelledby", button.id);
    menu.hidden = true;
    button.setAttribute("aria-controls", menu.id);
    wrapper.append(menu);
    htmx.process(menu);
    return menu;
  }

  function menuItems(menu) {
    return Array.from(menu.querySelectorAll("[role=menuitem]"));
  }

  // The first stage after the card's own, in the board's column order.
  function nextStageItem(card, menu) {
    const order = Array.from(document.querySelectorAll(".sf-board .sf-column")).map((c) => c.dataset.stageId);
    const here = order.indexOf(card.closest(".sf-column")?.dataset.stageId);
    return menuItems(menu).find((item) => item.name === "stage" && order.indexOf(item.value) > here) || null;
  }

  function openMenu(card, where) {
    const menu = moveMenu(card);
    if (!menu) return;
    document.querySelectorAll(".sf-move-menu:not([hidden])").forEach((other) => other !== menu && closeMenu(other, false));
    const button = card.querySelector(".sf-move-button");
    menu.hidden = false;
    button.setAttribute("aria-expanded", "true");
    const items = menuItems(menu);
    const item = where === "last" ? items[items.length - 1] : nextStageItem(card, menu) || items[0];
    (item || button).focus();
  }

  function closeMenu(menu, giveFocusBack) {
    if (!menu || menu.hidden) return;
    menu.hidden = true;
    const button = document.getElementById(menu.getAttribute("aria-labelledby"));
    if (!button) return;
    button.setAttribute("aria-expanded", "false");
    if (giveFocusBack) button.focus();
  }

  function onMenuKey(event, menu) {
    const items = menuItems(menu);
    const index = items.indexOf(event.target);
    let next = null;
    if (event.key === "ArrowDown") next = items[(index + 1) % items.length];
    else if (event.key === "ArrowUp") next = items[(index - 1 + items.length) % items.length];
    else if (event.key === "Home") next = items[0];
    else if (event.key === "End") next = items[items.length - 1];
    else if (event.key === "Escape") {
      closeMenu(menu, true);
    } else if (event.key === "Tab") {
      closeMenu(menu, false);
      return;  // the focus goes on as Tab sends it
    } else if (event.key === " " && event.target.matches("a[role=menuitem]")) {
      event.target.click();  // Space chooses a link entry as it does a button
    } else if (event.key.length === 1 && /\S/.test(event.key)) {
      const key = event.key.toLocaleLowerCase();
      const ordered = items.slice(index + 1).concat(items.slice(0, index + 1));
      next = ordered.find((item) => item.textContent.trim().toLocaleLowerCase().startsWith(key)) || null;
    } else {
      return;  // Enter, and Space on a button: the browser chooses the entry
    }
    event.preventDefault();
    event.stopPropagation();  // not also a page shortcut
    if (next) next.focus();
  }

  function message(templateId) {
    const tpl = document.getElementById(templateId);
    return tpl ? tpl.content.textContent.trim() : "";
  }

  function toast(text, level) {
    const box = document.getElementById("sf-toasts");
    if (!box || !text) return;
    const el = document.createElement("div");
    el.className = "toast show align-items-center border-0 sf-toast text-bg-" + (level || "danger");
    el.setAttribute("role", level === "success" ? "status" : "alert");
    el.dataset.sfToast = "";
    const row = document.createElement("div");
    row.className = "d-flex";
    const body = document.createElement("div");
    body.className = "toast-body";
    body.textContent = text;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close btn-close-white me-2 m-auto";
    close.setAttribute("data-bs-dismiss", "toast");
    close.setAttribute("aria-label", message("sf-msg-close") || "Close");
    row.append(body, close);
    el.append(row);
    box.append(el);
    autoHide(el);
  }

  // Toasts leave on their own, but never while the pointer or the focus is on them, and one
  // that offers "Undo" stays long enough to reach its button with the keyboard.
  function autoHide(el) {
    if (ready.has(el)) return;
    ready.add(el);
    const long = el.classList.contains("text-bg-danger") || el.classList.contains("has-undo");
    const later = () => {
      if (!el.isConnected) return;
      if (el.matches(":hover, :focus-within")) window.setTimeout(later, 2000);
      else el.remove();
    };
    window.setTimeout(later, long ? 12000 : 6000);
  }

  // --- Focus follows the card a keyboard user moved ---------------------------------------------

  // The id of a deal whose re-rendered card should take the focus when it arrives.
  let focusDealId = null;

  function dealIdOf(elt) {
    const card = elt.closest && elt.closest(".sf-card");
    if (card) return cardDealId(card);
    const form = elt.closest && elt.closest(".sf-undo-form");
    const match = form && /\/deals\/(\d+)\/(move|reopen)\//.exec(form.getAttribute("action") || "");
    return match ? match[1] : null;
  }

  function focusCard(card) {
    const target = card && card.querySelector(".sf-card-title");
    if (target) target.focus({ preventScroll: false });
  }

  function send(card, url, values) {
    card.classList.add("is-saving");
    card.setAttribute("aria-busy", "true");
    return htmx.ajax("POST", url, {
      source: card,
      values: Object.assign(boardState(), values),
      swap: "none",
    });
  }

  function onDrop(evt) {
    const card = evt.item;
    if (evt.to === evt.from) return;
    origins.set(card, { from: evt.from, index: evt.oldIndex });
    if (evt.to.dataset.lostZone) {
      openLostDialog(card);
      return;
    }
    send(card, dealUrl(card) + "move/", { stage: evt.to.dataset.stageId, version: card.dataset.version });
  }

  // --- The "Lost" drop zone and its dialog ----------------------------------------------------

  function openLostDialog(card) {
    const dialog = document.getElementById("sf-lost-dialog");
    const form = document.getElementById("sf-lost-form");
    if (!dialog || !form) {
      restore(card);
      return;
    }
    lostPending = card;
    form.reset();
    const error = form.querySelector("[data-error]");
    error.hidden = true;
    error.textContent = "";
    form.querySelector("[data-deal-title]").textContent = card.querySelector(".sf-card-title").textContent;
    dialog.showModal();
    form.querySelector("select[name=reason]").focus();
  }

  function setUpLostDialog() {
    const dialog = document.getElementById("sf-lost-dialog");
    const form = document.getElementById("sf-lost-form");
    if (!dialog || !form || ready.has(dialog)) return;
    ready.add(dialog);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const card = lostPending;
      const reason = form.elements.reason.value;
      if (!reason) {
        const error = form.querySelector("[data-error]");
        error.textContent = message("sf-msg-reason");
        error.hidden = false;
        form.elements.reason.focus();
        return;
      }
      lostPending = null;
      dialog.close();
      if (card) {
        send(card, dealUrl(card) + "lose/", {
          reason: reason,
          note: form.elements.note.value,
          version: card.dataset.version,
        });
      }
    });
    form.querySelector("[data-cancel]").addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      if (lostPending) {
        const card = lostPending;
        lostPending = null;
        restore(card);
        card.querySelector(".sf-card-title")?.focus();
      }
    });
  }

  // --- Set-up ---------------------------------------------------------------------------------

  function makeSortable(list, options) {
    if (Sortable.get(list)) return;
    Sortable.create(list, Object.assign({
      group: { name: "deals", pull: true, put: true },
      sort: false,
      animation: window.matchMedia("(prefers-reduced-motion: reduce)").matches ? 0 : 150,
      draggable: ".sf-card",
      // A card the user may only read stays put (the server would refuse its move anyway).
      filter: "button, summary, input, select, textarea, label, .sf-move-menu, .sf-card.is-readonly",
      preventOnFilter: false,
      delay: 150,
      delayOnTouchOnly: true,
      ghostClass: "sf-ghost",
      chosenClass: "sf-chosen",
      onStart: () => document.body.classList.add("sf-dragging"),
      onEnd: (evt) => {
        document.body.classList.remove("sf-dragging");
        onDrop(evt);
      },
    }, options || {}));
  }

  function init(root) {
    if (root.classList && root.classList.contains("sf-card") && cardDealId(root) === focusDealId) {
      focusDealId = null;
      focusCard(root);
    }
    if (typeof Sortable === "undefined") return;
    // A card the server just put at the top of a column (a move, a quick-add): keep it in sight.
    if (root.classList && root.classList.contains("sf-card") && root === root.parentElement?.firstElementChild) {
      const column = root.closest(".sf-column");
      column.scrollTo({ top: 0, behavior: "smooth" });
      column.scrollIntoView({ block: "nearest", inline: "nearest" });
    }
    root.querySelectorAll(".sf-cards").forEach((list) => makeSortable(list));
    const zone = document.getElementById("sf-lost-zone");
    if (zone) {
      makeSortable(zone, { group: { name: "deals", pull: false, put: true }, onStart: null, onEnd: null });
    }
    document.querySelectorAll("[data-sf-toast], #sf-toasts > .toast").forEach(autoHide);
    setUpLostDialog();
    setUpFilterToggle();
  }

  // On a phone the owner and date filters fold away behind "More filters" (unless one is set).
  function setUpFilterToggle() {
    const form = document.querySelector(".sf-filters");
    const toggle = form && form.querySelector(".sf-filter-toggle");
    if (!toggle || ready.has(toggle)) return;
    ready.add(toggle);
    const extra = document.getElementById("sf-filter-extra");
    const active = Array.from(extra.querySelectorAll("input, select")).some((el) => el.value);
    form.classList.add("is-collapsible");
    form.classList.toggle("is-open", active);
    toggle.setAttribute("aria-expanded", String(active));
    toggle.addEventListener("click", () => {
      const open = form.classList.toggle("is-open");
      toggle.setAttribute("aria-expanded", String(open));
    });
  }

  // --- Keyboard: arrows walk the cards, "m" opens a card's "Move to…" menu, Escape closes it ----

  function typing(target) {
    return target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName);
  }

  function cardsIn(column) {
    return Array.from(column.querySelectorAll(".sf-cards > .sf-card"));
  }

  // The open menu's keys first (capture), so that its letters are not also page shortcuts.
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const menu = event.target.closest && event.target.closest(".sf-move-menu");
    if (menu && !menu.hidden) {
      onMenuKey(event, menu);
      return;
    }
    const button = event.target.closest && event.target.closest(".sf-move-button");
    if (button && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      event.preventDefault();
      event.stopPropagation();
      openMenu(button.closest(".sf-card"), event.key === "ArrowUp" ? "last" : "next");
    }
  }, true);

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (event.key === "u" || event.key === "U") {
      // Undo the last move: the newest toast's "Undo" button.
      const buttons = document.querySelectorAll("#sf-toasts .sf-undo");
      if (buttons.length) {
        event.preventDefault();
        buttons[buttons.length - 1].click();
      }
      return;
    }
    const card = event.target.closest && event.target.closest(".sf-board .sf-card");
    if (!card) return;
    if (event.key === "m" || event.key === "M") {
      if (!card.querySelector(".sf-move-button")) return;  // a read-only card has no moves
      event.preventDefault();
      openMenu(card, "next");
      return;
    }
    const column = card.closest(".sf-column");
    let next = null;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const cards = cardsIn(column);
      next = cards[cards.indexOf(card) + (event.key === "ArrowDown" ? 1 : -1)];
    } else if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      const columns = Array.from(document.querySelectorAll(".sf-board .sf-column"));
      const step = event.key === "ArrowRight" ? 1 : -1;
      const index = cardsIn(column).indexOf(card);
      for (let i = columns.indexOf(column) + step; i >= 0 && i < columns.length; i += step) {
        const cards = cardsIn(columns[i]);
        if (cards.length) {
          next = cards[Math.min(index, cards.length - 1)];
          break;
        }
      }
    } else {
      return;
    }
    event.preventDefault();
    if (next) {
      focusCard(next);
      next.scrollIntoView({ block: "nearest", inline: "nearest" });
    }
  });

  htmx.onLoad(init);

  function isRefusal(xhr) {
    return Boolean(xhr.getResponseHeader("X-Stageflow-Refusal"));
  }

  // With DEBUG on, django-htmx replaces the whole page with a 400, 403 or 404 response. On the
  // board a refused request only ever shows a toast: the board's own refusals carry their
  // message; any other 4xx gets the general one (htmx:responseError below).
  document.body.addEventListener("htmx:beforeOnLoad", (event) => {
    const status = event.detail.xhr.status;
    if (isRefusal(event.detail.xhr) || (status >= 400 && status < 500)) event.stopPropagation();
  });

  // Refusals carry a message and, on a conflict, the deal's current state: swap them too.
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    const status = event.detail.xhr.status;
    const card = event.detail.elt;
    if (status >= 400 && card && origins.has(card)) restore(card);
    else if (card) origins.delete(card);
    if (isRefusal(event.detail.xhr) || status === 400 || status === 409) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // A move from a card's menu or a toast's "Undo": remember whose card should get the focus.
  document.body.addEventListener("htmx:beforeRequest", (event) => {
    const elt = event.detail.elt;
    if (elt.closest && (elt.closest(".sf-move") || elt.closest(".sf-undo-form"))) {
      focusDealId = dealIdOf(elt);
    }
  });

  document.body.addEventListener("htmx:afterRequest", (event) => {
    const card = event.detail.elt;
    // An "Undo" is used once: its toast goes; the focus stays on the card when it is still here.
    const undoToast = card && card.closest && card.closest(".sf-undo-form") && card.closest(".toast");
    if (undoToast) {
      const hadFocus = undoToast.contains(document.activeElement);
      undoToast.remove();
      window.setTimeout(() => {
        if (focusDealId && hadFocus) {
          const current = document.getElementById("deal-" + focusDealId);
          if (current && (document.activeElement === document.body || !document.activeElement)) focusCard(current);
        }
      }, 0);
    }
    if (card && card.classList) {
      card.classList.remove("is-saving");
      card.removeAttribute("aria-busy");
    }
    // A move menu closes once its request is answered.
    const menu = card && card.closest && card.closest(".sf-move-menu");
    if (menu) closeMenu(menu, false);
  });

  document.body.addEventListener("htmx:sendError", (event) => {
    const card = event.detail.elt;
    if (card && origins.has(card)) restore(card);
    toast(message("sf-msg-network"), "danger");
  });

  document.body.addEventListener("htmx:responseError", (event) => {
    const card = event.detail.elt;
    if (card && origins.has(card)) restore(card);
    const status = event.detail.xhr.status;
    if (status >= 400 && status < 500) toast(message("sf-msg-forbidden"), "danger");
    else if (status >= 500) toast(message("sf-msg-network"), "danger");
  });

  // A click (or Enter, or Space) on "Move to…" opens or closes its menu; a click elsewhere closes
  // an open one.
  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest(".sf-move-button");
    const inside = event.target.closest && event.target.closest(".sf-move");
    document.querySelectorAll(".sf-move-menu:not([hidden])").forEach((menu) => {
      if (!inside || !inside.contains(menu)) closeMenu(menu, false);
    });
    if (!button) return;
    const menu = button.closest(".sf-move").querySelector(".sf-move-menu");
    if (menu && !menu.hidden) closeMenu(menu, false);
    else openMenu(button.closest(".sf-card"), "next");
  });

  // The focus leaving a menu and its button (Tab, a click elsewhere) closes the menu.
  document.addEventListener("focusout", (event) => {
    const wrapper = event.target.closest && event.target.closest(".sf-move");
    const menu = wrapper && wrapper.querySelector(".sf-move-menu:not([hidden])");
    if (menu && event.relatedTarget && !wrapper.contains(event.relatedTarget)) closeMenu(menu, false);
  });

  // A click on a toast's close button removes it (Bootstrap's toast plugin is not needed).
  document.addEventListener("click", (event) => {
    const close = event.target.closest && event.target.closest("#sf-toasts [data-bs-dismiss=toast]");
    if (close) close.closest(".toast").remove();
  });
})();
