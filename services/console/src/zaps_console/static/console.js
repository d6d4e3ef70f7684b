// The run page follows a run that is still going: it asks the console's API for the run's status every second
// and reloads the page when the status changes, so a replayed run is seen finishing without touching anything.
(function () {
  "use strict";
  var badge = document.getElementById("run-status");
  if (!badge || badge.dataset.terminal === "yes") {
    return;
  }
  var url = badge.dataset.statusUrl;
  var known = badge.dataset.status;
  var checks = 0;
  var maxChecks = 900; // 15 minutes: a run that takes longer can be reloaded by hand

  function check() {
    checks += 1;
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 401) {
          window.location.reload(); // the session ended: the reload leads to the sign-in page
          return null;
        }
        return response.ok ? response.json() : null;
      })
      .then(function (run) {
        if (run && run.status !== known) {
          window.location.replace(window.location.pathname); // drop ?notice=…: the page shows the new state
          return;
        }
        if (checks < maxChecks) {
          window.setTimeout(check, 1000);
        }
      })
      .catch(function () {
        if (checks < maxChecks) {
          window.setTimeout(check, 3000);
        }
      });
  }

  window.setTimeout(check, 1000);
})();
