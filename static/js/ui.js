// Small behaviours declared in the markup with data- attributes, so that no page needs an inline
// script or an on...= handler (the Content-Security-Policy allows scripts from 'self' only).
//   <form data-confirm="Supprimer… ?">       asks before submitting
//   <input data-autosubmit>                   submits its form when changed
//   <button data-print> / <button data-close> prints / closes the window
//   <a href="fallback" data-history-back>     goes back one page (the link is the fallback)
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches && form.matches("form[data-confirm]") && !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  }, true);
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field.matches && field.matches("[data-autosubmit]") && field.form) field.form.submit();
  });
  document.addEventListener("click", function (event) {
    var target = event.target.closest && event.target.closest("[data-print], [data-close], [data-history-back]");
    if (!target) return;
    if (target.hasAttribute("data-print")) {
      window.print();
    } else if (target.hasAttribute("data-close")) {
      window.close();
    } else if (window.history.length > 1) {
      event.preventDefault();
      window.history.back();
    }
  });
})();
