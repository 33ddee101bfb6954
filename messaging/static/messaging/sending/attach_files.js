// The email window's "Joindre des fichiers": a file of a refused type or over the size limit is
// said at once, in French, and taken out of the choice, before the form leaves. A file over the
// whole request's limit would otherwise be refused by the server before the form is read, and
// the rest of the window (subject, text, recipients) would be lost. The server checks every
// file again (type, content, size): this only spares staff a round trip.
(function () {
  "use strict";
  var input = document.getElementById("id_fichiers");
  var error = document.getElementById("fichiers-browser-error");
  if (!input || !error) { return; }
  var maxBytes = parseInt(input.getAttribute("data-max-bytes"), 10) || 0;
  var maxLabel = input.getAttribute("data-max-label") || "";
  var accepted = (input.getAttribute("accept") || "").split(",").map(function (e) { return e.trim().toLowerCase(); });

  function extension(name) {
    var dot = name.lastIndexOf(".");
    return dot < 0 ? "" : name.slice(dot).toLowerCase();
  }

  input.addEventListener("change", function () {
    var problems = [];
    var kept = new DataTransfer();
    Array.prototype.forEach.call(input.files, function (file) {
      var ext = extension(file.name);
      if (accepted.indexOf(ext) < 0) {
        problems.push(interpolate(gettext("« %(name)s » : type de fichier refusé (%(ext)s)."), { name: file.name, ext: ext || gettext("sans extension") }, true));
      } else if (maxBytes && file.size > maxBytes) {
        problems.push(interpolate(gettext("« %(name)s » : le fichier dépasse la taille maximale de %(max)s pour une pièce jointe."), { name: file.name, max: maxLabel }, true));
      } else {
        kept.items.add(file);
      }
    });
    input.files = kept.files;
    error.textContent = problems.join(" ");
    error.hidden = problems.length === 0;
  });
})();
