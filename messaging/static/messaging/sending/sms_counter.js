/* Live SMS counter (GSM-7 / UCS-2, 3GPP TS 23.038), the same rules as messaging/sms.py:
   GSM-7 160 then 153 per part, extension characters count twice; otherwise UCS-2 70 then 67,
   characters outside the BMP count twice. Usage: <textarea data-sms-counter="#target">. */
(function () {
  "use strict";
  var BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡" +
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXT = "\f^{}\\[~]|€";

  function segments(text) {
    var chars = Array.from(text || "");
    var gsm = chars.every(function (c) { return BASIC.indexOf(c) >= 0 || EXT.indexOf(c) >= 0; });
    var sizes = chars.map(function (c) {
      if (gsm) { return EXT.indexOf(c) >= 0 ? 2 : 1; }
      return c.codePointAt(0) > 0xffff ? 2 : 1;
    });
    var single = gsm ? 160 : 70, multi = gsm ? 153 : 67;
    var total = sizes.reduce(function (a, b) { return a + b; }, 0);
    var parts = 0;
    if (total > 0 && total <= single) { parts = 1; }
    else if (total > single) {
      parts = 1; var used = 0;
      sizes.forEach(function (s) { if (used + s > multi) { parts += 1; used = 0; } used += s; });
    }
    var ucs2 = gsm ? [] : chars.filter(function (c, i) {
      return BASIC.indexOf(c) < 0 && EXT.indexOf(c) < 0 && chars.indexOf(c) === i;
    });
    return { encoding: gsm ? "GSM-7" : "UCS-2", length: total, parts: parts, ucs2: ucs2 };
  }

  function attach(area) {
    var target = document.querySelector(area.getAttribute("data-sms-counter"));
    if (!target) { return; }
    function update() {
      var s = segments(area.value);
      var text = "Nb caractères : " + s.length + " – " + s.parts + " SMS";
      if (s.encoding === "UCS-2") {
        text += " (caractères spéciaux : " + s.ucs2.join(" ") + ")";
      }
      target.textContent = text;
      target.classList.toggle("text-danger", s.parts > 1);
    }
    area.addEventListener("input", update);
    area.addEventListener("sms:changed", update);
    update();
  }

  window.smsSegments = segments;
  document.querySelectorAll("[data-sms-counter]").forEach(attach);
})();
