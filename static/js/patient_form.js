// The "Responsables" tab: show only what the chosen mode needs (the picker for an existing
// guardian, the form for a new one). Without JavaScript everything stays visible and the server
// ignores what the mode does not use.
(function () {
  "use strict";
  document.querySelectorAll("[data-guardian-choice]").forEach((box) => {
    const radios = box.querySelectorAll("input[type=radio][name$='-mode']");
    const existing = box.querySelector("[data-guardian-existing]");
    const created = box.querySelector("[data-guardian-new]");
    function sync() {
      const checked = box.querySelector("input[type=radio][name$='-mode']:checked");
      const mode = checked ? checked.value : "self";
      if (existing) existing.hidden = mode !== "existing";
      if (created) created.hidden = mode !== "new";
    }
    radios.forEach((r) => r.addEventListener("change", sync));
    sync();
  });
})();

// "Ajouter un correspondant": one more formset row from the empty form (Django's __prefix__).
(function () {
  "use strict";
  document.querySelectorAll("[data-formset-add]").forEach((button) => {
    const prefix = button.dataset.formsetAdd;
    const total = document.getElementById(`id_${prefix}-TOTAL_FORMS`);
    const body = document.querySelector(`[data-formset="${prefix}"] tbody`);
    const template = document.getElementById(`${prefix}-empty-row`);
    button.addEventListener("click", () => {
      const index = Number(total.value);
      const row = template.content.firstElementChild.cloneNode(true);
      row.querySelectorAll("[name], [id], [for]").forEach((el) => {
        ["name", "id", "for"].forEach((attr) => {
          if (el.hasAttribute(attr)) el.setAttribute(attr, el.getAttribute(attr).replace("__prefix__", index));
        });
      });
      body.appendChild(row);
      total.value = index + 1;
      const select = row.querySelector("select");
      if (select) select.focus();
    });
  });
})();
