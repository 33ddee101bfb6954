// A double click must not look like two sends: the server keeps one mailing per wizard anyway.
var sendForm = document.getElementById("send-form");
if (sendForm) sendForm.addEventListener("submit", function () {
  var b = document.getElementById("send-button"); setTimeout(function () { b.disabled = true; b.textContent = "Envoi…"; }, 0);
});
