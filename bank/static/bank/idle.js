/* StemBank idle timeout (bank.access decides; this page only mirrors its clock).
 * - A banner warns before the session ends for inactivity; "Stay signed in", or any key, click or scan,
 *   extends it (a keep-alive request). Keys and clicks while the page is in use keep it alive too, at most
 *   one request a minute.
 * - When the time is up the page asks the server first (another tab may have been in use), then signs out and
 *   goes to the login page, which brings the user back to this page afterwards. */
(function () {
  "use strict";
  var box = document.getElementById("idle-warning");
  var form = document.getElementById("idle-timeout-form");
  if (!box || !form || !window.fetch) return;
  var warnMs = Number(box.getAttribute("data-warning-seconds")) * 1000;
  var statusUrl = box.getAttribute("data-status-url");
  var keepaliveUrl = box.getAttribute("data-keepalive-url");
  var countdown = box.querySelector("[data-idle-countdown]");
  var stayButton = document.getElementById("idle-stay");
  var deadline = 0, warnTimer = null, endTimer = null, tick = null, lastPing = Date.now(), ending = false;

  function csrf() {
    var meta = document.querySelector("meta[name=csrf-token]");
    return meta ? meta.content : "";
  }
  function secondsLeft() { return Math.max(0, Math.ceil((deadline - Date.now()) / 1000)); }
  function stopTimers() { clearTimeout(warnTimer); clearTimeout(endTimer); clearInterval(tick); }
  function hide() { box.hidden = true; clearInterval(tick); }
  function show() {
    countdown.textContent = secondsLeft();
    box.hidden = false;
    clearInterval(tick);
    tick = setInterval(function () { countdown.textContent = secondsLeft(); }, 1000);
  }
  function schedule(seconds) {
    stopTimers();
    hide();
    deadline = Date.now() + seconds * 1000;
    warnTimer = setTimeout(show, Math.max(0, seconds * 1000 - warnMs));
    endTimer = setTimeout(check, seconds * 1000);
  }
  function end() {
    if (ending) return;
    ending = true;
    stopTimers();
    form.submit();
  }
  function json(response) { return response.json(); }
  function check() {
    fetch(statusUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(json)
      .then(function (data) {
        if (data.active && data.remaining_seconds > 2) schedule(data.remaining_seconds); else end();
      })
      .catch(end);
  }
  function stay() {
    lastPing = Date.now();
    fetch(keepaliveUrl, {method: "POST", credentials: "same-origin",
                         headers: {"X-CSRFToken": csrf(), "Accept": "application/json"}})
      .then(json)
      .then(function (data) { if (data.active) schedule(data.remaining_seconds); else end(); })
      .catch(function () { /* offline for a moment: the timer still runs and asks again at the end */ });
  }
  function activity() {
    if (ending) return;
    if (!box.hidden || Date.now() - lastPing > Math.min(60000, warnMs)) stay();
  }
  if (stayButton) stayButton.addEventListener("click", function (event) { event.stopPropagation(); stay(); });
  ["keydown", "pointerdown", "wheel", "touchstart"].forEach(function (type) {
    document.addEventListener(type, activity, {passive: true, capture: true});
  });
  schedule(Number(box.getAttribute("data-remaining-seconds")));
})();
