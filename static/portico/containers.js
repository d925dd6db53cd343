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

  // One server-sent event block ("event: x\ndata: {...}") as [name, data], or null for a comment.
  function parseEvent(block) {
    let name = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    return data.length ? [name, data.join("\n")] : null;
  }

  function setup(form) {
    const status = document.getElementById("log-status");
    const followButton = form.querySelector("[data-follow]");
    const stopButton = form.querySelector("[data-stop]");
    const downloadButton = form.querySelector("[data-download]");
    const max = parseInt(status.dataset.maxLines || "1000", 10);
    // The stream is read with fetch, not EventSource: EventSource hides the answer of a refused stream
    // (429: too many open streams, 404, 503), and the page must show its message.
    let controller = null;

    function stop(message, isError) {
      if (controller) {
        controller.abort();
        controller = null;
      }
      followButton.hidden = false;
      stopButton.hidden = true;
      status.classList.toggle("message-error", Boolean(isError));
      if (message) status.textContent = message;
    }

    function onLine(data, showTs, merged) {
      const box = document.getElementById("log-lines");
      const empty = box.querySelector("[data-testid=no-lines]");
      if (empty) empty.remove();
      const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 8;
      box.append(lineElement(data, showTs, merged));
      while (box.childElementCount > max) box.firstElementChild.remove();
      if (atBottom) box.scrollTop = box.scrollHeight;
    }

    async function follow(mine, showTs, merged) {
      const response = await fetch(followButton.dataset.follow, {
        headers: { Accept: "text/event-stream" },
        credentials: "same-origin",
        signal: mine.signal,
      });
      if (!response.ok) {
        const reason = (await response.text()).trim();
        stop(status.dataset.failed + (reason ? " " + reason : ""), true);
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const event = parseEvent(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
          if (!event) continue;
          if (event[0] === "line") onLine(JSON.parse(event[1]), showTs, merged);
          if (event[0] === "end") {
            stop(status.dataset.ended + " " + JSON.parse(event[1]).message, false);
            return;
          }
        }
      }
      if (controller === mine) stop(status.dataset.failed, true);
    }

    followButton.addEventListener("click", function () {
      if (controller) return;
      const showTs = form.querySelector("[name=timestamps]").checked;
      const merged = form.dataset.merged === "1";
      const mine = new AbortController();
      controller = mine;
      followButton.hidden = true;
      stopButton.hidden = false;
      status.classList.remove("message-error");
      status.textContent = status.dataset.following.replace("{n}", String(max));
      follow(mine, showTs, merged).catch(function () {
        if (controller === mine) stop(status.dataset.failed, true);
      });
    });
    stopButton.addEventListener("click", function () { stop("", false); });
    downloadButton.addEventListener("click", function () {
      const params = new URLSearchParams(new FormData(form));
      params.set("download", "1");
      window.location.href = form.action + "?" + params.toString();
    });
    window.addEventListener("pagehide", function () { stop("", false); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("log-form");
    if (form) setup(form);
  });
})();
