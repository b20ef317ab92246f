// The dashboard's live "expires in": counts down each <time data-expires-at="unix s">.
// The server's clock is the reference (data-server-now on the page), so a wrong clock on
// the merchant's computer does not move the countdown. Its words come from the page, in
// the reader's language (data-countdown-*). No inline script: the CSP forbids it.
(function () {
  "use strict";
  var page = document.querySelector("[data-server-now]");
  if (!page) { return; }
  var words = {expired: page.getAttribute("data-countdown-expired"),
               hours: page.getAttribute("data-countdown-hours"),
               minutes: page.getAttribute("data-countdown-minutes")};
  var skew = Number(page.getAttribute("data-server-now")) * 1000 - Date.now();
  var clocks = Array.prototype.slice.call(document.querySelectorAll("[data-expires-at]"));
  if (!clocks.length) { return; }

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function fill(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (all, name) { return values[name]; });
  }

  function label(seconds) {
    if (seconds <= 0) { return words.expired; }
    var minutes = Math.floor(seconds / 60);
    if (minutes >= 60) {
      return fill(words.hours, {hours: Math.floor(minutes / 60), minutes: pad(minutes % 60)});
    }
    return fill(words.minutes, {minutes: minutes, seconds: pad(seconds % 60)});
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
