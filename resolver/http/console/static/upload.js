// Bulk upload (console/upload.py): send the form with fetch, show the streamed progress, then the result and a
// download of the rejected rows. Without this script the form posts normally and the result page comes back.
"use strict";
(function () {
  var form = document.getElementById("upload-form");
  if (!form || !window.fetch || !window.TextDecoder || !window.FormData || !window.Blob || !window.URL) return;
  var errorBox = document.getElementById("upload-error");
  var progress = document.getElementById("upload-progress");
  var bar = document.getElementById("upload-bar");
  var count = document.getElementById("upload-count");
  var result = document.getElementById("upload-result");
  var button = form.querySelector("button[type=submit]");

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
  }

  function failed(reason) {
    showError(errorBox.getAttribute("data-failed").replace("{reason}", reason));
  }

  function showCount(processed, total) {
    bar.max = Math.max(total, 1);
    bar.value = processed;
    count.textContent = count.getAttribute("data-text")
      .replace("{processed}", String(processed)).replace("{total}", String(total));
  }

  function cell(row, text, className) {
    var td = document.createElement("td");
    td.className = className;
    td.textContent = String(text);  // text, never markup: handles and reasons come from the uploaded file
    row.appendChild(td);
  }

  function showResult(done) {
    ["total", "created", "repeats", "rejected"].forEach(function (name) {
      result.querySelector('[data-count="' + name + '"]').textContent = String(done[name]);
    });
    var body = document.getElementById("upload-rows");
    body.textContent = "";
    done.rows.forEach(function (r) {
      var row = document.createElement("tr");
      cell(row, r.row, "num");
      cell(row, r.handle, "data");
      cell(row, r.code, "num");
      cell(row, r.reason, "data");
      body.appendChild(row);
    });
    var link = document.getElementById("upload-report");
    if (link.href.indexOf("blob:") === 0) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([done.report], { type: "text/csv;charset=utf-8" }));
    document.getElementById("upload-rejected").hidden = done.rows.length === 0;
    document.getElementById("upload-all-ok").hidden = done.rows.length !== 0;
    result.hidden = false;
    document.getElementById("upload-result-heading").focus();
  }

  async function send() {
    var response = await fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { "Accept": "application/x-ndjson", "X-CSRF-Token": form.elements["csrf_token"].value },
      credentials: "same-origin",
    });
    if (response.redirected) {  // the session ended: the console sends us to the sign-in page
      window.location.assign(response.url);
      return;
    }
    if ((response.headers.get("Content-Type") || "").indexOf("application/x-ndjson") !== 0) {
      var message = "";
      try {
        message = (await response.json()).error || "";
      } catch (e) {
        message = "";
      }
      progress.hidden = true;
      if (message) showError(message);
      else failed(response.status + " " + response.statusText);
      return;
    }
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    var done = null;
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      var lines = buffer.split("\n");
      buffer = lines.pop();
      lines.forEach(function (line) {
        if (!line.trim()) return;
        var message = JSON.parse(line);
        if (message.done) done = message;
        else showCount(message.processed || 0, message.total);
      });
    }
    if (done === null) {
      showError(errorBox.getAttribute("data-interrupted"));
      return;
    }
    showCount(done.processed, done.total);
    showResult(done);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var file = form.elements["file"].files[0];
    if (file && file.size > Number(form.getAttribute("data-max-bytes"))) {
      showError(errorBox.getAttribute("data-too-big"));
      return;
    }
    errorBox.hidden = true;
    result.hidden = true;
    progress.hidden = false;
    bar.removeAttribute("value");  // indeterminate until the first line says how many rows there are
    count.textContent = count.getAttribute("data-sending");
    button.disabled = true;
    send().catch(function (err) {
      failed(err && err.message ? err.message : String(err));
    }).finally(function () {
      button.disabled = false;
    });
  });
})();
