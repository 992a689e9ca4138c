/* Pick list: after each scan the panel is swapped; put the cursor back in the scan field. */
(function () {
  "use strict";
  document.body.addEventListener("htmx:afterSwap", function () {
    var field = document.querySelector("[autofocus-scan]");
    if (field) { field.value = ""; field.focus(); }
  });
})();
