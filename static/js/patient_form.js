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
