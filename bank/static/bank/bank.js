/* StemBank keyboard and scanner support. No framework; HTMX is vendored beside this file.
 * - "/" or F2 puts the cursor in the header scan field from anywhere.
 * - A keyboard-wedge scanner typing while no field has focus is caught by the scan field, so a
 *   technician never has to click before scanning. The page's own scan target (data-scan-target)
 *   takes precedence over the header field.
 * - Elements with [autofocus-scan] get focus on load; [data-autosubmit] selects submit on change;
 *   [data-scroll-into-view] is scrolled into view on load. */
(function () {
  "use strict";
  // HTMX would add a <style> element for its request indicators (unused here), which the CSP refuses.
  if (window.htmx) window.htmx.config.includeIndicatorStyles = false;
  function scanField() {
    return document.querySelector("[data-scan-target]") || document.getElementById("global-scan");
  }
  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var field = scanField();
    if (!field) return;
    if (event.key === "F2" || (event.key === "/" && !typing(document.activeElement))) {
      event.preventDefault();
      field.focus();
      field.select();
      return;
    }
    if (!typing(document.activeElement) && event.key.length === 1 && /[0-9A-Za-z\-]/.test(event.key)) {
      field.value = "";
      field.focus();
    }
  });
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el && el.hasAttribute && el.hasAttribute("data-autosubmit") && el.form) el.form.submit();
  });
  document.addEventListener("DOMContentLoaded", function () {
    var target = document.querySelector("[autofocus-scan]");
    if (target) target.focus();
    // A scanned vial's row on its lot page, and the like (no inline scripts: the CSP forbids them).
    var shown = document.querySelector("[data-scroll-into-view]");
    if (shown) shown.scrollIntoView({block: "center"});
    document.querySelectorAll("[data-confirm]").forEach(function (el) {
      el.addEventListener("click", function (event) {
        if (!window.confirm(el.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
  });
  document.body && document.body.addEventListener("htmx:configRequest", function (event) {
    var token = document.querySelector("meta[name=csrf-token]");
    if (token) event.detail.headers["X-CSRFToken"] = token.content;
  });
})();
