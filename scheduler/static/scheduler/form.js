// Show only the settings the chosen periodicity and date mode use (the server ignores the rest).
(function () {
  function box(name) { return document.getElementById("div_id_" + name); }
  function show(name, visible) { const el = box(name); if (el) el.hidden = !visible; }
  function update() {
    const periodicity = document.getElementById("id_periodicity");
    const mode = document.getElementById("id_date_mode");
    const counting = document.getElementById("id_working_days");
    if (periodicity) {
      show("weekdays", periodicity.value === "weekdays");
      show("month_day", periodicity.value === "monthly");
    }
    if (mode) {
      const relative = mode.value === "relative";
      ["offset_from", "offset_to", "working_days"].forEach((n) => show(n, relative));
      ["fixed_from", "fixed_to"].forEach((n) => show(n, !relative));
    }
    const workingPeriod = periodicity && periodicity.value === "working_days";
    const workingCount = counting && counting.checked && (!mode || mode.value === "relative");
    show("skip_holidays", workingPeriod || workingCount);
  }
  ["id_periodicity", "id_date_mode", "id_working_days"].forEach((id) => {
    const el = document.getElementById(id);
    if (el) el.addEventListener("change", update);
  });
  update();
})();
