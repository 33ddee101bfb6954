/* Email account form: choosing a provider pre-fills host, port and security from the table of
   messaging.providers (rendered into the page as JSON); typing an address at a known provider's
   domain proposes that provider. Gmail and Outlook want an application password: their note is
   shown as soon as one of their servers is chosen or typed. */
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
  var appNote = document.getElementById("app-password-note");

  function byHost(value) {
    value = (value || "").trim().toLowerCase();
    var found = null;
    Object.keys(providers).some(function (key) {
      var p = providers[key];
      if (value && (p.host === value || p.other_hosts.indexOf(value) >= 0)) { found = p; return true; }
      return false;
    });
    return found;
  }

  function showAppNote() {
    var p = byHost(host.value);
    appNote.textContent = p && p.app_password ? p.app_password : "";
    appNote.hidden = !(p && p.app_password);
  }

  function apply(key) {
    var p = providers[key];
    if (!p) { note.hidden = true; showAppNote(); return; }
    host.value = p.host;
    port.value = p.port;
    security.value = p.security;
    if (p.auth && !username.value && email.value) username.value = email.value;
    note.textContent = interpolate(
      p.auth ? gettext("Réglages de %(label)s : %(host)s, port %(port)s, sécurité %(security)s, authentification requise.")
        : gettext("Réglages de %(label)s : %(host)s, port %(port)s, sécurité %(security)s."),
      { label: p.label, host: p.host, port: p.port, security: security.options[security.selectedIndex].text }, true);
    note.hidden = false;
    showAppNote();
  }

  select.addEventListener("change", function () { apply(select.value); });
  host.addEventListener("input", showAppNote);
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
