/* Live SMS counter under an SMS text, computed exactly as messaging.sms.segments does on the
   server (the GSM-7 tables come from messaging.sms through the page, see sms-gsm-tables):
   GSM-7: 160 characters in one SMS, 153 per part beyond, extension characters count twice;
   anything outside GSM-7 forces UCS-2: 70, then 67 per part, characters outside the BMP (emoji)
   count twice; a part never splits an escape sequence or a surrogate pair.
   The characters that force UCS-2 are listed, with a one-click replacement by their GSM-7
   equivalents (messaging.sms.to_gsm on the server). */
(function () {
  "use strict";

  function readJson(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  var tables = readJson("sms-gsm-tables");
  var config = readJson("sms-counter-config") || {};
  if (!tables) return;
  var BASIC = new Set(Array.from(tables.basic));
  var EXTENSION = new Set(Array.from(tables.extension));
  var LIMITS = tables.limits;

  function countParts(sizes, single, multi) {
    var total = sizes.reduce(function (a, b) { return a + b; }, 0);
    if (total === 0) return 0;
    if (total <= single) return 1;
    var parts = 1, used = 0;
    sizes.forEach(function (size) {
      if (used + size > multi) { parts += 1; used = 0; }
      used += size;
    });
    return parts;
  }

  function segments(text) {
    var chars = Array.from(text || ""); // code points, like Python's str
    var ucs2 = [];
    chars.forEach(function (c) {
      if (!BASIC.has(c) && !EXTENSION.has(c) && ucs2.indexOf(c) < 0) ucs2.push(c);
    });
    var gsm = ucs2.length === 0;
    var sizes = chars.map(function (c) {
      if (gsm) return EXTENSION.has(c) ? 2 : 1;
      return c.codePointAt(0) > 0xFFFF ? 2 : 1;
    });
    var single = gsm ? LIMITS.gsm_single : LIMITS.ucs2_single;
    var multi = gsm ? LIMITS.gsm_multi : LIMITS.ucs2_multi;
    return {
      encoding: gsm ? "GSM-7" : "UCS-2",
      length: sizes.reduce(function (a, b) { return a + b; }, 0),
      parts: countParts(sizes, single, multi),
      ucs2_chars: ucs2,
    };
  }
  window.SmsCounter = { segments: segments };

  var box = document.getElementById("sms-counter");
  if (!box) return;
  var field = document.getElementById(box.dataset.for);
  var part = function (name) { return box.querySelector('[data-counter="' + name + '"]'); };

  function describe(c) {
    if (c === "\u00a0") return gettext("espace insécable");
    if (c === "\u202f") return gettext("espace fine insécable");
    if (c === "\t") return gettext("tabulation");
    return c;
  }

  // The cost estimate (messaging.cost): the price of one SMS part set for the configured gateway
  // (config.price, a decimal string, absent when none is set) times the parts, per recipient and
  // for the ticked recipients of the form (config.recipients_selector), in euros written the way
  // the page's language writes them ("0,07 €" / "€0.07").
  var lang = document.documentElement.lang || "fr";
  var euros = new Intl.NumberFormat(lang === "fr" ? "fr-FR" : lang, { style: "currency", currency: "EUR", minimumFractionDigits: 2, maximumFractionDigits: 2 });
  function updateCost(parts) {
    var cost = part("cost");
    if (!cost) return;
    var ticked = config.recipients_selector && field.form
      ? field.form.querySelectorAll(config.recipients_selector + ":checked").length : 1;
    var total = parts * ticked;
    var price = config.price ? parseFloat(config.price) : NaN;
    var recipients = interpolate(ngettext("%(count)s destinataire", "%(count)s destinataires", ticked), { count: ticked }, true);
    var text;
    if (isNaN(price)) {
      text = interpolate(gettext("%(sms)s SMS pour %(recipients)s"), { sms: total, recipients: recipients }, true);
    } else {
      text = interpolate(gettext("≈ %(each)s par destinataire · ≈ %(total)s pour %(sms)s SMS (%(recipients)s)"), {
        each: euros.format(price * parts), total: euros.format(price * total), sms: total, recipients: recipients,
      }, true);
    }
    cost.textContent = text;
  }

  function update() {
    var s = segments(field.value);
    updateCost(s.parts);
    part("length").textContent = s.length;
    part("encoding").textContent = s.encoding;
    part("encoding").classList.toggle("is-ucs2", s.encoding === "UCS-2");
    part("parts").textContent = s.parts;
    // The warning follows the real number of parts (70 characters make 2 SMS in UCS-2).
    part("over160").hidden = !(config.warn_over_160 && s.parts > 1);
    var partsWarning = part("parts-warning");
    if (partsWarning) partsWarning.textContent = s.parts;
    var tooLong = part("too-long");
    // messaging.sms.MAX_SMS_CHARS: the gateway refuses longer bodies.
    if (tooLong) tooLong.hidden = Array.from(field.value || "").length <= (tables.max_chars || 1600);
    part("ucs2").hidden = s.ucs2_chars.length === 0;
    var list = part("ucs2-list");
    list.replaceChildren.apply(list, s.ucs2_chars.map(function (c) {
      var mark = document.createElement("mark");
      mark.className = "ucs2-char";
      mark.textContent = describe(c);
      return mark;
    }));
  }

  function csrfToken() {
    var input = field.form && field.form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  part("replace").addEventListener("click", function () {
    fetch(config.to_gsm_url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ text: field.value }),
    })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (typeof data.text !== "string") return;
        field.value = data.text;
        field.dispatchEvent(new Event("input", { bubbles: true }));
        field.focus();
      });
  });

  field.addEventListener("input", update);
  if (config.recipients_selector && field.form) {
    field.form.addEventListener("change", function (event) {
      if (event.target.matches && event.target.matches(config.recipients_selector)) update();
    });
  }
  update();
})();
