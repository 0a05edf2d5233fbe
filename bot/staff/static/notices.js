// A notice's page: its counts updated every 2 seconds from the small JSON endpoint while it is
// going out (plain polling; stops once the notice is done or cancelled).
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box) { return; }
  var url = box.getAttribute("data-url");
  if (box.getAttribute("data-open") !== "yes") { return; }  // done or cancelled: nothing moves
  function set(name, value) {
    var el = document.querySelector('[data-field="' + name + '"]');
    if (el) { el.textContent = String(value); }
  }
  function tick() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) {
        if (!p) { return; }
        ["status_label", "recipients", "sent", "failed", "remaining"].forEach(function (k) { set(k, p[k]); });
        set("rsvp_yes", p.rsvp.yes);
        set("rsvp_no", p.rsvp.no);
        var bar = document.querySelector('[data-field="bar"]');
        if (bar) { bar.max = Math.max(p.sent + p.failed + p.remaining, 1); bar.value = p.sent + p.failed; }
        if (p.status === "sending" || p.status === "scheduled") { setTimeout(tick, 2000); return; }
        // finished while the page was open: once more, whole, for the final report by reason
        if (box.getAttribute("data-open") === "yes") { window.location.reload(); }
      })
      .catch(function () { setTimeout(tick, 5000); });
  }
  setTimeout(tick, 2000);
}());
