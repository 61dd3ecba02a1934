// Times are rendered on the server in the site's zone (UTC by default). Rewrite the ones marked
// data-local into the reader's own zone; without JavaScript the server's text stays, zone named.
(function () {
  "use strict";
  var OPTIONS = {
    date: { year: "numeric", month: "2-digit", day: "2-digit" },
    datetime: {
      year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", timeZoneName: "short"
    },
    seconds: {
      year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
    }
  };
  var formatters = {};

  function formatter(style) {
    if (!formatters[style]) {
      formatters[style] = new Intl.DateTimeFormat(undefined, OPTIONS[style] || OPTIONS.datetime);
    }
    return formatters[style];
  }

  function localize(root) {
    if (!root || !root.querySelectorAll || typeof Intl === "undefined") {
      return;
    }
    var nodes = root.querySelectorAll("time[data-local]");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var instant = new Date(node.getAttribute("datetime"));
      if (isNaN(instant.getTime())) {
        continue;
      }
      try {
        node.textContent = formatter(node.getAttribute("data-local")).format(instant);
      } catch (error) {
        // An engine without this Intl option keeps the server's text.
      }
    }
  }

  document.addEventListener("DOMContentLoaded", function () { localize(document); });
  // Fragments swapped in by htmx (a decided item, the sync progress) carry new times.
  document.addEventListener("htmx:load", function (event) { localize(event.detail.elt); });
})();
