// Poll the counts while messages leave; reload once to show the report when all are done.
(function () {
  var box = document.getElementById("progress-box");
  if (box.dataset.done === "1") return;
  var bar = document.getElementById("progress-bar"), text = document.getElementById("progress-text");
  function tick() {
    fetch(box.dataset.statusUrl, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (s) {
        bar.style.width = s.percent + "%"; bar.textContent = s.percent + " %";
        bar.parentElement.setAttribute("aria-valuenow", s.percent);
        text.textContent = s.done ? gettext("Envoi terminé.") : (s.deferred_text ? s.deferred_text :
          interpolate(gettext("Envoi en cours… %(done)s / %(total)s traités."), { done: s.total - s.waiting, total: s.total }, true));
        if (s.done) { window.location.reload(); } else { setTimeout(tick, 1000); }
      })
      .catch(function () { setTimeout(tick, 3000); });
  }
  setTimeout(tick, 500);
})();
