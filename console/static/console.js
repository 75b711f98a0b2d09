// chainlog console: the verify page's progress. Without this script the
// page still works: reload it to see the progress and the report.
"use strict";
(function () {
  var box = document.getElementById("progress");
  if (!box || box.dataset.running !== "true") {
    return;
  }
  var rows = document.getElementById("rows");
  var bar = box.querySelector("progress");
  function poll() {
    fetch("/verify/status", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (!s.running) {
          window.location.reload();
          return;
        }
        if (rows) { rows.textContent = s.rows.toLocaleString("en-US"); }
        if (bar) { bar.value = s.percent; bar.textContent = s.percent + "%"; }
        setTimeout(poll, 500);
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 300);
})();
