// Campaign form: show the fields of the chosen channel only.
(function () {
  function sync() {
    var email = document.querySelector("input[name=channel]:checked").value === "email";
    document.querySelectorAll(".email-only").forEach(function (el) { el.hidden = !email; });
    document.querySelectorAll(".sms-only").forEach(function (el) { el.hidden = email; });
  }
  document.querySelectorAll("input[name=channel]").forEach(function (r) { r.addEventListener("change", sync); });
  sync();
})();
