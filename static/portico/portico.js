// Behaviour every page shares, bound by delegation so that rows htmx swaps in get it too. It lives here, not in
// onclick/onchange attributes: the Content-Security-Policy runs no inline script.
(function () {
  "use strict";

  // <select data-autosubmit> sends its form as soon as a choice is made (language, lab).
  document.addEventListener("change", function (event) {
    const select = event.target.closest("select[data-autosubmit]");
    if (select && select.form) select.form.submit();
  });

  // A route form shows the fields of the chosen action only (the server renders the same choice with `hidden`).
  document.addEventListener("change", function (event) {
    const select = event.target.closest("select[name='route_action']");
    if (!select || !select.form) return;
    select.form.querySelectorAll("[data-show-for]").forEach(function (part) {
      part.hidden = part.dataset.showFor !== select.value;
    });
  });

  // A button with data-confirm asks first; "Cancel" stops the click (htmx elements use hx-confirm instead).
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  });

  // The menu (a <details>, so it opens and closes without JavaScript too) closes like other menus do: on Escape,
  // and on a click outside it.
  function closeMenus(except) {
    document.querySelectorAll("details[data-nav-menu][open]").forEach(function (menu) {
      if (menu !== except) menu.open = false;
    });
  }
  document.addEventListener("click", function (event) {
    closeMenus(event.target.closest("details[data-nav-menu]"));
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    const open = document.querySelector("details[data-nav-menu][open]");
    if (!open) return;
    open.open = false;
    open.querySelector("summary").focus();
  });
})();
