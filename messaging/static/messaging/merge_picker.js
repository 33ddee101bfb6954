/* Merge-field picker: a modal to search the catalog by keyword or browse it by category, then
   insert the chosen code at the cursor of the field that opened it (a textarea, an input or a
   rich-text editor). Buttons opt in with data-merge-target="<id of the field>"; the rich-text
   editor's own toolbar button (rich_editor.js) sends a "merge-picker:open" event instead. */
(function () {
  "use strict";
  var modalEl = document.getElementById("merge-picker");
  if (!modalEl || !window.bootstrap) return;
  var url = modalEl.dataset.url;
  var search = document.getElementById("merge-search");
  var category = document.getElementById("merge-category");
  var results = document.getElementById("merge-results");
  var empty = document.getElementById("merge-empty");
  var modal = bootstrap.Modal.getOrCreateInstance(modalEl);
  var targetId = null;
  var pending = null;
  var timer = null;
  var requestNo = 0;

  // The rich-text editor (rich_editor.js) built on the textarea, if any.
  function editorFor(id) {
    var el = document.getElementById(id);
    return el && el.richEditor ? el.richEditor : null;
  }

  function insertInField(el, code) {
    var start = typeof el.selectionStart === "number" ? el.selectionStart : el.value.length;
    var end = typeof el.selectionEnd === "number" ? el.selectionEnd : start;
    el.value = el.value.slice(0, start) + code + el.value.slice(end);
    var caret = start + code.length;
    el.setSelectionRange(caret, caret);
    // The SMS counter (and anything else) listens to input events.
    el.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function insert(code) {
    var editor = editorFor(targetId);
    if (editor) {
      // At the editor's cursor (kept in its state while the dialog has the focus), as plain text;
      // the focus goes back to the editor once the dialog is gone (below).
      editor.commands.insertContent({ type: "text", text: code });
      return;
    }
    var el = document.getElementById(targetId);
    if (el) insertInField(el, code);
  }

  function choose(code) {
    // Hiding releases the modal's focus trap at once: a rich-text editor takes the focus back
    // now, so what staff type next follows the code; a plain field once the modal is gone.
    modal.hide();
    insert(code);
    var editor = editorFor(targetId);
    if (editor) editor.commands.focus();
    // Once the modal is gone, the focus goes back to the field, with the caret after the code.
    pending = targetId;
  }

  function row(field) {
    var tr = document.createElement("tr");
    tr.dataset.code = field.code;
    var code = document.createElement("td");
    var c = document.createElement("code");
    c.textContent = field.code;
    code.appendChild(c);
    var label = document.createElement("td");
    label.textContent = field.label;
    var cat = document.createElement("td");
    cat.className = "small text-muted";
    cat.textContent = field.category_label;
    var action = document.createElement("td");
    action.className = "text-end";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-sm btn-outline-primary merge-insert";
    button.textContent = gettext("Insérer");
    button.setAttribute("aria-label", interpolate(gettext("Insérer %s"), [field.code]));
    action.appendChild(button);
    tr.append(code, label, cat, action);
    return tr;
  }

  function load() {
    var params = new URLSearchParams({ q: search.value, category: category.value });
    var mine = ++requestNo;
    fetch(url + "?" + params.toString(), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (mine !== requestNo) return; // an older answer arriving late
        results.replaceChildren.apply(results, data.fields.map(row));
        empty.hidden = data.fields.length > 0;
      });
  }

  function open(id) {
    targetId = id;
    // Each opening starts from the whole catalog: a previous keyword would hide fields silently.
    search.value = "";
    category.value = "";
    modal.show();
  }

  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-merge-target]");
    if (opener) open(opener.dataset.mergeTarget);
  });
  document.addEventListener("merge-picker:open", function (event) {
    open(event.detail.target);
  });
  modalEl.addEventListener("shown.bs.modal", function () {
    search.focus();
    load();
  });
  modalEl.addEventListener("hidden.bs.modal", function () {
    if (pending === null) return;
    var editor = editorFor(pending);
    var field = document.getElementById(pending);
    pending = null;
    if (editor) editor.commands.focus();
    else if (field) field.focus();
  });
  search.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(load, 200);
  });
  search.addEventListener("keydown", function (event) {
    if (event.key === "Enter") {
      event.preventDefault();
      clearTimeout(timer);
      load();
    }
  });
  category.addEventListener("change", load);
  results.addEventListener("click", function (event) {
    var button = event.target.closest(".merge-insert");
    if (button) choose(button.closest("tr").dataset.code);
  });
  results.addEventListener("dblclick", function (event) {
    var tr = event.target.closest("tr");
    if (tr) choose(tr.dataset.code);
  });
})();
