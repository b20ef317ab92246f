// The dashboard's live "expires in": counts down each <time data-expires-at="unix s">.
// The server's clock is the reference (data-server-now on the page), so a wrong clock on
// the merchant's computer does not move the countdown. No inline script: the CSP forbids it.
(function () {
  "use strict";
  var page = document.querySelector("[data-server-now]");
  if (!page) { return; }
  var skew = Number(page.getAttribute("data-server-now")) * 1000 - Date.now();
  var clocks = Array.prototype.slice.call(document.querySelectorAll("[data-expires-at]"));
  if (!clocks.length) { return; }

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function label(seconds) {
    if (seconds <= 0) { return "expired"; }
    var minutes = Math.floor(seconds / 60);
    if (minutes >= 60) { return Math.floor(minutes / 60) + " h " + pad(minutes % 60) + " min"; }
    return minutes + " min " + pad(seconds % 60) + " s";
  }

  function tick() {
    var now = Date.now() + skew;
    clocks.forEach(function (clock) {
      var left = Math.floor((Number(clock.getAttribute("data-expires-at")) * 1000 - now) / 1000);
      clock.textContent = label(left);
      clock.classList.toggle("urgent", left > 0 && left < 600);
      clock.classList.toggle("expired", left <= 0);
    });
  }

  tick();
  window.setInterval(tick, 1000);
})();
