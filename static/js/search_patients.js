// The campaign button sends the same ticked rows as the mass-mailing buttons.
document.getElementById("campaign-form") && document.getElementById("campaign-form").addEventListener("submit", function (e) {
  var form = e.target;
  form.querySelectorAll("input[name=patient_ids]").forEach(function (i) { i.remove(); });
  document.querySelectorAll("input.row-check:checked").forEach(function (b) {
    var i = document.createElement("input"); i.type = "hidden"; i.name = "patient_ids"; i.value = b.value; form.appendChild(i);
  });
});
