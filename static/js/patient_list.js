// The patient list: a click anywhere on a row opens the file, as staff expect from the reference
// product. Links inside the row keep their own behaviour (and keyboard use); a text selection
// (copying a phone number) does not navigate.
(function () {
  "use strict";
  var table = document.querySelector(".patient-table");
  if (!table) return;
  table.addEventListener("click", function (e) {
    var row = e.target.closest("tr[data-href]");
    if (!row || e.target.closest("a, button, input")) return;
    if (window.getSelection && String(window.getSelection()).length) return;
    if (e.ctrlKey || e.metaKey) {
      window.open(row.dataset.href, "_blank");
    } else {
      window.location.href = row.dataset.href;
    }
  });
})();
