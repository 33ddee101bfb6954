/* Email account form: choosing a provider pre-fills host, port and security from the table of
   messaging.providers (rendered into the page as JSON); typing an address at a known provider's
   domain proposes that provider. */
(function () {
  "use strict";
  var data = document.getElementById("smtp-providers");
  var select = document.getElementById("id_provider");
  if (!data || !select) return;
  var providers = JSON.parse(data.textContent);
  var host = document.getElementById("id_smtp_host");
  var port = document.getElementById("id_smtp_port");
  var security = document.getElementById("id_security");
  var username = document.getElementById("id_username");
  var email = document.getElementById("id_email");
  var note = document.getElementById("provider-note");

  function apply(key) {
    var p = providers[key];
    if (!p) { note.hidden = true; return; }
    host.value = p.host;
    port.value = p.port;
    security.value = p.security;
    if (p.auth && !username.value && email.value) username.value = email.value;
    note.textContent = "Réglages de " + p.label + " : " + p.host + ", port " + p.port + ", sécurité " +
      security.options[security.selectedIndex].text + (p.auth ? ", authentification requise." : ".");
    note.hidden = false;
  }

  select.addEventListener("change", function () { apply(select.value); });
  email.addEventListener("change", function () {
    if (select.value || host.value) return;
    var domain = (email.value.split("@")[1] || "").trim().toLowerCase();
    Object.keys(providers).some(function (key) {
      if (providers[key].domains.indexOf(domain) >= 0) {
        select.value = key;
        apply(key);
        return true;
      }
      return false;
    });
  });
})();
