/* The send window: category -> template pickers, server-side merge (the preview endpoint returns
   what compose_sms / compose_email give), and the email body in the templates pages' rich editor. */
(function () {
  "use strict";
  var form = document.getElementById("send-form");
  if (!form) { return; }
  var channel = form.getAttribute("data-channel");
  var category = document.getElementById("category");
  var template = document.getElementById("id_template");
  var appointment = document.getElementById("id_appointment");
  var warnings = document.getElementById("merge-warnings");
  var csrf = form.querySelector("[name=csrfmiddlewaretoken]").value;
  var bodyHtml = document.getElementById("id_body_html");

  // The email body is the templates pages' rich-text editor (rich_editor.js) once it is built on
  // the textarea, else the textarea itself. The editor copies its HTML into the textarea at each
  // change, so the textarea is what is read.
  function editorInstance() { return bodyHtml && bodyHtml.richEditor ? bodyHtml.richEditor : null; }
  function getHtml() { return bodyHtml.value; }
  function setHtml(html) { var ed = editorInstance(); if (ed) { ed.commands.setContent(html); } bodyHtml.value = html; }
  var signature = document.getElementById("id_signature");
  var signatures = {};
  var sigData = document.getElementById("signatures");
  if (sigData) { signatures = JSON.parse(sigData.textContent); }

  function filterTemplates() {
    var cat = category.value;
    Array.from(template.options).forEach(function (opt) {
      if (!opt.value) { return; }
      opt.hidden = cat !== "" && opt.getAttribute("data-category") !== cat;
    });
    if (template.selectedOptions.length && template.selectedOptions[0].hidden) { template.value = ""; }
  }

  function showWarnings(list) {
    warnings.textContent = "";
    (list || []).forEach(function (w) {
      var div = document.createElement("div");
      div.textContent = "⚠ " + w;
      warnings.appendChild(div);
    });
  }

  function merge(useTemplate) {
    var data = new FormData();
    data.append("channel", channel);
    data.append("appointment", appointment.value);
    if (useTemplate && template.value) { data.append("template", template.value); }
    if (channel === "sms") {
      data.append("body", document.getElementById("id_body").value);
    } else {
      data.append("subject", document.getElementById("id_subject").value);
      data.append("body_html", getHtml());
    }
    return fetch(form.getAttribute("data-preview-url"), {
      method: "POST", body: data, headers: { "X-CSRFToken": csrf }, credentials: "same-origin"
    }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    }).then(function (res) {
      showWarnings(res.warnings);
      // What this merge left empty, signed by the server: sending checks it (the merged text
      // no longer shows which codes were there).
      var check = document.getElementById("id_merge_check");
      if (check) { check.value = res.merge_check || ""; }
      if (res.accent) {
        // A name's accent alone makes this SMS longer (messaging.cost): said next to the warnings.
        var accent = document.createElement("div");
        accent.id = "accent-warning";
        accent.className = "text-warning-emphasis";
        accent.textContent = "⚠ " + res.accent;
        warnings.appendChild(accent);
      }
      if (channel === "sms") {
        var area = document.getElementById("id_body");
        area.value = res.text;
        area.dispatchEvent(new Event("input", { bubbles: true }));
      } else {
        document.getElementById("id_subject").value = res.subject;
        setHtml(res.html);
        if (useTemplate && res.account) { document.getElementById("id_account").value = res.account; }
        if (useTemplate && res.signature) { signature.value = res.signature; showSignature(); }
        var block = document.getElementById("attachments-block");
        var list = document.getElementById("attachments");
        list.textContent = "";
        (res.attachments || []).forEach(function (name) {
          var li = document.createElement("li"); li.textContent = name; list.appendChild(li);
        });
        block.hidden = !(res.attachments || []).length;
      }
    }).catch(function (err) {
      warnings.textContent = interpolate(gettext("La fusion a échoué (%s) : réessayez."), [err.message]);
    });
  }

  function showSignature() {
    var box = document.getElementById("signature-preview");
    if (!box) { return; }
    box.innerHTML = signatures[signature.value] || "<span class='text-muted'>" + gettext("Aucune") + "</span>";
  }

  category.addEventListener("change", filterTemplates);
  // An email type names its recipient (patient, guardian, correspondent): tick the first one
  // of that role who can receive it, instead of the others; nothing changes when nobody can.
  function preselectRole() {
    var opt = template.selectedOptions[0];
    var role = opt && opt.dataset.recipient;
    if (!role) { return; }
    var boxes = Array.from(document.querySelectorAll("#recipients input[name=recipients]"));
    var first = boxes.find(function (box) { return box.dataset.role === role; });
    if (!first) { return; }
    boxes.forEach(function (box) { box.checked = box === first; });
  }

  template.addEventListener("change", function () {
    preselectRole();
    if (template.value) { merge(true); }
  });
  appointment.addEventListener("change", function () { if (template.value) { merge(true); } });
  document.getElementById("merge-button").addEventListener("click", function () { merge(false); });

  if (bodyHtml) {
    signature.addEventListener("change", showSignature);
    showSignature();
  }
  filterTemplates();
})();
