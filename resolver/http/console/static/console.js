// idnode web console: small helpers, no framework. Loaded with `defer` from /console/static/ (CSP script-src 'self').
"use strict";
(function () {
  // Show the browser's own validation message next to the field (in addition to the browser's bubble),
  // so the error stays visible and is announced; the server validates again and renders the same place.
  function showFieldError(input) {
    var id = input.id ? input.id + "-error" : "";
    if (!id) return;
    var box = document.getElementById(id);
    if (!box) {
      box = document.createElement("p");
      box.id = id;
      box.className = "field-error";
      box.setAttribute("role", "alert");
      input.insertAdjacentElement("afterend", box);
      var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      if (described.indexOf(id) < 0) described.push(id);
      input.setAttribute("aria-describedby", described.join(" "));
    }
    box.textContent = input.validationMessage;
    input.setAttribute("aria-invalid", input.validationMessage ? "true" : "false");
  }
  document.addEventListener("invalid", function (event) {
    if (event.target && event.target.matches && event.target.matches("input, select, textarea")) {
      showFieldError(event.target);
    }
  }, true);
  document.addEventListener("input", function (event) {
    var input = event.target;
    if (input && input.getAttribute && input.getAttribute("aria-invalid") === "true" && input.checkValidity()) {
      showFieldError(input);
    }
  });
  // Buttons with data-copy="<element id>" copy that element's text (the new token, shown once).
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy]") : null;
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (source && navigator.clipboard) {
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        button.setAttribute("data-copied", "true");
      });
    }
  });
})();
