/* Transplant pages: a keyboard-wedge scanner types a code and Enter. In a form with several scan fields (the
 * bag, then the dry shipper), Enter in a [data-scan-next] field moves to the next field instead of sending the
 * form half filled; Enter in the last field sends it. No inline scripts: the CSP forbids them. */
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    var field = event.target;
    if (event.key !== "Enter" || !field.hasAttribute || !field.hasAttribute("data-scan-next")) { return; }
    var form = field.form;
    if (!form) { return; }
    var fields = Array.prototype.filter.call(form.elements, function (el) {
      return !el.disabled && el.type !== "hidden" && el.type !== "submit" && el.tagName !== "FIELDSET";
    });
    var next = fields[fields.indexOf(field) + 1];
    if (next) { event.preventDefault(); next.focus(); }
  });
})();
/* After a refusal the scan field comes back holding the wrong code: select it, so the next scan replaces it. */
(function () {
  "use strict";
  var field = document.querySelector("[data-scan-target][autofocus]");
  if (field && field.value && document.querySelector(".errornote")) { field.focus(); field.select(); }
})();
