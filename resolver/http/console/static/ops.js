// idnode console, operator pages: ask before a destructive form is sent (buttons with data-confirm="question").
"use strict";
(function () {
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var question = button && button.getAttribute ? button.getAttribute("data-confirm") : null;
    if (question && !window.confirm(question)) event.preventDefault();
  });
})();
