// An ops action's progress page (templates/admin/payments/opsaction/change_form.html):
// fetches the page again every few seconds and swaps in only the parts that change (the
// status, the summary, each payment's result), so the focus and a screen reader's place
// stay where they are; #ops-progress is a role="status" region, read out politely. Stops
// when the action is finished. A static file: the CSP allows no inline script.
(function () {
  "use strict";
  var status = document.getElementById("ops-progress");
  if (!status || status.getAttribute("data-at-work") !== "1" || !window.fetch) { return; }
  var EVERY = 3000;
  var failures = 0;
  var CHANGING = [".field-progress .readonly", ".field-summary_display .readonly",
                  ".field-stop_display .readonly", ".field-finished .readonly",
                  "td.field-result_display", "td.field-finished"];
  var again = document.querySelector(".ops-check-again");

  function swap(fresh) {
    CHANGING.forEach(function (selector) {
      var now = document.querySelectorAll(selector);
      var next = fresh.querySelectorAll(selector);
      for (var i = 0; i < Math.min(now.length, next.length); i++) {
        if (now[i].innerHTML !== next[i].innerHTML) { now[i].innerHTML = next[i].innerHTML; }
      }
    });
  }

  function poll() {
    window.fetch(window.location.href, {credentials: "same-origin",
                                        headers: {"Accept": "text/html"}})
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var next = fresh.getElementById("ops-progress");
        if (!next) { throw {signedOut: true}; }
        failures = 0;
        swap(fresh);
        // Only a change is read out; the same words again would be announced again.
        if (status.textContent !== next.textContent) { status.innerHTML = next.innerHTML; }
        if (next.getAttribute("data-at-work") === "1") {
          window.setTimeout(poll, EVERY);
          return;
        }
        status.setAttribute("data-at-work", "0");
        var note = document.querySelector(".ops-at-work");
        if (note) { note.hidden = true; }
        var stop = document.querySelector(".ops-stop");  // nothing left to stop
        if (stop) { stop.hidden = true; }
      })
      .catch(function (error) {
        // Offered to the person: the plain link reloads (and shows a sign-in if that is
        // it). A network hiccup is tried again, more slowly; a signed-out page is not.
        if (again) { again.hidden = false; }
        failures += 1;
        if (!error.signedOut && failures < 5) { window.setTimeout(poll, EVERY * 3); }
      });
  }

  if (again) { again.hidden = true; }
  window.setTimeout(poll, EVERY);
})();
