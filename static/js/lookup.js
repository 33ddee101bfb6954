// Search-as-you-type pickers (patients.forms.LookupWidget): the text box asks the server for
// matches, a click or Enter on a match puts its id in the hidden input. Typing again clears the
// choice, so the form never sends an id that does not match the name shown.
(function () {
  "use strict";

  function setup(root) {
    const input = root.querySelector(".lookup-input");
    const hidden = root.querySelector(".lookup-value");
    const list = root.querySelector(".lookup-results");
    const url = root.dataset.lookupUrl;
    let timer = null;
    let active = -1;
    let request = 0;

    function close() {
      list.hidden = true;
      list.innerHTML = "";
      input.setAttribute("aria-expanded", "false");
      active = -1;
    }

    function choose(item) {
      hidden.value = item.dataset.id;
      input.value = item.dataset.label;
      close();
      root.dispatchEvent(new CustomEvent("lookup:chosen", { bubbles: true, detail: { id: item.dataset.id } }));
    }

    function highlight(index) {
      const items = list.querySelectorAll(".list-group-item");
      items.forEach((el, i) => el.classList.toggle("active", i === index));
      active = index;
    }

    function show(results) {
      list.innerHTML = "";
      if (!results.length) {
        const empty = document.createElement("div");
        empty.className = "list-group-item text-muted small";
        empty.textContent = gettext("Aucun résultat");
        list.appendChild(empty);
      }
      results.forEach((r) => {
        const item = document.createElement("button");
        item.type = "button";
        item.className = "list-group-item list-group-item-action";
        item.setAttribute("role", "option");
        item.dataset.id = r.id;
        item.dataset.label = r.label;
        const name = document.createElement("span");
        name.textContent = r.label;
        item.appendChild(name);
        if (r.detail) {
          const detail = document.createElement("small");
          detail.className = "text-muted ms-2";
          detail.textContent = r.detail;
          item.appendChild(detail);
        }
        item.addEventListener("mousedown", (e) => e.preventDefault());
        item.addEventListener("click", () => choose(item));
        list.appendChild(item);
      });
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      active = -1;
    }

    input.addEventListener("input", () => {
      hidden.value = "";
      clearTimeout(timer);
      const q = input.value.trim();
      if (q.length < 2) { close(); return; }
      timer = setTimeout(() => {
        const mine = ++request;
        fetch(url + "?q=" + encodeURIComponent(q), { headers: { Accept: "application/json" }, credentials: "same-origin" })
          .then((r) => (r.ok ? r.json() : { results: [] }))
          .then((data) => { if (mine === request) show(data.results || []); })
          .catch(() => close());
      }, 200);
    });

    input.addEventListener("keydown", (e) => {
      const items = list.querySelectorAll("button.list-group-item");
      if (list.hidden || !items.length) return;
      if (e.key === "ArrowDown") { e.preventDefault(); highlight(Math.min(active + 1, items.length - 1)); }
      else if (e.key === "ArrowUp") { e.preventDefault(); highlight(Math.max(active - 1, 0)); }
      else if (e.key === "Enter") { e.preventDefault(); choose(items[Math.max(active, 0)]); }
      else if (e.key === "Escape") { close(); }
    });

    input.addEventListener("blur", () => setTimeout(close, 150));
  }

  document.querySelectorAll(".lookup[data-lookup-url]").forEach(setup);
})();
