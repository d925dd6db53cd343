// Live logs: follow a container (or a domain) over server-sent events, keep a bounded number of lines,
// and build every line with textContent (log text is untrusted and never parsed as HTML).
(function () {
  "use strict";

  function lineElement(data, showTs, merged) {
    const div = document.createElement("div");
    div.className = "line " + (data.stream === "stderr" ? "stderr" : "stdout");
    if (showTs) {
      const ts = document.createElement("span");
      ts.className = "ts";
      ts.textContent = data.ts;
      div.append(ts, " ");
    }
    if (merged && data.container) {
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = data.container;
      div.append(who, " ");
    }
    if (data.stream === "stderr") {
      const tag = document.createElement("span");
      tag.className = "tag";
      tag.textContent = "err";
      div.append(tag, " ");
    }
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = data.text;
    div.append(text);
    return div;
  }

  function setup(form) {
    const status = document.getElementById("log-status");
    const followButton = form.querySelector("[data-follow]");
    const stopButton = form.querySelector("[data-stop]");
    const downloadButton = form.querySelector("[data-download]");
    const max = parseInt(status.dataset.maxLines || "1000", 10);
    let source = null;

    function stop(message) {
      if (source) {
        source.close();
        source = null;
      }
      followButton.hidden = false;
      stopButton.hidden = true;
      if (message) status.textContent = message;
    }

    followButton.addEventListener("click", function () {
      if (source) return;
      const showTs = form.querySelector("[name=timestamps]").checked;
      const merged = form.dataset.merged === "1";
      source = new EventSource(followButton.dataset.follow);
      followButton.hidden = true;
      stopButton.hidden = false;
      status.textContent = status.dataset.following.replace("{n}", String(max));
      source.addEventListener("line", function (event) {
        const box = document.getElementById("log-lines");
        const empty = box.querySelector("[data-testid=no-lines]");
        if (empty) empty.remove();
        const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 8;
        box.append(lineElement(JSON.parse(event.data), showTs, merged));
        while (box.childElementCount > max) box.firstElementChild.remove();
        if (atBottom) box.scrollTop = box.scrollHeight;
      });
      source.addEventListener("end", function (event) {
        stop(status.dataset.ended + " " + JSON.parse(event.data).message);
      });
      source.onerror = function () {
        if (source) stop(status.dataset.failed);
      };
    });
    stopButton.addEventListener("click", function () { stop(""); });
    downloadButton.addEventListener("click", function () {
      const params = new URLSearchParams(new FormData(form));
      params.set("download", "1");
      window.location.href = form.action + "?" + params.toString();
    });
    window.addEventListener("pagehide", function () { stop(""); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("log-form");
    if (form) setup(form);
  });
})();
