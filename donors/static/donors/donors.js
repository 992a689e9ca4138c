/* Screening entry: Enter anywhere in the form submits it (selects too); "All negative" fills every
 * untouched marker; result selects are coloured by their value. */
(function () {
  "use strict";
  function paint(select) {
    select.classList.remove("negative", "positive", "indeterminate");
    if (select.value) select.classList.add(select.value);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-enter-submits]").forEach(function (form) {
      form.addEventListener("keydown", function (event) {
        var el = event.target;
        if (event.key !== "Enter" || event.shiftKey || event.ctrlKey || event.altKey) return;
        if (el.tagName === "TEXTAREA" || el.tagName === "BUTTON") return;
        event.preventDefault();
        if (form.requestSubmit) form.requestSubmit(); else form.submit();
      });
      form.querySelectorAll("select[data-marker]").forEach(function (select) {
        paint(select);
        select.addEventListener("change", function () { paint(select); });
      });
    });
    document.querySelectorAll("[data-fill-markers]").forEach(function (button) {
      button.addEventListener("click", function () {
        var value = button.getAttribute("data-fill-markers");
        var only = button.getAttribute("data-only-required") === "true";
        button.form.querySelectorAll("select[data-marker]").forEach(function (select) {
          if (only && !select.closest(".marker.required")) return;
          if (!select.value) { select.value = value; paint(select); }
        });
      });
    });
  });
})();
