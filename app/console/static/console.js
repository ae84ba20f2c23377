// Refresh the page every 30 s while nobody is using it: no form focused, no details open.
(function () {
  var REFRESH_MS = 30000;
  setInterval(function () {
    var busy = document.activeElement && document.activeElement.closest("form");
    var reading = document.querySelector("details[open]");
    if (!busy && !reading && document.visibilityState === "visible") {
      window.location.reload();
    }
  }, REFRESH_MS);
})();
