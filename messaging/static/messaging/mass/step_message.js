// Mass mailing, message step: the category list filters the template list.
(function () {
  var cat = document.getElementById("category"), tpl = document.getElementById("template");
  cat.addEventListener("change", function () {
    tpl.querySelectorAll("optgroup").forEach(function (g) { g.hidden = cat.value && g.label !== cat.value; });
  });
})();
