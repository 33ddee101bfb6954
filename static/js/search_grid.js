// Search result grids: "Aucun / Tous", the live count of ticked rows, double-click opens the
// patient file, and the mass-mailing buttons send only the ticked rows.
(function () {
  "use strict";
  var grid = document.getElementById("results");
  if (!grid) return;
  var boxes = function () { return grid.querySelectorAll("input.row-check"); };
  var counter = document.getElementById("selection-count");
  var noun = grid.dataset.noun || "ligne";
  var plural = grid.dataset.plural || noun + "s";

  function refresh() {
    var all = boxes(), ticked = 0;
    all.forEach(function (b) { if (b.checked) ticked += 1; b.closest("tr").classList.toggle("table-active", b.checked); });
    if (counter) {
      counter.textContent = all.length + " " + (all.length > 1 ? plural : noun) + ", " + ticked + " sélectionné" + (ticked > 1 ? "s" : "");
    }
    document.querySelectorAll("[data-needs-selection]").forEach(function (btn) { btn.disabled = ticked === 0; });
  }

  function setAll(value) { boxes().forEach(function (b) { b.checked = value; }); refresh(); }
  var none = document.getElementById("select-none"), all = document.getElementById("select-all");
  if (none) none.addEventListener("click", function (e) { e.preventDefault(); setAll(false); });
  if (all) all.addEventListener("click", function (e) { e.preventDefault(); setAll(true); });
  grid.addEventListener("change", function (e) { if (e.target.classList.contains("row-check")) refresh(); });
  grid.addEventListener("dblclick", function (e) {
    var row = e.target.closest("tr[data-href]");
    if (row && e.target.tagName !== "INPUT") window.location.href = row.dataset.href;
  });
  var openFile = document.getElementById("open-file");
  if (openFile) openFile.addEventListener("click", function (e) {
    e.preventDefault();
    var first = Array.prototype.find.call(boxes(), function (b) { return b.checked; });
    if (first) window.location.href = first.closest("tr").dataset.href;
  });
  refresh();
})();
