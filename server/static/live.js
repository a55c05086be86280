// Live dashboard (issue 13). The page is complete without this script; with it, the sections
// follow the server's snapshot through Server-Sent Events (/events). The server renders the
// HTML of each section (the same templates as the page) and sends only the sections that
// changed; this script swaps them in and shows the "as of" time. No other requests.
(function () {
  "use strict";
  var root = document.querySelector("[data-live-src]");
  if (!root || typeof window.EventSource === "undefined") {
    return;
  }
  var status = document.getElementById("live-status");
  var asOf = document.getElementById("as-of");
  var lastEvent = Date.now();

  function say(text, state) {
    if (status.getAttribute("data-state") !== state) {
      status.textContent = text;
      status.setAttribute("data-state", state);
    }
  }

  // Keyboard users keep their place: a focused link in a replaced section is focused again.
  function replace(el, html) {
    var active = document.activeElement;
    var href = active && el.contains(active) ? active.getAttribute("href") : null;
    el.innerHTML = html;
    if (href) {
      var links = el.querySelectorAll("a");
      for (var i = 0; i < links.length; i++) {
        if (links[i].getAttribute("href") === href) {
          links[i].focus();
          break;
        }
      }
    }
  }

  function apply(data) {
    var sections = data.sections || {};
    Object.keys(sections).forEach(function (id) {
      var el = document.getElementById(id);
      var section = sections[id];
      if (el && el.getAttribute("data-version") !== section.v) {
        replace(el, section.html);
        el.setAttribute("data-version", section.v);
      }
    });
    asOf.textContent = data.as_of_text;
    asOf.setAttribute("datetime", data.as_of);
  }

  var source = new EventSource(root.getAttribute("data-live-src"));
  source.addEventListener("snapshot", function (event) {
    lastEvent = Date.now();
    var data;
    try {
      data = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    apply(data);
    say("自動更新中", "live");
  });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) {
      say("自動更新が止まりました（ログインの有効期限が切れた可能性があります）。ページを再読み込みしてください", "stopped");
    } else {
      say("サーバに再接続しています…", "reconnecting");
    }
  });
  // Snapshots arrive every few seconds; a long pause means the server is not answering.
  window.setInterval(function () {
    if (source.readyState === EventSource.OPEN && Date.now() - lastEvent > 60000) {
      say("更新が届いていません。表示は上の時刻の状態です", "late");
    }
  }, 10000);
})();
