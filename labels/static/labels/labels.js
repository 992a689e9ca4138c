/* Labels for a selection of vials: a scan (Enter) is added to the list instead of submitting the form; with the
 * scan field empty, Enter submits. The count of codes in the list follows. No inline scripts (CSP). */
(function () {
  "use strict";
  function count(list, out) {
    if (!out) return;
    var n = list.value.split(/[\s,;]+/).filter(function (c) { return c; }).length;
    out.textContent = n ? "(" + n + ")" : "";
  }
  document.addEventListener("DOMContentLoaded", function () {
    var scan = document.querySelector("[data-append-to]");
    if (!scan) return;
    var list = document.getElementById(scan.getAttribute("data-append-to"));
    var out = document.getElementById("code-count");
    count(list, out);
    list.addEventListener("input", function () { count(list, out); });
    scan.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") return;
      var code = scan.value.trim();
      if (!code) return;  // an empty scan field: Enter prints
      event.preventDefault();
      list.value = (list.value.replace(/\s+$/, "") + "\n" + code).replace(/^\n/, "") + "\n";
      scan.value = "";
      count(list, out);
    });
  });
})();
