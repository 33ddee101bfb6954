// Search result grids. The selection is kept on the server for every row of the search, not only
// the page shown: each click sends one small request (tick / untick a row or the rows of the
// page, "Tous", "Aucun": the ids in one comma-separated field) and
// the server answers the count. Requests leave one at a time, in the order of the clicks; the
// mass-mailing buttons wait for the last answer. Double-click opens the patient file.
(function () {
  "use strict";
  var grid = document.getElementById("results");
  if (!grid || !grid.dataset.selectionUrl) return;
  var boxes = function () { return grid.querySelectorAll("input.row-check"); };
  var counter = document.getElementById("selection-count");
  var error = document.getElementById("selection-error");
  var noun = grid.dataset.noun || "ligne";
  var plural = grid.dataset.plural || noun + "s";
  var total = parseInt(grid.dataset.total, 10) || 0;
  var selected = parseInt(grid.dataset.selected, 10) || 0;
  // On the grid itself: a role that may not send (no mailing form on the page) still ticks rows.
  var csrf = grid.dataset.csrf || "";
  var queue = Promise.resolve();
  var pending = 0;

  var pageBox = document.getElementById("select-page");

  function refresh() {
    var ticked = 0, all = boxes();
    all.forEach(function (b) { b.closest("tr").classList.toggle("table-active", b.checked); if (b.checked) ticked += 1; });
    if (pageBox) {
      pageBox.checked = all.length > 0 && ticked === all.length;
      pageBox.indeterminate = ticked > 0 && ticked < all.length;
    }
    if (counter) {
      counter.textContent = total + " " + (total > 1 ? plural : noun) + ", " +
        interpolate(ngettext("%s sélectionné", "%s sélectionnés", selected), [selected]);
    }
    document.querySelectorAll("[data-needs-selection]").forEach(function (btn) {
      btn.disabled = selected === 0 || pending > 0;
    });
  }

  function fail(text) {
    if (!error) return;
    error.textContent = text;
    error.hidden = false;
  }

  function send(action, ids) {
    pending += 1;
    refresh();
    var body = new URLSearchParams({ action: action, ids: (ids || []).join(",") });
    queue = queue.then(function () {
      return fetch(grid.dataset.selectionUrl, {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "X-CSRFToken": csrf },
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          if (!response.ok) throw new Error(data.error || gettext("La sélection n'a pas pu être enregistrée : rechargez la page."));
          selected = data.selected;
          total = data.total;
        });
      }).catch(function (e) {
        fail(e.message && e.message !== "Failed to fetch" ? e.message : gettext("La sélection n'a pas pu être enregistrée : rechargez la page."));
      }).then(function () { pending -= 1; refresh(); });
    });
  }

  function setAll(value) {
    boxes().forEach(function (b) { b.checked = value; });
    send(value ? "all" : "none");
  }
  var none = document.getElementById("select-none"), all = document.getElementById("select-all");
  if (none) none.addEventListener("click", function (e) { e.preventDefault(); setAll(false); });
  if (all) all.addEventListener("click", function (e) { e.preventDefault(); setAll(true); });
  if (pageBox) pageBox.addEventListener("change", function () {
    // The rows of this page only ("Tous" / "Aucun" are about every row of the search).
    var ids = [];
    boxes().forEach(function (b) { b.checked = pageBox.checked; ids.push(b.value); });
    send(pageBox.checked ? "tick" : "untick", ids);
  });
  grid.addEventListener("change", function (e) {
    var box = e.target;
    if (box.classList.contains("row-check")) send(box.checked ? "tick" : "untick", [box.value]);
  });
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
  // A form sent while a click is still on its way would start from the previous selection.
  document.querySelectorAll("#mass-form, #campaign-form").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (pending > 0) e.preventDefault();
    });
  });
  refresh();
})();
